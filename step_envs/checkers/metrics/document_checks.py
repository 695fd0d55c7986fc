"""Writer's one-purpose metrics, with the rules of OSWorld's ``metrics/docs.py``: tab stops, highlighting, word
colours in tables, italic font sizes, the default font, reference lists, de-duplicated records.

Colour closeness is CIEDE2000 (Sharma, Wu & Dalal 2005) on CIELAB from sRGB under D65, as scikit-image computes it.
"""

from __future__ import annotations

import math
import re
import zipfile
from typing import Any
from xml.etree import ElementTree

from docx.enum.text import WD_TAB_ALIGNMENT

from step_envs.checkers.metrics.documents import open_docx, paragraph_texts, same_text
from step_envs.checkers.metrics.office import libreoffice_setting
from step_envs.checkers.metrics.scoring import first_difference, rules_of, similarity, verdict
from step_envs.checkers.registry import NO_RESULT, Score, metric, short


@metric("check_tabstops")
def check_tabstops(result: str | None, expected: str | None, word_number_split_by_tabstop: int | None = None,
                   index: int = 0, **options: Any) -> Score:
    """``1 - mean over paragraphs of (summed |position difference| of their tab stops / text width)``, comparing
    the result's non-blank paragraphs with the expected ones pairwise; 0 when the counts of paragraphs or of tab
    stops differ, or a stop's alignment does. Cleared stops and a left stop at 0 are ignored. With
    ``word_number_split_by_tabstop`` n, every paragraph's ``index``-th tab-separated part must hold n words."""
    if result is None or expected is None:
        return NO_RESULT
    document, gold = open_docx(result), open_docx(expected)
    got = [p for p in document.paragraphs if p.text.strip()]
    want = [p for p in gold.paragraphs if p.text.strip()]
    if len(got) != len(want):
        return Score(0.0, f"{len(got)} non-blank paragraphs != {len(want)}")
    if word_number_split_by_tabstop is not None:
        for paragraph in got:
            parts = paragraph.text.split("\t")
            words = parts[index].split() if index < len(parts) else []
            if len(words) != word_number_split_by_tabstop:
                return Score(0.0, f"{short(paragraph.text)}: {len(words)} words before tab stop {index + 1}, not "
                                  f"{word_number_split_by_tabstop}")
    section = gold.sections[0]
    width = section.page_width - section.left_margin - section.right_margin

    def stops(paragraph: Any) -> list[Any]:
        return [stop for stop in paragraph.paragraph_format.tab_stops if stop.alignment != WD_TAB_ALIGNMENT.CLEAR
                and not (stop.alignment == WD_TAB_ALIGNMENT.LEFT and stop.position == 0)]

    shortfall = 0.0
    for number, (mine, theirs) in enumerate(zip(got, want, strict=True), start=1):
        a, b = stops(mine), stops(theirs)
        if len(a) != len(b):
            return Score(0.0, f"paragraph {number}: {len(a)} tab stops != {len(b)}")
        for stop_a, stop_b in zip(a, b, strict=True):
            if stop_a.alignment != stop_b.alignment:
                return Score(0.0, f"paragraph {number}: tab stop aligned {stop_a.alignment}, not {stop_b.alignment}")
            shortfall += abs(stop_a.position - stop_b.position) / width
    value = max(0.0, 1 - shortfall / len(got))
    return Score(value, f"tab stops {value:.3f} in place over {len(got)} paragraphs")


_ODF = {"office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
        "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
        "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
        "fo": "urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"}
HIGHLIGHT = "#ffff00"


def highlighted_spans(path: str) -> list[str]:
    """The texts of an OpenDocument text's spans whose automatic style paints a :data:`HIGHLIGHT` background."""
    with zipfile.ZipFile(path) as document:
        root = ElementTree.fromstring(document.read("content.xml"))
    name = f"{{{_ODF['style']}}}name"
    yellow = {style.get(name) for style in root.iterfind("office:automatic-styles/style:style", _ODF)
              if any(props.get(f"{{{_ODF['fo']}}}background-color") == HIGHLIGHT
                     for props in style.iterfind("style:text-properties", _ODF))}
    return ["".join(span.itertext()) for span in root.iter(f"{{{_ODF['text']}}}span")
            if span.get(f"{{{_ODF['text']}}}style-name") in yellow]


