"""Metrics on presentations (python-pptx) and Impress's presenter console setting, with the rules of OSWorld's
``metrics/slides.py``; a slide's parts in the presentation's zip (:data:`PPTX_NS`, :func:`slide_part`).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pptx
from pptx.enum.dml import MSO_FILL
from pptx.enum.shapes import MSO_SHAPE_TYPE
from pptx.enum.text import PP_ALIGN
from pptx.oxml.ns import qn
from pptx.presentation import Presentation

from step_envs.checkers.metrics.office import libreoffice_setting
from step_envs.checkers.metrics.scoring import verdict
from step_envs.checkers.registry import NO_RESULT, Score, metric, short

PPTX_NS = {"a": "http://schemas.openxmlformats.org/drawingml/2006/main",
           "p": "http://schemas.openxmlformats.org/presentationml/2006/main",
           "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
           "rel": "http://schemas.openxmlformats.org/package/2006/relationships"}
"""The XML namespaces of a presentation's parts (slides, their relationships)."""


def slide_part(index: int) -> str:
    """The zip member of slide ``index`` (0-based), as OSWorld names it: ``ppt/slides/slide<index + 1>.xml``."""
    return f"ppt/slides/slide{index + 1}.xml"


TITLE_BOTTOM_TEXT = "Product Comparison"
SHIFT_SIZE_TEXT = "Elaborate on what you want to discuss."
LOW_TOP_EMU = 3_600_000
RIGHT_LEFT_EMU = 4_320_000
HIGH_TOP_EMU = 1_980_000
"""OSWorld's ``examine_*_position`` options were each written for one task: they name its slide, its shape's text
and these bounds (10 cm, 12 cm and 5.5 cm from the slide's top or left edge, in EMU); they are kept as written."""


_GEOMETRY = ("left", "top", "width", "height")


class _Differs(Exception):
    """Two presentations differ; the message says where."""


def open_pptx(path: str) -> Presentation:
    if Path(path).suffix.lower() != ".pptx":
        raise ValueError(f"{Path(path).name}: presentations are read from .pptx files")
    return pptx.Presentation(path)


def _background(slide: Any) -> Any:
    """The slide's solid background colour, else its master's, else None."""
    for fill in (slide.background.fill, slide.slide_layout.slide_master.background.fill):
        if fill.type == MSO_FILL.SOLID:
            return fill.fore_color.rgb
        if fill.type != MSO_FILL.BACKGROUND:
            return None
    return None


def _notes(slide: Any) -> str:
    return slide.notes_slide.notes_text_frame.text.strip() if slide.has_notes_slide else ""


def _close(a: int | None, b: int | None, tolerance: float) -> bool:
    """Equal, or within ``tolerance`` of the larger magnitude (OSWorld's relative tolerance on EMU geometry)."""
    if a == b:
        return True
    if not a or not b:
        return False
    return abs(a - b) / max(abs(a), abs(b)) <= tolerance


def _falsy_equal(a: Any, b: Any) -> bool:
    """None and False both mean "not set" for bold and italic."""
    return a == b or (not a and not b)


def _bullets(paragraph: Any) -> tuple[str, str]:
    properties = paragraph._p.find(qn("a:pPr"))
    if properties is None:
        return "0", "none"
    char = properties.find(qn("a:buChar"))
    return properties.get("lvl", "0"), "none" if char is None else char.get("char", "")


