"""Metrics on tables, CSV files and spreadsheets, with the rules of OSWorld's ``metrics/table.py``.

Spreadsheets are read by :mod:`step_envs.checkers.metrics.spreadsheet`: cell values as the app last computed them,
styles and panes by openpyxl, printed values from LibreOffice's CSV export.
"""

from __future__ import annotations

import csv
import itertools
import operator
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.cell_range import MultiCellRange
from openpyxl.worksheet.worksheet import Worksheet

from step_envs.checkers.metrics.scoring import (
    expected_of,
    first_difference,
    read_text,
    rules_with,
    similarity,
    verdict,
)
from step_envs.checkers.metrics.sheet_parts import (
    STYLE_PROPS,
    cell_style,
    first_style_difference,
    sheet_charts,
    sheet_pivots,
    sheet_styles,
    validation_attribute,
)
from step_envs.checkers.metrics.spreadsheet import Book, book_values, open_workbook, printed_sheet
from step_envs.checkers.registry import NO_RESULT, Score, metric, short


class _Mismatch(Exception):
    """A table rule failed; the message says where."""


def _cell_name(row: int, column: int) -> str:
    return f"{get_column_letter(column + 1)}{row + 1}"


@dataclass
class _Tables:
    """The two workbooks a ``compare_table`` call reads, each opened once; values derived on first use."""

    result_path: str
    expected_path: str | None
    result: Workbook
    expected: Workbook | None
    _values: dict[str, Book] = field(default_factory=dict)

    def sheet(self, index: int | str) -> tuple[str, str, str]:
        """OSWorld's sheet index: an int or ``RI<n>`` (n-th sheet of the result), ``RN<name>`` (by name), ``EI<n>``
        and ``EN<name>`` (of the expected workbook). Returns ``(side, sheet name, label for reasons)``."""
        text = f"RI{index}" if isinstance(index, int) else str(index)
        side, how, key = text[:1], text[1:2], text[2:]
        if side not in "RE" or how not in "IN" or len(text) < 3 or (how == "I" and not key.isdigit()):
            raise ValueError(f"sheet index {index!r}: use an int, RI<n>, RN<name>, EI<n> or EN<name>")
        owner = "result" if side == "R" else "expected"
        workbook = self.workbook(owner)
        names = workbook.sheetnames
        if how == "I":
            if not int(key) < len(names):
                raise _Mismatch(f"{owner} has no sheet #{key} (sheets: {names})")
            key = names[int(key)]
        if key not in names:
            raise _Mismatch(f"{owner} has no sheet {key!r} (sheets: {names})")
        return owner, key, f"{owner}[{key!r}]"

    def workbook(self, owner: str) -> Workbook:
        workbook = self.result if owner == "result" else self.expected
        if workbook is None:
            raise ValueError("the rule reads the expected workbook, but the evaluator gives none")
        return workbook

    def rows(self, owner: str, name: str) -> list[list[Any]]:
        if owner not in self._values:
            self._values[owner] = book_values(self.workbook(owner))
        return self._values[owner][name]

    def worksheet(self, owner: str, name: str) -> Worksheet:
        return self.workbook(owner)[name]

    def path(self, owner: str) -> str:
        path = self.result_path if owner == "result" else self.expected_path
        assert path is not None  # workbook(owner) exists, so its path does
        return path


def _cell(rows: list[list[Any]], coordinate: str) -> Any:
    row, column = coordinate_to_tuple(coordinate)
    return rows[row - 1][column - 1] if row <= len(rows) and column <= len(rows[row - 1]) else None


def _grid_difference(left: list[list[Any]], right: list[list[Any]], precision: int) -> str | None:
    """The first cell, in reading order, whose values differ (floats rounded to ``precision`` digits), or None."""

    def value(cell: Any) -> Any:
        return round(cell, precision) if isinstance(cell, float) else cell

    for r, (row_a, row_b) in enumerate(itertools.zip_longest(left, right, fillvalue=[])):
        for c, (a, b) in enumerate(itertools.zip_longest(row_a, row_b)):
            if value(a) != value(b):
                return f"cell {_cell_name(r, c)}: {short(a)} != {short(b)}"
    return None


def _pair(rule: dict[str, Any], tables: _Tables) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    return tables.sheet(rule["sheet_idx0"]), tables.sheet(rule["sheet_idx1"])


