"""Metrics (and a getter) on answers an agent writes into files, with the rules of OSWorld's ``general.py``,
``vscode.py``, ``table.py`` and ``getters/file.py``: a number in a text file, timed report lines, extracted code,
places listed in a document, cities filled into a sheet, a sheet's last row.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

from step_envs.checkers.docs import paragraph_texts
from step_envs.checkers.files import read_text
from step_envs.checkers.general import expected_of, first_difference, similarity, verdict
from step_envs.checkers.getters import fetch_env_file, text_of
from step_envs.checkers.registry import NO_RESULT, CheckContext, Score, getter, metric, short
from step_envs.checkers.spreadsheet import load_book, open_workbook

_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)")


@metric("check_line_number")
def check_line_number(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when as many lines of the text file as ``rules["expected"]`` hold a time of day (``HH:MM:SS``)."""
    wanted = int(expected_of(rules))
    if result is None or not Path(result).is_file():
        return NO_RESULT
    count = sum(1 for line in read_text(result).splitlines() if _CLOCK.search(line))
    return verdict(count == wanted, f"{count} timed lines", f"{count} timed lines, not {wanted}")


@metric("compare_result_files")
def compare_result_files(result: str | None, expected: str | None, **options: Any) -> Score:
    """The answer files' texts (stripped): when the expected one is a number, 1 if the result contains it as text
    or is a number within 1e-4 of it; otherwise 1 if the texts are equal."""
    if result is None or expected is None:
        return NO_RESULT
    got, want = read_text(result).strip(), read_text(expected).strip()
    try:
        number = float(want)
        if want in got:
            return Score(1.0, f"the answer holds {want}")
        return verdict(abs(float(got) - number) < 1e-4, f"{got} is {want}", f"{short(got)} is not {want}")
    except ValueError:
        return verdict(got == want, "same answer", f"{short(got)} != {short(want)}")


def _code_lines(text: str) -> list[str]:
    """The non-blank lines of a Python file, tabs as 4 spaces, trailing blanks cut; a shebang or coding line among
    the first three lines is dropped."""
    lines = text.splitlines()
    start = 0
    while start < min(3, len(lines)) and lines[start].strip().startswith(("#!", "# -*- coding:", "# coding:",
                                                                          "# coding=")):
        start += 1
    return [line.expandtabs(4).rstrip() for line in lines[start:] if line.strip()]


@metric("compare_python_pure_text")
def compare_python_pure_text(result: str | None, expected: str | None, **options: Any) -> Score:
    """1 when the two Python files hold the same non-blank lines (see :func:`_code_lines`)."""
    if result is None or expected is None:
        return NO_RESULT
    got, want = _code_lines(read_text(result)), _code_lines(read_text(expected))
    return verdict(got == want, f"same {len(got)} code lines", first_difference(got, want, "code line"))


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


def _city(value: Any) -> str:
    """Lower case, accents and punctuation removed, for matching city names loosely."""
    text = unicodedata.normalize("NFKD", "" if value is None else str(value))
    text = "".join(char for char in text if not unicodedata.combining(char))
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


CITY_CELLS = "C2:C22"


@metric("compare_conference_city_in_order")
def compare_conference_city_in_order(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when each cell of the active sheet's :data:`CITY_CELLS`, in order, contains (loosely, see :func:`_city`)
    one of the names accepted for its place in ``rules["expected"]`` (a name, or a list of names)."""
    accepted = expected_of(rules)
    if not isinstance(accepted, list):
        raise ValueError(f"rules['expected'] must list a city (or a list of names) per row, got {short(accepted)}")
    if result is None:
        return NO_RESULT
    workbook = open_workbook(result)
    cells = [row[0].value for row in workbook.active[CITY_CELLS]]
    if len(accepted) < len(cells):
        return Score(0.0, f"rules list {len(accepted)} cities for {len(cells)} cells")
    for number, (cell, names) in enumerate(zip(cells, accepted, strict=False), start=2):
        candidates = [names] if isinstance(names, str) else names
        if not any(_city(name) and _city(name) in _city(cell) for name in candidates):
            return Score(0.0, f"C{number} is {cell!r}, not {short(names)}")
    return Score(1.0, f"all {len(cells)} cities in order")


@getter("content_from_vm_file")
def content_from_vm_file(ctx: CheckContext, config: dict[str, Any]) -> list[str] | None:
    """A piece of a file in the env, fetched into the cache: ``file_type`` ``xlsx`` with ``file_content``
    ``last_row`` gives the first sheet's last non-empty row as texts (empty cells ``"nan"``, as pandas prints
    them); None when the file is missing."""
    path, kind, part = text_of(config, "path"), text_of(config, "file_type"), text_of(config, "file_content")
    if (kind, part) != ("xlsx", "last_row"):
        raise ValueError(f"content_from_vm_file reads file_type 'xlsx' with file_content 'last_row', got "
                         f"{kind!r}, {part!r}")
    local = fetch_env_file(ctx, path, Path(path).name)
    if local is None:
        return None
    rows = [row for row in next(iter(load_book(local).values()), []) if any(v is not None for v in row)]
    if len(rows) < 2:
        return None  # a header row alone has no data row
    return ["nan" if value is None else str(value) for value in rows[-1]]