class _Comparison:
    """OSWorld's ``compare_pptx_files`` walk: slides, shapes, tables, paragraphs, runs, each aspect switchable."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def on(self, aspect: str) -> bool:
        return bool(self.options[aspect])

    def presentations(self, a: Presentation, b: Presentation) -> None:
        if self.on("examine_number_of_slides") and len(a.slides) != len(b.slides):
            raise _Differs(f"{len(a.slides)} slides != {len(b.slides)}")
        for number, (slide_a, slide_b) in enumerate(zip(a.slides, b.slides, strict=False), start=1):
            self.slide(number, slide_a, slide_b)

    def slide(self, number: int, a: Any, b: Any) -> None:
        where = f"slide {number}"
        if self.on("examine_background_color") and _background(a) != _background(b):
            raise _Differs(f"{where}: background {_background(a)} != {_background(b)}")
        if self.on("examine_note") and _notes(a) != _notes(b):
            raise _Differs(f"{where}: notes {short(_notes(a))} != {short(_notes(b))}")
        if len(a.shapes) != len(b.shapes):
            raise _Differs(f"{where}: {len(a.shapes)} shapes != {len(b.shapes)}")
        for index, (shape_a, shape_b) in enumerate(zip(a.shapes, b.shapes, strict=True), start=1):
            at = f"{where} shape {index}"
            if (moved := self.placement(number, shape_a, shape_b)) is not None:
                raise _Differs(f"{at}: {moved}")
            self.shape(at, shape_a, shape_b)

    def same_box(self, a: Any, b: Any, parts: tuple[str, ...] = _GEOMETRY) -> bool:
        tolerance = float(self.options["approximately_tolerance"])
        return all(_close(getattr(a, part), getattr(b, part), tolerance) for part in parts)

    def placement(self, slide: int, a: Any, b: Any) -> str | None:
        """Why shape ``a`` (result) is not placed as the switched-on options want against ``b`` (expected), or None.

        ``examine_shape``: the same position and size (two shapes without text are not compared); the rest are
        OSWorld's one-task options: ``examine_title_bottom_position`` (the title :data:`TITLE_BOTTOM_TEXT` lower
        than before and at least :data:`LOW_TOP_EMU` from the top, shapes whose text changed keep their box),
        ``examine_table_bottom_position`` (slide 3's table likewise, other shapes keep their box),
        ``examine_right_position`` (slide 2's shapes without text further right, at least :data:`RIGHT_LEFT_EMU`),
        ``examine_top_position`` (slide 2's pictures higher, at most :data:`HIGH_TOP_EMU`),
        ``examine_shape_for_shift_size`` (every box kept but that of the :data:`SHIFT_SIZE_TEXT` placeholder),
        ``examine_image_size`` (pictures keep their size, other shapes their box), ``examine_modify_height``
        (shapes without text and freeforms keep their height, other shapes their box)."""
        texts = (a.text_frame.text if a.has_text_frame else None, b.text_frame.text if b.has_text_frame else None)
        same_text = texts[0] is not None and texts[0] == texts[1]
        kinds = (a.shape_type, b.shape_type)
        box = f"position/size {[getattr(a, g) for g in _GEOMETRY]} != {[getattr(b, g) for g in _GEOMETRY]}"
        if self.on("examine_title_bottom_position"):
            if same_text and texts[0] == TITLE_BOTTOM_TEXT and (a.top <= b.top or a.top < LOW_TOP_EMU):
                return f"title top {a.top} is not below {b.top} and {LOW_TOP_EMU}"
            if not same_text and not self.same_box(a, b):
                return box
        if self.on("examine_table_bottom_position"):
            if slide == 3 and kinds == (MSO_SHAPE_TYPE.TABLE, MSO_SHAPE_TYPE.TABLE):
                if a.top <= b.top or a.top < LOW_TOP_EMU:
                    return f"table top {a.top} is not below {b.top} and {LOW_TOP_EMU}"
            elif not self.same_box(a, b):
                return box
        if self.on("examine_right_position") and slide == 2 and texts == (None, None) and (
                a.left <= b.left or a.left < RIGHT_LEFT_EMU):
            return f"left {a.left} is not right of {b.left} and {RIGHT_LEFT_EMU}"
        if self.on("examine_top_position") and slide == 2 and kinds == (MSO_SHAPE_TYPE.PICTURE,) * 2 and (
                a.top >= b.top or a.top > HIGH_TOP_EMU):
            return f"picture top {a.top} is not above {b.top} and {HIGH_TOP_EMU}"
        if self.on("examine_shape_for_shift_size") and not self.same_box(a, b) and not (
                same_text and texts[0] == SHIFT_SIZE_TEXT):
            return box
        if self.on("examine_shape") and (texts[0] or "").strip() + (texts[1] or "").strip() and not self.same_box(
                a, b):
            return box
        if self.on("examine_image_size"):
            pictures = kinds == (MSO_SHAPE_TYPE.PICTURE,) * 2
            if not self.same_box(a, b, ("width", "height") if pictures else _GEOMETRY):
                return f"size {[a.width, a.height]} != {[b.width, b.height]}" if pictures else box
        if self.on("examine_modify_height"):
            free = texts == (None, None) or kinds == (MSO_SHAPE_TYPE.FREEFORM,) * 2
            if not self.same_box(a, b, ("height",) if free else _GEOMETRY):
                return f"height {a.height} != {b.height}" if free else box
        return None

    def shape(self, where: str, a: Any, b: Any) -> None:
        if a.shape_type == MSO_SHAPE_TYPE.TABLE and b.shape_type == MSO_SHAPE_TYPE.TABLE:
            self.table(where, a.table, b.table)
        if a.has_text_frame and b.has_text_frame:
            if self.on("examine_text") and a.text_frame.text.strip() != b.text_frame.text.strip():
                raise _Differs(f"{where}: text {short(a.text_frame.text)} != {short(b.text_frame.text)}")
            self.paragraphs(where, a.text_frame.paragraphs, b.text_frame.paragraphs)

    def table(self, where: str, a: Any, b: Any) -> None:
        if (len(a.rows), len(a.columns)) != (len(b.rows), len(b.columns)):
            raise _Differs(f"{where}: table {len(a.rows)}x{len(a.columns)} != {len(b.rows)}x{len(b.columns)}")
        for row, column in itertools.product(range(len(a.rows)), range(len(a.columns))):
            cell = f"{where} cell ({row + 1}, {column + 1})"
            frame_a, frame_b = a.cell(row, column).text_frame, b.cell(row, column).text_frame
            if self.on("examine_text") and frame_a.text.strip() != frame_b.text.strip():
                raise _Differs(f"{cell}: {short(frame_a.text)} != {short(frame_b.text)}")
            self.paragraphs(cell, frame_a.paragraphs, frame_b.paragraphs)

    def paragraphs(self, where: str, a: list[Any], b: list[Any]) -> None:
        if len(a) != len(b):
            raise _Differs(f"{where}: {len(a)} paragraphs != {len(b)}")
        for number, (para_a, para_b) in enumerate(zip(a, b, strict=True), start=1):
            at = f"{where} paragraph {number}"
            if self.on("examine_alignment") and (para_a.alignment or PP_ALIGN.LEFT) != (
                    para_b.alignment or PP_ALIGN.LEFT):
                raise _Differs(f"{at}: alignment {para_a.alignment} != {para_b.alignment}")
            if self.on("examine_text") and para_a.text != para_b.text:
                raise _Differs(f"{at}: {short(para_a.text)} != {short(para_b.text)}")
            levels = {para_a.level or 0, para_b.level or 0}
            if self.on("examine_indent") and len(levels) > 1 and not levels <= {0, 1}:
                raise _Differs(f"{at}: indent level {para_a.level} != {para_b.level}")
            if self.on("examine_bullets") and para_a.text.strip() and _bullets(para_a) != _bullets(para_b):
                raise _Differs(f"{at}: bullet (level, char) {_bullets(para_a)} != {_bullets(para_b)}")
            runs_a, runs_b = para_a.runs, para_b.runs
            if not para_a.text.strip() and not para_b.text.strip():  # blank paragraphs: runs without text dropped
                runs_a, runs_b = ([run for run in runs if run.text.strip()] for runs in (runs_a, runs_b))
            if self.on("examine_run_count") and len(runs_a) != len(runs_b):
                raise _Differs(f"{at}: {len(runs_a)} runs != {len(runs_b)}")
            for run_number, (run_a, run_b) in enumerate(zip(runs_a, runs_b, strict=False), start=1):
                self.run(f"{at} run {run_number} ({short(run_a.text, 30)})", run_a.font, run_b.font)

    def run(self, where: str, a: Any, b: Any) -> None:
        for aspect, read, same in self._font_checks():
            if self.on(aspect) and not same(read(a), read(b)):
                raise _Differs(f"{where}: {aspect.removeprefix('examine_')} {read(a)!r} != {read(b)!r}")

    @staticmethod
    def _font_checks() -> Iterator[tuple[str, Any, Any]]:
        equal = operator.eq
        yield "examine_font_name", lambda font: font.name, equal
        yield "examine_font_size", lambda font: font.size, equal
        yield "examine_font_bold", lambda font: font.bold, _falsy_equal
        yield "examine_font_italic", lambda font: font.italic, _falsy_equal
        yield "examine_color_rgb", _rgb, equal
        yield "examine_font_underline", lambda font: font.underline, _falsy_equal
        yield "examine_strike_through", lambda font: font._rPr.get("strike", "noStrike") if font._rPr is not None \
            else "noStrike", equal


def _rgb(font: Any) -> Any:
    """The run's explicit RGB colour, None when it has none (theme colours and inherited colours compare equal)."""
    try:
        return font.color.rgb if font.color and font.color.type is not None else None
    except AttributeError:
        return None


@metric("compare_pptx_files")
def compare_pptx_files(result: str | None, expected: str | None, examine_number_of_slides: bool = True,
                       examine_shape: bool = True, examine_text: bool = True, examine_indent: bool = True,
                       examine_font_name: bool = True, examine_font_size: bool = True,
                       examine_font_bold: bool = True, examine_font_italic: bool = True,
                       examine_color_rgb: bool = True, examine_font_underline: bool = True,
                       examine_strike_through: bool = True, examine_alignment: bool = True,
                       examine_run_count: bool = True, examine_bullets: bool = True,
                       examine_background_color: bool = True, examine_note: bool = True,
                       approximately_tolerance: float = 0.005, examine_title_bottom_position: bool = False,
                       examine_table_bottom_position: bool = False, examine_right_position: bool = False,
                       examine_top_position: bool = False, examine_shape_for_shift_size: bool = False,
                       examine_image_size: bool = False, examine_modify_height: bool = False) -> Score:
    """1 when two presentations match on every aspect switched on, else 0 (the first difference is the reason).

    Slide count; per slide its solid background colour and notes; shape count; per shape its placement (see
    ``_Comparison.placement``: position and size within ``approximately_tolerance``, relative, or what the
    one-task ``examine_*_position``/``_size``/``_height`` options ask), its text, table cells, and per paragraph
    alignment (unset = left), text, indent level (0 and 1 alike), bullet (level, char) and run count (runs without
    text of blank paragraphs ignored); per run font name, size, bold, italic (unset = false), explicit RGB colour,
    underline and strike-through. Each aspect has OSWorld's ``examine_*`` switch."""
    if result is None or expected is None:
        return NO_RESULT
    try:
        _Comparison(dict(locals())).presentations(open_pptx(result), open_pptx(expected))
    except _Differs as difference:
        return Score(0.0, str(difference))
    return Score(1.0, "the presentations match")


@metric("check_presenter_console_disable")
def check_presenter_console_disable(result: str | None, expected: Any = None, **options: Any) -> Score:
    """1 when LibreOffice's settings file (``registrymodifications.xcu``) turns Impress's presenter screen off."""
    if result is None:
        return NO_RESULT
    text = libreoffice_setting(result, "/org.openoffice.Office.Impress/Misc/Start", "EnablePresenterScreen")
    if text is not None:
        return verdict(text.lower() == "false", "presenter screen disabled", f"EnablePresenterScreen is {text!r}")
    return Score(0.0, "EnablePresenterScreen is not set (the presenter screen is on by default)")