def _sheet_name(rule: dict[str, Any], tables: _Tables) -> None:
    result = tables.result.sheetnames
    expected = tables.workbook("expected").sheetnames
    if result != expected:
        raise _Mismatch(f"sheet names {result} != {expected}")


def _sheet_data(rule: dict[str, Any], tables: _Tables) -> None:
    (owner0, name0, label0), (owner1, name1, label1) = _pair(rule, tables)
    difference = _grid_difference(tables.rows(owner0, name0), tables.rows(owner1, name1),
                                  int(rule.get("precision", 4)))
    if difference:
        raise _Mismatch(f"{label0} vs {label1}: {difference}")


def _sheet_print(rule: dict[str, Any], tables: _Tables) -> None:
    (owner0, name0, label0), (owner1, name1, label1) = _pair(rule, tables)
    lines0, lines1 = printed_sheet(tables.path(owner0), name0), printed_sheet(tables.path(owner1), name1)
    if rule.get("ignore_case", False):
        lines0, lines1 = [line.lower() for line in lines0], [line.lower() for line in lines1]
    if lines0 != lines1:
        raise _Mismatch(f"printed {label0} vs {label1}: {first_difference(lines0, lines1, 'row')}")


_FUZZY: dict[str, Callable[[str, str, dict[str, Any]], bool]] = {
    "exact_match": lambda a, b, rule: a == b,
    "includes": lambda a, b, rule: b in a,
    "included_by": lambda a, b, rule: a in b,
    "fuzzy_match": lambda a, b, rule: similarity(a, b) * 100 >= float(rule.get("threshold", 85.0)),
}


def _fuzzy_text(value: Any, rule: dict[str, Any]) -> str:
    text = str(value)
    for old, new in rule.get("normalization", []):
        text = text.replace(old, new)
    text = text.lstrip(rule["trim_leadings"]) if "trim_leadings" in rule else text
    text = text.rstrip(rule["trim_trailings"]) if "trim_trailings" in rule else text
    text = "".join(ch for ch in text if ch not in rule.get("ignore_chars", ""))
    return text.lower() if rule.get("ignore_case", False) else text


def _sheet_fuzzy(rule: dict[str, Any], tables: _Tables) -> None:
    (owner0, name0, label0), (owner1, name1, label1) = _pair(rule, tables)
    rows0, rows1 = tables.rows(owner0, name0), tables.rows(owner1, name1)
    for part in rule["rules"]:
        if part["type"] not in _FUZZY:
            raise ValueError(f"sheet_fuzzy type {part['type']!r} is not supported; use one of {sorted(_FUZZY)}")
        ranges = part["range"] if isinstance(part["range"], list) else [part["range"]]
        for text in itertools.chain.from_iterable(r.split() for r in ranges):
            min_col, min_row, max_col, max_row = range_boundaries(text)
            for row, column in itertools.product(range(min_row - 1, max_row), range(min_col - 1, max_col)):
                name = _cell_name(row, column)
                a, b = (_fuzzy_text(_cell(rows, name), part) for rows in (rows0, rows1))
                if not _FUZZY[part["type"]](a, b, part):
                    raise _Mismatch(f"{label0} vs {label1} cell {name} fails {part['type']}: {short(a)}, {short(b)}")


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
}


