"""Metrics on text documents (python-docx): their text, tables and formatting, with OSWorld's ``metrics/docs.py``
rules."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import docx
from docx.document import Document as DocxDocument
from docx.enum.text import WD_PARAGRAPH_ALIGNMENT
from docx.oxml.ns import qn

from step_envs.checkers.metrics.office import converted
from step_envs.checkers.metrics.scoring import expected_of, first_difference, rules_of, similarity, verdict
from step_envs.checkers.registry import NO_RESULT, Score, metric, short


def paragraph_texts(path: str) -> list[str]:
    """The text of every paragraph of a ``.docx`` (``.odt``/``.doc`` after LibreOffice converts them)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".docx":
        return [paragraph.text for paragraph in docx.Document(path).paragraphs]
    if suffix in (".odt", ".doc"):
        with converted(path, "docx") as converted_docx:
            return paragraph_texts(str(converted_docx))
    raise ValueError(f"{Path(path).name}: documents are read from .docx, .odt or .doc")


@metric("compare_docx_files")
def compare_docx_files(result: str | None, expected: str | None, ignore_blanks: bool = True,
                       ignore_case: bool = False, ignore_order: bool = False, content_only: bool = False,
                       fuzzy_match: bool = False, fuzzy_match_threshold: float | None = None,
                       delete_empty_lines: bool = False, **options: Any) -> Score:
    """Compare two documents' paragraph texts. ``ignore_order`` sorts the paragraphs, ``delete_empty_lines`` drops
    blank ones, ``ignore_case`` lower-cases.

    ``content_only``: the similarity ratio of the whole texts, whitespace runs collapsed to one space.
    ``ignore_blanks`` (default, as OSWorld): 1 when the whole texts are equal with whitespace runs collapsed, else 0;
    with ``fuzzy_match``, their similarity ratio (0/1 against ``fuzzy_match_threshold`` when given).
    Otherwise: 0 unless both have as many paragraphs; then 1 when each pair is equal, or with ``fuzzy_match`` the mean
    of the pairs' similarity ratios (each 0/1 against ``fuzzy_match_threshold`` when given)."""
    if result is None or expected is None:
        return NO_RESULT
    got, want = paragraph_texts(result), paragraph_texts(expected)
    if ignore_order:
        got, want = sorted(got), sorted(want)
    if delete_empty_lines:
        got, want = [p for p in got if p.strip()], [p for p in want if p.strip()]
    if ignore_case:
        got, want = [p.lower() for p in got], [p.lower() for p in want]

    if content_only or ignore_blanks:
        text_got, text_want = (re.sub(r"\s+", " ", "\n".join(paragraphs)).strip() for paragraphs in (got, want))
        words = first_difference(text_got.split(" "), text_want.split(" "), "word")
        if content_only or fuzzy_match:
            ratio = similarity(text_got, text_want)
            if content_only or fuzzy_match_threshold is None:
                return Score(ratio, words)
            return verdict(ratio >= fuzzy_match_threshold, f"similarity {ratio:.3f}",
                           f"similarity {ratio:.3f} < {fuzzy_match_threshold}: {words}")
        return verdict(text_got == text_want, "same text", words)

    if len(got) != len(want):
        return Score(0.0, f"{len(got)} paragraphs != {len(want)}: {first_difference(got, want, 'paragraph')}")
    if not fuzzy_match:
        return verdict(got == want, "same paragraphs", first_difference(got, want, "paragraph"))
    if not got:
        return Score(1.0, "both empty")
    ratios = [similarity(a, b) for a, b in zip(got, want, strict=True)]
    if fuzzy_match_threshold is not None:
        ratios = [float(ratio >= fuzzy_match_threshold) for ratio in ratios]
    return Score(sum(ratios) / len(ratios), first_difference(got, want, "paragraph"))


def open_docx(path: str) -> DocxDocument:
    """A ``.docx`` opened by python-docx; formatting metrics read Word's format only (as OSWorld's do)."""
    if Path(path).suffix.lower() != ".docx":
        raise ValueError(f"{Path(path).name}: formatting is read from .docx files")
    return docx.Document(path)


def same_text(result: str, expected: str) -> Score | None:
    """None when the two documents hold the same text (``compare_docx_files``' default), else its zero score."""
    score = compare_docx_files(result, expected)
    return None if score.value == 1.0 else Score(0.0, f"the text differs: {score.reason}")


