"""Generated task files whose bytes depend only on their content: spreadsheets, documents, images.

A template describes a file as a :class:`Recipe` (a builder's name and its arguments: plain data), so building a
suite costs nothing until an instance's files are needed; the bytes are made once and kept in the cache.
openpyxl and python-docx stamp the save time into ``docProps/core.xml`` and on every zip entry;
:func:`freeze` pins both, so an instance's files are the same on every machine and every run.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RECIPES_VERSION = 1
"""Bump when a builder below changes its output: cached files made by the old code are then rebuilt."""

FIXED_TIME = "2024-01-01T00:00:00Z"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def freeze(data: bytes) -> bytes:
    """The same Office file with its timestamps pinned to :data:`FIXED_TIME`."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = [(name, archive.read(name)) for name in archive.namelist()]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            if name == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>" + FIXED_TIME.encode(),
                                 content)
            archive.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), content,
                             compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _saved(document: Any) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return freeze(buffer.getvalue())


def _workbook(rows: list[list[Any]]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    for row in rows:
        sheet.append(row)
    return _saved(book)


def _document(paragraphs: list[str]) -> bytes:
    import docx

    doc = docx.Document()
    for text in paragraphs:
        doc.add_paragraph(text)
    return _saved(doc)


def _png(color: list[int], size: list[int], text: str) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", tuple(size), tuple(color))
    if text:
        draw = ImageDraw.Draw(image)
        font = ImageFont.truetype(FONT, size[1] // 3)
        draw.text((size[0] // 2, size[1] // 2), text, fill=(255, 255, 255), font=font, anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


BUILDERS: dict[str, Callable[..., bytes]] = {"workbook": _workbook, "document": _document, "png": _png}


@dataclass(frozen=True)
class Recipe:
    """How to make one file: ``BUILDERS[builder](*args)``; ``args`` is JSON data, so it also keys the cache."""

    builder: str
    args: tuple[Any, ...]

    @property
    def digest(self) -> str:
        text = json.dumps([RECIPES_VERSION, self.builder, self.args], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def build(self) -> bytes:
        return BUILDERS[self.builder](*json.loads(json.dumps(self.args)))


def workbook(rows: list[list[Any]]) -> Recipe:
    """An .xlsx with one sheet, ``Sheet1``, holding ``rows`` from A1."""
    return Recipe("workbook", (rows,))


def document(paragraphs: list[str]) -> Recipe:
    """A .docx with one paragraph per string."""
    return Recipe("document", (paragraphs,))


def png(color: tuple[int, int, int], size: tuple[int, int] = (320, 240), text: str = "") -> Recipe:
    """A PNG filled with ``color``, with ``text`` drawn large in the middle when given."""
    return Recipe("png", (color, size, text))