def match_rule(value: Any, rule: dict[str, Any]) -> bool:
    """OSWorld's ``{"method", "ref"}`` test of one value: ``eq``/``ne``/``lt``/``le``/``gt``/``ge`` against ``ref``;
    ``re`` or ``re.I.M...`` (regex search); ``approx:T`` (``|value - ref| <= T``); ``range.XY`` with X, Y in
    ``t`` (strict) or ``e`` (inclusive), e.g. ``range.te``: ``ref[0] < value <= ref[1]``; ``str_list_eq`` /
    ``str_set_eq`` (the comma-separated text equals ``ref`` as a list / set)."""
    method, ref = rule["method"], rule.get("ref")
    try:
        if method in _COMPARISONS:
            return bool(_COMPARISONS[method](value, ref))
        if method == "re" or method.startswith("re."):
            flags = re.RegexFlag(0)
            for name in method.split(".")[1:]:
                flags |= re.RegexFlag[name]
            return isinstance(value, str) and re.search(ref, value, flags) is not None
        if method.startswith("approx:"):
            return abs(float(value) - float(ref)) <= float(method.split(":", 1)[1])
        if re.fullmatch(r"range\.[te][te]", method):
            low = operator.lt if method[6] == "t" else operator.le
            high = operator.lt if method[7] == "t" else operator.le
            return bool(low(ref[0], value) and high(value, ref[1]))
        if method in ("str_list_eq", "str_set_eq"):
            container = list if method == "str_list_eq" else set
            return container(str(value).strip("\"'").split(",")) == container(ref)
        if method == "spreadsheet_range":
            ranges = value if isinstance(value, MultiCellRange) else MultiCellRange(str(value))
            inner, outer = MultiCellRange(ref[0]), MultiCellRange(ref[1])
            return all(part in ranges for part in inner) and all(part in outer for part in ranges)
    except (TypeError, ValueError):
        return False
    raise ValueError(f"rule method {method!r} is not supported; use eq, ne, lt, le, gt, ge, re[.FLAGS], approx:T, "
                     "range.XY, str_list_eq, str_set_eq or spreadsheet_range")


CELL_PROPS = ("value", *STYLE_PROPS)


def _cell_prop(tables: _Tables, owner: str, name: str, coordinate: str, prop: str) -> Any:
    if prop == "value":
        return _cell(tables.rows(owner, name), coordinate)
    if prop not in STYLE_PROPS:
        raise ValueError(f"check_cell property {prop!r} is not supported; use one of {CELL_PROPS}")
    return cell_style(prop, tables.worksheet(owner, name)[coordinate])


def _check_cell(rule: dict[str, Any], tables: _Tables) -> None:
    owner, name, label = tables.sheet(rule["sheet_idx"])
    for prop, test in rule["props"].items():
        value = _cell_prop(tables, owner, name, rule["coordinate"], prop)
        if not match_rule(value, test):
            raise _Mismatch(f"{label} cell {rule['coordinate']} {prop}: {short(value)} fails {test}")


def _freeze_key(sheet: Worksheet) -> tuple[Any, ...]:
    """Where panes are frozen: the frozen column and row counts, which (unlike ``topLeftCell``) do not change when
    the view scrolls."""
    pane = sheet.sheet_view.pane
    if pane is None:
        return ("none",)
    state = (pane.state or "").lower()
    split = (int(pane.xSplit or 0), int(pane.ySplit or 0))
    return ("frozen", *split) if state in ("frozen", "frozensplit") else ("other", *split, pane.topLeftCell)


def _freeze(rule: dict[str, Any], tables: _Tables) -> None:
    (owner0, name0, label0), (owner1, name1, label1) = _pair(rule, tables)
    key0, key1 = (_freeze_key(tables.worksheet(o, n)) for o, n in ((owner0, name0), (owner1, name1)))
    if key0 != key1:
        raise _Mismatch(f"frozen panes of {label0} {key0} != {label1} {key1}")


def _zoom(rule: dict[str, Any], tables: _Tables) -> None:
    owner, name, label = tables.sheet(rule["sheet_idx"])
    zoom = tables.worksheet(owner, name).sheet_view.zoomScale or 100
    if not match_rule(zoom, rule):
        raise _Mismatch(f"zoom of {label} is {zoom}, fails {rule['method']} {rule.get('ref')}")


def _dimensions(rule: dict[str, Any], tables: _Tables, kind: str) -> None:
    """``row_props``/``col_props``: the listed properties (``hidden``, ``height``, ``width``, ...) of every row or
    column with its own settings are equal in both sheets."""
    props = list(rule.get("props", []))
    (owner0, name0, label0), (owner1, name1, label1) = _pair(rule, tables)

    def settings(owner: str, name: str) -> dict[Any, dict[str, Any]]:
        holder = getattr(tables.worksheet(owner, name), f"{kind}_dimensions")
        return {key: {prop: getattr(dims, prop) for prop in props} for key, dims in holder.items()}

    left, right = settings(owner0, name0), settings(owner1, name1)
    for key in sorted(set(left) | set(right), key=str):
        if left.get(key) != right.get(key):
            raise _Mismatch(f"{kind} {key} of {label0} {left.get(key)} != {label1} {right.get(key)}")