@metric("compare_line_spacing")
def compare_line_spacing(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when the documents hold the same text and every paragraph has the same line spacing, else 0."""
    if result is None or expected is None:
        return NO_RESULT
    if (differs := same_text(result, expected)) is not None:
        return differs
    got, want = open_docx(result).paragraphs, open_docx(expected).paragraphs
    if len(got) != len(want):
        return Score(0.0, f"{len(got)} paragraphs != {len(want)}")
    for index, (a, b) in enumerate(zip(got, want, strict=True)):
        if a.paragraph_format.line_spacing != b.paragraph_format.line_spacing:
            return Score(0.0, f"paragraph {index + 1}: line spacing {a.paragraph_format.line_spacing} != "
                              f"{b.paragraph_format.line_spacing}")
    return Score(1.0, f"same line spacing in all {len(got)} paragraphs")


@metric("has_page_numbers_in_footers")
def has_page_numbers_in_footers(result: str | None, expected: Any = None, **options: Any) -> Score:
    """1 when the first footer paragraph of every section shows a digit (a page number), else 0."""
    if result is None:
        return NO_RESULT
    for index, section in enumerate(open_docx(result).sections):
        paragraphs = section.footer.paragraphs
        text = paragraphs[0].text if paragraphs else ""
        if not any(char.isdigit() for char in text):
            return Score(0.0, f"section {index + 1}: footer {text!r} shows no page number")
    return Score(1.0, "every section's footer shows a page number")


@metric("compare_font_names")
def compare_font_names(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when every run of every paragraph is set in ``rules["font_name"]``, else 0."""
    if result is None:
        return NO_RESULT
    font = rules_of(rules, "{'font_name': ...}").get("font_name")
    for paragraph in open_docx(result).paragraphs:
        for run in paragraph.runs:
            if run.font.name != font:
                return Score(0.0, f"run {short(run.text)} is in {run.font.name!r}, not {font!r}")
    return Score(1.0, f"every run is in {font!r}")


@metric("compare_docx_tables")
def compare_docx_tables(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when both documents have as many tables, each of the same size and the same (stripped) cell texts."""
    if result is None or expected is None:
        return NO_RESULT
    got, want = open_docx(result).tables, open_docx(expected).tables
    if len(got) != len(want):
        return Score(0.0, f"{len(got)} tables != {len(want)}")
    for number, (a, b) in enumerate(zip(got, want, strict=True), start=1):
        if (len(a.rows), len(a.columns)) != (len(b.rows), len(b.columns)):
            return Score(0.0, f"table {number}: {len(a.rows)}x{len(a.columns)} != {len(b.rows)}x{len(b.columns)}")
        for row, column in itertools.product(range(len(a.rows)), range(len(a.columns))):
            left, right = a.cell(row, column).text.strip(), b.cell(row, column).text.strip()
            if left != right:
                return Score(0.0, f"table {number} row {row + 1} column {column + 1}: {left!r} != {right!r}")
    return Score(1.0, f"all {len(got)} tables match")


@metric("is_first_line_centered")
def is_first_line_centered(result: str | None, expected: Any = None, **options: Any) -> Score:
    """1 when the document's first paragraph is centred, else 0."""
    if result is None:
        return NO_RESULT
    paragraphs = open_docx(result).paragraphs
    if not paragraphs:
        return Score(0.0, "the document has no paragraph")
    alignment = paragraphs[0].paragraph_format.alignment
    return verdict(alignment == WD_PARAGRAPH_ALIGNMENT.CENTER, "first line centred",
                   f"first line aligned {alignment}")


@metric("contains_page_break")
def contains_page_break(result: str | None, rules: Any = None, **options: Any) -> Score:
    """1 when the document has a page break (exactly ``rules["page_break_count"]`` when given), else 0."""
    if result is None:
        return NO_RESULT
    wanted = rules.get("page_break_count") if isinstance(rules, dict) else None
    breaks = sum(1 for paragraph in open_docx(result).paragraphs for run in paragraph.runs
                 for br in run.element.findall(qn("w:br")) if br.get(qn("w:type")) == "page")
    if wanted is not None:
        return verdict(breaks == wanted and breaks > 0, f"{breaks} page breaks", f"{breaks} page breaks, not {wanted}")
    return verdict(breaks > 0, f"{breaks} page breaks", "no page break")


@metric("compare_subscript_contains")
def compare_subscript_contains(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when some run is subscript in both documents at the same paragraph and run position, else 0."""
    if result is None or expected is None:
        return NO_RESULT
    for a, b in zip(open_docx(result).paragraphs, open_docx(expected).paragraphs, strict=False):
        for run_a, run_b in zip(a.runs, b.runs, strict=False):
            if run_a.font.subscript and run_b.font.subscript:
                return Score(1.0, f"{run_a.text!r} is subscript in both")
    return Score(0.0, "no run is subscript where the expected document has one")


@metric("compare_init_lines")
def compare_init_lines(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when the paragraphs both documents have (the shorter one's count) are equal, else 0."""
    if result is None or expected is None:
        return NO_RESULT
    got = [p.text for p in open_docx(result).paragraphs]
    want = [p.text for p in open_docx(expected).paragraphs]
    count = min(len(got), len(want))
    return verdict(got[:count] == want[:count], f"first {count} paragraphs match",
                   first_difference(got[:count], want[:count], "paragraph"))


@metric("evaluate_strike_through_last_paragraph")
def evaluate_strike_through_last_paragraph(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when the documents hold the same text and every run of the result's last paragraph is struck through."""
    if result is None or expected is None:
        return NO_RESULT
    if (differs := same_text(result, expected)) is not None:
        return differs
    paragraphs = open_docx(result).paragraphs
    if not paragraphs:
        return Score(0.0, "the document has no paragraph")
    plain = [run.text for run in paragraphs[-1].runs if not run.font.strike]
    return verdict(not plain, "the last paragraph is struck through", f"runs {short(plain)} are not struck through")


@metric("fuzzy_place_math")
def fuzzy_place_math(result: str | None, rules: Any, **options: Any) -> Score:
    """The document must hold exactly three words (whitespace-separated, e.g. three addresses written without
    spaces); each scores its best similarity (2 M / T) to one of ``rules["expected"]``, and the score is their
    mean."""
    answers = expected_of(rules)
    if not isinstance(answers, list) or not answers:
        raise ValueError(f"rules['expected'] must list the accepted answers, got {short(answers)}")
    if result is None:
        return NO_RESULT
    words = [word for text in paragraph_texts(result) for word in text.split()]
    if len(words) != 3:
        return Score(0.0, f"{len(words)} entries, not 3: {short(words)}")
    value = sum(max(similarity(word, answer) for answer in answers) for word in words) / 3
    return Score(value, f"the three entries match {value:.3f}")