@metric("check_highlighted_words")
def check_highlighted_words(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when the result (an ``.odt``) has no text highlighted in yellow (:data:`HIGHLIGHT`) and holds the expected
    text."""
    if result is None or expected is None:
        return NO_RESULT
    marked = highlighted_spans(result)
    if marked:
        return Score(0.0, f"still highlighted: {short(marked)}")
    return same_text(result, expected) or Score(1.0, "no highlighted text, the same text")


def _lab(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """CIELAB (D65, 2 degree observer) of an 8-bit sRGB colour."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in rgb)]
    matrix = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169), (0.019334, 0.119193, 0.950227))
    xyz = [sum(m * c for m, c in zip(row, linear, strict=True)) / white
           for row, white in zip(matrix, (0.95047, 1.0, 1.08883), strict=True)]
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in xyz]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def delta_e_2000(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
    """CIEDE2000 colour difference of two 8-bit sRGB colours."""
    return ciede2000(_lab(first), _lab(second))


def ciede2000(first: tuple[float, float, float], second: tuple[float, float, float]) -> float:
    """CIEDE2000 difference of two CIELAB colours (kL = kC = kH = 1)."""
    (l1, a1, b1), (l2, a2, b2) = first, second
    c_mean = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_mean**7 / (c_mean**7 + 25**7)))
    a1, a2 = a1 * (1 + g), a2 * (1 + g)
    c1, c2 = math.hypot(a1, b1), math.hypot(a2, b2)
    h1, h2 = (math.degrees(math.atan2(b, a)) % 360 for a, b in ((a1, b1), (a2, b2)))
    dl, dc = l2 - l1, c2 - c1
    dh = 0.0 if c1 * c2 == 0 else (h2 - h1 + 180) % 360 - 180
    dh_big = 2 * math.sqrt(c1 * c2) * math.sin(math.radians(dh / 2))
    l_mean, c_mean = (l1 + l2) / 2, (c1 + c2) / 2
    if c1 * c2 == 0:
        h_mean = h1 + h2
    elif abs(h1 - h2) <= 180:
        h_mean = (h1 + h2) / 2
    else:
        h_mean = (h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2
    t = (1 - 0.17 * math.cos(math.radians(h_mean - 30)) + 0.24 * math.cos(math.radians(2 * h_mean))
         + 0.32 * math.cos(math.radians(3 * h_mean + 6)) - 0.20 * math.cos(math.radians(4 * h_mean - 63)))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / math.sqrt(20 + (l_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_mean, 1 + 0.015 * c_mean * t
    r_t = (-2 * math.sqrt(c_mean**7 / (c_mean**7 + 25**7))
           * math.sin(math.radians(60 * math.exp(-(((h_mean - 275) / 25) ** 2)))))
    return math.sqrt((dl / s_l) ** 2 + (dc / s_c) ** 2 + (dh_big / s_h) ** 2 + r_t * (dc / s_c) * (dh_big / s_h))


@metric("evaluate_colored_words_in_tables")
def evaluate_colored_words_in_tables(result: str | None, expected: str | None, threshold: float = 3.5,
                                     **options: Any) -> Score:
    """1 when the result holds the expected text and, in its tables, every run starting with a vowel is red and
    every other run with text blue (CIEDE2000 within ``threshold`` of #FF0000 / #0000FF)."""
    if result is None or expected is None:
        return NO_RESULT
    if (differs := same_text(result, expected)) is not None:
        return differs
    for table in open_docx(result).tables:
        for cell in (cell for row in table.rows for cell in row.cells):
            for run in (run for paragraph in cell.paragraphs for run in paragraph.runs if run.text):
                vowel = run.text[0].lower() in "aeiou"
                wanted, name = ((255, 0, 0), "red") if vowel else ((0, 0, 255), "blue")
                colour = run.font.color.rgb if run.font.color and run.font.color.type is not None else None
                if colour is None or delta_e_2000((colour[0], colour[1], colour[2]), wanted) > threshold:
                    return Score(0.0, f"{run.text!r} is {colour or 'uncoloured'}, not {name}")
    return Score(1.0, "words starting with a vowel are red, the others blue")


@metric("check_italic_font_size_14")
def check_italic_font_size_14(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when the result holds the expected text and every italic run of its body paragraphs is 14 pt."""
    if result is None or expected is None:
        return NO_RESULT
    if (differs := same_text(result, expected)) is not None:
        return differs
    for paragraph in open_docx(result).paragraphs:
        for run in paragraph.runs:
            if run.italic and (run.font.size is None or run.font.size.pt != 14):
                size = run.font.size.pt if run.font.size is not None else "unset"
                return Score(0.0, f"italic {short(run.text)} is {size} pt, not 14")
    return Score(1.0, "every italic run is 14 pt")


@metric("find_default_font")
def find_default_font(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when LibreOffice's settings (``registrymodifications.xcu``) make ``rules["font_name"]`` Writer's default
    font (``/org.openoffice.Office.Writer/DefaultFont``, ``Standard``)."""
    wanted = rules_of(rules, "{'font_name': name}").get("font_name")
    if result is None:
        return NO_RESULT
    font = libreoffice_setting(result, "/org.openoffice.Office.Writer/DefaultFont", "Standard")
    return verdict(font == wanted, f"the default font is {font}", f"the default font is {font!r}, not {wanted!r}")


@metric("compare_references")
def compare_references(result: str | None, expected: str | None, reference_indicator: str = "References",
                       reference_base_result: float = 0.5, **options: Any) -> Score:
    """The reference lists (the non-blank paragraphs after the first paragraph that is exactly
    ``reference_indicator``) compared entry by entry: s the mean similarity (2 M / T) when both have as many
    entries, scored ``(s - b) / (1 - b)`` when ``s >= b + 0.01`` (b = ``reference_base_result``), else 0. Neither
    document having the heading scores 1, one of them 0."""
    if result is None or expected is None:
        return NO_RESULT
    documents = [paragraph_texts(path) for path in (result, expected)]
    where = [texts.index(reference_indicator) if reference_indicator in texts else None for texts in documents]
    if where == [None, None]:
        return Score(1.0, f"neither document has a {reference_indicator!r} heading")
    if None in where:
        return Score(0.0, f"only the {'expected' if where[0] is None else 'result'} has a {reference_indicator!r} "
                          "heading")
    got, want = ([text for text in texts[at + 1:] if text.strip()] for texts, at in zip(documents, where,
                                                                                         strict=True))
    if len(got) != len(want):
        return Score(0.0, f"{len(got)} references != {len(want)}")
    if not got:
        return Score(1.0, "both reference lists are empty")
    mean = sum(similarity(a, b) for a, b in zip(got, want, strict=True)) / len(got)
    base = float(reference_base_result)
    if mean >= base + 0.01:
        return Score(min(1.0, (mean - base) / (1 - base)), f"references {mean:.3f} alike over the base {base}")
    return Score(0.0, f"references {mean:.3f} alike, not above the base {base}")


@metric("compare_docx_files_and_ignore_new_lines")
def compare_docx_files_and_ignore_new_lines(result: str | None, expected: str | None, ignore_blanks: bool = True,
                                            **options: Any) -> Score:
    """The documents' paragraphs without the empty ones: with ``ignore_blanks`` (default) 1 when their texts are
    equal with every whitespace run as one space; without, 1 when the paragraphs are equal one by one."""
    if result is None or expected is None:
        return NO_RESULT
    got, want = ([p.text for p in open_docx(path).paragraphs if p.text != ""] for path in (result, expected))
    if ignore_blanks:
        text_got, text_want = (re.sub(r"\s+", " ", "\n".join(texts)).strip() for texts in (got, want))
        return verdict(text_got == text_want, "same text", first_difference(text_got.split(), text_want.split(),
                                                                            "word"))
    return verdict(got == want, "same paragraphs", first_difference(got, want, "paragraph"))


def _records(path: str) -> tuple[list[str], list[str]]:
    """The non-blank lines of a document, stripped, and the train ids (second field) of those with four fields."""
    lines = [text.strip() for text in paragraph_texts(path) if text.strip()]
    return lines, [line.split(",")[1].strip() for line in lines if len(line.split(",")) == 4]


@metric("compare_unique_train_records")
def compare_unique_train_records(result: str | None, expected: Any, **options: Any) -> Score:
    """``expected`` is [gold file, original file]. 1 when every line of the result is a line of the original, no
    train id (a line's second of four fields) repeats, the ids are the gold file's, and it has as many lines."""
    if not (isinstance(expected, list) and len(expected) == 2 and all(expected)):
        return Score(0.0, f"expected needs [gold file, original file], got {short(expected)}")
    if result is None:
        return NO_RESULT
    (lines, ids), (gold_lines, gold_ids), (original, _) = (_records(path) for path in (result, *expected))
    extra = sorted(set(lines) - set(original))
    if extra:
        return Score(0.0, f"lines not in the original: {short(extra)}")
    if len(ids) != len(set(ids)):
        return Score(0.0, f"repeated train ids: {short(sorted({i for i in ids if ids.count(i) > 1}))}")
    if set(ids) != set(gold_ids):
        return Score(0.0, f"train ids {short(sorted(set(ids) ^ set(gold_ids)))} differ from the gold file's")
    return verdict(len(lines) == len(gold_lines), f"{len(lines)} unique records",
                   f"{len(lines)} lines, the gold file has {len(gold_lines)}")