def _style(rule: dict[str, Any], tables: _Tables) -> None:
    (owner0, name0, label0), (owner1, name1, label1) = _pair(rule, tables)
    props = list(rule.get("props", []))
    styles0, styles1 = (sheet_styles(tables.worksheet(owner, name), tables.rows(owner, name), props)
                        for owner, name in ((owner0, name0), (owner1, name1)))
    difference = first_style_difference(styles0, styles1)
    if difference:
        raise _Mismatch(f"styles {props} of {label0} vs {label1}: {difference}")


def _chart(rule: dict[str, Any], tables: _Tables) -> None:
    (owner0, name0, label0), (owner1, name1, label1) = _pair(rule, tables)
    props = list(rule.get("chart_props", []))
    charts0, charts1 = (sheet_charts(tables.worksheet(owner, name), props)
                        for owner, name in ((owner0, name0), (owner1, name1)))
    if charts0 != charts1:
        raise _Mismatch(f"charts of {label0} {short(charts0, 200)} != {label1} {short(charts1, 200)}")


def _pivot_table(rule: dict[str, Any], tables: _Tables) -> None:
    (owner0, name0, label0), (owner1, name1, label1) = _pair(rule, tables)
    props = list(rule.get("pivot_props", []))
    pivots0, pivots1 = (sheet_pivots(tables.worksheet(owner, name), props)
                        for owner, name in ((owner0, name0), (owner1, name1)))
    if pivots0 != pivots1:
        raise _Mismatch(f"pivot tables of {label0} {short(pivots0, 200)} != {label1} {short(pivots1, 200)}")


def _data_validation(rule: dict[str, Any], tables: _Tables) -> None:
    """At least as many validations as ``dv_props`` patterns, and each validation matches some pattern (every
    attribute's ``{"method", "ref"}``, see :func:`match_rule`)."""
    owner, name, label = tables.sheet(rule["sheet_idx"])
    validations = tables.worksheet(owner, name).data_validations.dataValidation
    patterns = rule["dv_props"]
    if len(validations) < len(patterns):
        raise _Mismatch(f"{label} has {len(validations)} data validations, fewer than the {len(patterns)} expected")
    for validation in validations:
        if not any(all(match_rule(validation_attribute(validation, attribute), test)
                       for attribute, test in pattern.items()) for pattern in patterns):
            raise _Mismatch(f"{label}: data validation of {validation.sqref} ({validation.type}, "
                            f"{short(validation.formula1)}) matches no expected pattern")


_TABLE_RULES: dict[str, Callable[[dict[str, Any], _Tables], None]] = {
    "sheet_name": _sheet_name, "sheet_data": _sheet_data, "sheet_print": _sheet_print, "sheet_fuzzy": _sheet_fuzzy,
    "check_cell": _check_cell, "freeze": _freeze, "zoom": _zoom,
    "row_props": lambda rule, tables: _dimensions(rule, tables, "row"),
    "col_props": lambda rule, tables: _dimensions(rule, tables, "column"),
    "style": _style, "chart": _chart, "pivot_table": _pivot_table, "data_validation": _data_validation,
}


def table_rule_problems(options: dict[str, Any]) -> list[str]:
    """The rules of a ``compare_table`` options dict that are not read here (filter, sparkline) and ``check_cell``
    properties that are not."""
    rules = options.get("rules")
    if rules is None:
        return []
    if not isinstance(rules, list) or not all(isinstance(rule, dict) for rule in rules):
        return [f"'rules' must be a list of rule objects, got {short(rules)}"]
    problems = [f"table rule {rule.get('type')!r} is not supported" for rule in rules
                if rule.get("type") not in _TABLE_RULES]
    for rule in rules:
        if rule.get("type") == "check_cell" and isinstance(rule.get("props"), dict):
            problems += [f"check_cell property {prop!r} is not supported" for prop in rule["props"]
                         if prop not in CELL_PROPS]
    return problems


