"""Metrics on presentations (python-pptx) and Impress settings, with the rules of OSWorld's ``metrics/slides.py``."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pptx
from pptx.enum.dml import MSO_FILL
from pptx.enum.shapes import MSO_SHAPE_TYPE
from pptx.enum.text import PP_ALIGN
from pptx.oxml.ns import qn
from pptx.presentation import Presentation

from step_envs.checkers.general import verdict
from step_envs.checkers.registry import NO_RESULT, Score, metric, short

_TASK_SPECIFIC = ("examine_title_bottom_position", "examine_table_bottom_position", "examine_right_position",
                  "examine_top_position", "examine_shape_for_shift_size", "examine_image_size",
                  "examine_modify_height")
"""OSWorld options written for one task each (fixed slide numbers, texts and EMU thresholds): not reproduced."""


class _Differs(Exception):
    """Two presentations differ; the message says where."""


def open_pptx(path: str) -> Presentation:
    if Path(path).suffix.lower() != ".pptx":
        raise ValueError(f"{Path(path).name}: presentations are read from .pptx files")
    return pptx.Presentation(path)


def pptx_option_problems(options: dict[str, Any]) -> list[str]:
    return [f"option {name!r} (task-specific in OSWorld) is not supported" for name in _TASK_SPECIFIC
            if options.get(name)]


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
            self.slide(f"slide {number}", slide_a, slide_b)

    def slide(self, where: str, a: Any, b: Any) -> None:
        if self.on("examine_background_color") and _background(a) != _background(b):
            raise _Differs(f"{where}: background {_background(a)} != {_background(b)}")
        if self.on("examine_note") and _notes(a) != _notes(b):
            raise _Differs(f"{where}: notes {short(_notes(a))} != {short(_notes(b))}")
        if len(a.shapes) != len(b.shapes):
            raise _Differs(f"{where}: {len(a.shapes)} shapes != {len(b.shapes)}")
        for number, (shape_a, shape_b) in enumerate(zip(a.shapes, b.shapes, strict=True), start=1):
            self.shape(f"{where} shape {number}", shape_a, shape_b)

    def shape(self, where: str, a: Any, b: Any) -> None:
        tolerance = float(self.options["approximately_tolerance"])
        geometry = ("left", "top", "width", "height")
        if self.on("examine_shape") and not all(_close(getattr(a, g), getattr(b, g), tolerance) for g in geometry):
            raise _Differs(f"{where}: position/size {[getattr(a, g) for g in geometry]} != "
                           f"{[getattr(b, g) for g in geometry]}")
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
            if self.on("examine_indent") and para_a.level != para_b.level:
                raise _Differs(f"{at}: indent level {para_a.level} != {para_b.level}")
            if self.on("examine_bullets") and para_a.text.strip() and _bullets(para_a) != _bullets(para_b):
                raise _Differs(f"{at}: bullet (level, char) {_bullets(para_a)} != {_bullets(para_b)}")
            if len(para_a.runs) != len(para_b.runs):
                raise _Differs(f"{at}: {len(para_a.runs)} runs != {len(para_b.runs)}")
            for run_number, (run_a, run_b) in enumerate(zip(para_a.runs, para_b.runs, strict=True), start=1):
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


@metric("compare_pptx_files", check_options=pptx_option_problems)
def compare_pptx_files(result: str | None, expected: str | None, examine_number_of_slides: bool = True,
                       examine_shape: bool = True, examine_text: bool = True, examine_indent: bool = True,
                       examine_font_name: bool = True, examine_font_size: bool = True,
                       examine_font_bold: bool = True, examine_font_italic: bool = True,
                       examine_color_rgb: bool = True, examine_font_underline: bool = True,
                       examine_strike_through: bool = True, examine_alignment: bool = True,
                       examine_bullets: bool = True, examine_background_color: bool = True,
                       examine_note: bool = True, approximately_tolerance: float = 0.005,
                       examine_title_bottom_position: bool = False, examine_table_bottom_position: bool = False,
                       examine_right_position: bool = False, examine_top_position: bool = False,
                       examine_shape_for_shift_size: bool = False, examine_image_size: bool = False,
                       examine_modify_height: bool = False) -> Score:
    """1 when two presentations match on every aspect switched on, else 0 (the first difference is the reason).

    Slide count; per slide its solid background colour and notes; shape count; per shape its position and size
    (within ``approximately_tolerance``, relative), its text, table cells, and per paragraph alignment (unset =
    left), text, indent level, bullet (level, char) and run count; per run font name, size, bold, italic (unset =
    false), explicit RGB colour, underline and strike-through. Each aspect has OSWorld's ``examine_*`` switch. The
    task-specific ``examine_*_position`` / ``examine_image_size`` / ``examine_modify_height`` /
    ``examine_shape_for_shift_size`` checks are not reproduced: asking for one raises."""
    if result is None or expected is None:
        return NO_RESULT
    options = dict(locals())
    asked = pptx_option_problems(options)
    if asked:
        raise ValueError("; ".join(asked))
    try:
        _Comparison(options).presentations(open_pptx(result), open_pptx(expected))
    except _Differs as difference:
        return Score(0.0, str(difference))
    return Score(1.0, "the presentations match")


_REGISTRY_NS = {"oor": "http://openoffice.org/2001/registry"}


@metric("check_presenter_console_disable")
def check_presenter_console_disable(result: str | None, expected: Any = None, **options: Any) -> Score:
    """1 when LibreOffice's settings file (``registrymodifications.xcu``) turns Impress's presenter screen off."""
    if result is None:
        return NO_RESULT
    root = ElementTree.parse(result).getroot()
    path = ".//item[@oor:path='/org.openoffice.Office.Impress/Misc/Start']/prop[@oor:name='EnablePresenterScreen']"
    for item in root.findall(path, _REGISTRY_NS):
        value = item.find("value")
        text = (value.text or "") if value is not None else ""
        return verdict(text.lower() == "false", "presenter screen disabled", f"EnablePresenterScreen is {text!r}")
    return Score(0.0, "EnablePresenterScreen is not set (the presenter screen is on by default)")
