"""Metrics on packaged documents, with the rules of OSWorld's ``pdf.py``, ``chrome.py``, ``vscode.py`` and
``others.py``: a PDF's page count and pictures, EPUB books, ZIP archives.
"""

from __future__ import annotations

import difflib
import operator
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import lxml.html
import numpy as np
from pypdf import PdfReader

from step_envs.checkers.browser import pdf_text
from step_envs.checkers.general import rules_of, verdict
from step_envs.checkers.media import phash
from step_envs.checkers.registry import NO_RESULT, Score, metric, short

_RELATIONS = ("eq", "ne", "lt", "le", "gt", "ge")


@metric("check_pdf_pages")
def check_pdf_pages(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when the PDF's page count stands in ``rules["relation"]`` (eq, ne, lt, le, gt, ge) to
    ``rules["ref_value"]``."""
    rules = rules_of(rules, "{'relation': 'eq', 'ref_value': n}")
    relation, wanted = rules.get("relation"), rules.get("ref_value")
    if relation not in _RELATIONS:
        raise ValueError(f"rules['relation'] is {relation!r}; use one of {_RELATIONS}")
    if result is None:
        return NO_RESULT
    pages = len(PdfReader(result).pages)
    return verdict(getattr(operator, relation)(pages, wanted), f"{pages} pages", f"{pages} pages, not {relation} "
                   f"{wanted}")


HASH_BITS_APART = 5
"""Perceptual hashes at most this many bits apart show the same picture (OSWorld's threshold)."""


def pdf_pictures(path: str) -> list[np.ndarray]:
    """The perceptual hashes (:func:`~step_envs.checkers.media.phash`) of every picture embedded in a PDF, page by
    page."""
    return [phash(picture.image) for page in PdfReader(path).pages for picture in page.images
            if picture.image is not None]


@metric("compare_pdf_images")
def compare_pdf_images(result: str | None, expected: str | None, **options: Any) -> Score:
    """The share of the result's embedded pictures whose perceptual hash is within :data:`HASH_BITS_APART` bits of
    the expected PDF's picture at the same place; 0 when the counts differ, 1 when neither has a picture."""
    if result is None or expected is None:
        return NO_RESULT
    got, want = pdf_pictures(result), pdf_pictures(expected)
    if len(got) != len(want):
        return Score(0.0, f"{len(got)} pictures, the expected PDF has {len(want)}")
    if not got:
        return Score(1.0, "neither PDF holds a picture")
    alike = sum(int(np.count_nonzero(a != b)) <= HASH_BITS_APART for a, b in zip(got, want, strict=True))
    return Score(alike / len(got), f"{alike} of {len(got)} pictures alike")


def epub_parts(path: str) -> list[tuple[str, list[str]]]:
    """The parts of an EPUB that OSWorld compares, sorted by name, each as lines: ``toc.ncx`` without its
    ``navPoint`` lines, ``content.opf`` without its ``dc:identifier`` lines (both at the archive's root), and every
    ``.html`` file re-printed by lxml after its line breaks are removed. Not a ZIP file: no parts."""
    try:
        book = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        return []
    parts = []
    with book:
        for name in sorted(book.namelist()):
            text = book.read(name).decode("utf-8", errors="replace")
            if name in ("toc.ncx", "content.opf"):
                skip = "navPoint" if name == "toc.ncx" else "dc:identifier"
                parts.append((name, [line for line in text.splitlines() if skip not in line]))
            elif name.endswith(".html"):
                page = lxml.html.fromstring(text.replace("\n", "").replace("\r", "").encode())
                parts.append((name, lxml.html.tostring(page, pretty_print=True, encoding="unicode").splitlines()))
    return parts


@metric("compare_epub")
def compare_epub(result: str | None, expected: str | None, **options: Any) -> Score:
    """The mean, over the result's parts (:func:`epub_parts`) paired in name order with the expected book's, of
    their line similarity 2 M / T."""
    if result is None or expected is None:
        return NO_RESULT
    got, want = epub_parts(result), epub_parts(expected)
    if not got:
        return Score(0.0, f"{Path(result).name} has no book parts (not an EPUB?)")
    ratios = [difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
              for (_, a), (_, b) in zip(got, want, strict=False)]
    value = sum(ratios) / len(got)
    return Score(value, f"{len(got)} parts, {len(want)} expected, mean line similarity {value:.3f}")


PDF_TEXT_ALIKE = 0.95


@metric("compare_zip_files")
def compare_zip_files(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when both archives hold the same file names and every file is equal: PDFs by text (similarity 2 M / T at
    least :data:`PDF_TEXT_ALIKE`), other files byte for byte."""
    if result is None or expected is None:
        return NO_RESULT
    with zipfile.ZipFile(result) as got, zipfile.ZipFile(expected) as want, tempfile.TemporaryDirectory() as folder:
        names, wanted = set(got.namelist()), set(want.namelist())
        if names != wanted:
            return Score(0.0, f"files {short(sorted(names ^ wanted))} are in only one archive")
        for name in sorted(names):
            mine, theirs = got.read(name), want.read(name)
            if name.lower().endswith(".pdf"):
                texts = []
                for side, data in (("result", mine), ("expected", theirs)):
                    (Path(folder) / side).write_bytes(data)
                    texts.append(pdf_text(str(Path(folder) / side)))
                ratio = difflib.SequenceMatcher(None, texts[0], texts[1]).ratio()
                if ratio < PDF_TEXT_ALIKE:
                    return Score(0.0, f"{name}: text similarity {ratio:.3f} < {PDF_TEXT_ALIKE}")
            elif mine != theirs:
                return Score(0.0, f"{name} differs")
    return Score(1.0, f"all {len(names)} files match")