@metric("compare_table", check_options=table_rule_problems)
def compare_table(result: str | None, expected: str | None = None, rules: list[dict[str, Any]] | None = None,
                  **options: Any) -> Score:
    """1 when every rule passes, else 0 (rules run in order, the first failure is the reason).

    Without ``rules``: same sheet names, and every sheet's cell values equal to the expected sheet at the same index.
    Rules (OSWorld's): ``sheet_name`` (same sheet names in the same order); ``sheet_data`` (``sheet_idx0`` and
    ``sheet_idx1`` have equal values in every cell, floats rounded to ``precision``, default 4); ``sheet_print``
    (the two sheets print the same text, number formats applied; ``ignore_case``; see
    :func:`~step_envs.checkers.metrics.spreadsheet.printed_sheet`);
    ``sheet_fuzzy`` (cells in ``range`` compared as text by
    ``exact_match``/``includes``/``included_by``/``fuzzy_match`` with ``threshold`` in 0-100, after
    ``normalization``, ``trim_leadings``, ``trim_trailings``, ``ignore_chars``, ``ignore_case``); ``check_cell``
    (``props: {prop: {"method", "ref"}}`` at ``coordinate``, prop one of :data:`CELL_PROPS`, see
    :func:`match_rule`); ``freeze`` (same frozen panes); ``zoom`` (``method``/``ref`` on the sheet's zoom);
    ``row_props``/``col_props`` (same ``props`` of every row/column); ``style`` (every cell has the same style
    ``props``, conditional formats applied, see
    :func:`~step_envs.checkers.metrics.sheet_parts.sheet_styles`); ``chart``
    (the same charts by data source, with the same ``chart_props``); ``pivot_table`` (the same pivot tables by
    source, with the same ``pivot_props``); ``data_validation`` (``sheet_idx``'s validations each match one of the
    ``dv_props`` patterns). Filter and sparkline rules are not read here."""
    if result is None:
        return NO_RESULT
    problems = table_rule_problems({"rules": rules})
    if problems:
        raise ValueError("; ".join(problems) + f"; rules read here: {sorted(_TABLE_RULES)}")
    tables = _Tables(result, expected, open_workbook(result), open_workbook(expected) if expected else None)
    if rules is None:
        expected_names = tables.workbook("expected").sheetnames
        rules = [{"type": "sheet_name"}] + [{"type": "sheet_data", "sheet_idx0": f"RI{i}", "sheet_idx1": f"EI{i}"}
                                            for i in range(len(expected_names))]
    for rule in rules:
        try:
            _TABLE_RULES[rule["type"]](rule, tables)
        except _Mismatch as mismatch:
            return Score(0.0, str(mismatch))
    return Score(1.0, f"all {len(rules)} table rules pass")


@metric("check_csv")
def check_csv(result: str | None, rules: Any, **options: Any) -> Score:
    """1 when every row pattern of ``rules["expect"]`` matches some CSV record and no pattern of
    ``rules["unexpect"]`` matches any, else 0. A pattern ``{column: text}`` matches a record (a dict read with the
    header row) holding exactly that text in every named column."""
    if result is None:
        return NO_RESULT
    rules = rules_with(rules, ("expect", "unexpect"), "{'expect': [row, ...], 'unexpect': [row, ...]}")
    with open(result, newline="", encoding="utf-8", errors="replace") as handle:
        records = list(csv.DictReader(handle))

    def matches(pattern: dict[str, Any], record: dict[str, Any]) -> bool:
        return all(key in record and record[key] == value for key, value in pattern.items())

    for pattern in rules.get("expect", []):
        if not any(matches(pattern, record) for record in records):
            return Score(0.0, f"no row matches {short(pattern)}")
    for pattern in rules.get("unexpect", []):
        hits = [record for record in records if matches(pattern, record)]
        if hits:
            return Score(0.0, f"row {short(hits[0])} matches unexpected {short(pattern)}")
    return Score(1.0, f"{len(rules.get('expect', []))} expected rows found, no unexpected row")


@metric("compare_csv")
def compare_csv(result: str | None, expected: str | None, strict: bool = True, ignore_case: bool = False,
                **options: Any) -> Score:
    """1 when the two CSV files have the same lines, else 0. ``strict=False`` strips each line's ends first;
    ``ignore_case`` lower-cases both."""
    if result is None or expected is None:
        return NO_RESULT

    def lines(path: str) -> list[str]:
        found = read_text(path).splitlines()
        found = found if strict else [line.strip() for line in found]
        return [line.lower() for line in found] if ignore_case else found

    got, want = lines(result), lines(expected)
    return verdict(got == want, "same lines", first_difference(got, want, "line"))


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
