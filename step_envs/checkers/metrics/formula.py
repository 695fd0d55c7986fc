"""A small evaluator of spreadsheet formulas, for the conditions of conditional formats.

OSWorld's ``style`` rule asks which cells a conditional format colours, so it evaluates the format's formulas. This
reads the common subset: numbers, ``"text"``, ``TRUE``/``FALSE``, cell references and ranges of the same sheet
(``A1``, ``$A$1:$B$9``), the operators ``= <> < > <= >= & + - * / ^`` (and unary ``-``), parentheses, and the
functions in :data:`FUNCTIONS`. Anything else raises :class:`FormulaError`; a format whose formula cannot be read
colours no cell (as in OSWorld, which skips formulas its parser rejects).
"""

from __future__ import annotations

import datetime
import operator
import re
from collections.abc import Callable
from typing import Any

from openpyxl.utils import column_index_from_string

Lookup = Callable[[int, int], Any]
"""The value of the cell at (row, column), both 1-based; None for an empty cell."""

_TOKEN = re.compile(r"""\s*(?:
    (?P<number>\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"]|"")*")
  | (?P<range>\$?[A-Za-z]{1,3}\$?\d+(?::\$?[A-Za-z]{1,3}\$?\d+)?)(?![\w(])
  | (?P<name>[A-Za-z][A-Za-z0-9_.]*)
  | (?P<op><=|>=|<>|[-+*/^&=<>(),;])
)""", re.X)
_CELL = re.compile(r"(\$?)([A-Za-z]{1,3})(\$?)(\d+)")
_EPOCH = datetime.datetime(1899, 12, 30)


class FormulaError(ValueError):
    """A formula uses something this evaluator does not read."""


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if value is None:
        return 0.0
    if isinstance(value, datetime.datetime | datetime.date):
        moment = value if isinstance(value, datetime.datetime) else datetime.datetime.combine(value, datetime.time())
        return (moment - _EPOCH).total_seconds() / 86400
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise FormulaError(f"{value!r} is not a number") from exc


def _numbers(args: list[Any]) -> list[float]:
    """The numbers among the arguments, ranges flattened; text and blanks in ranges are skipped (as Calc does)."""
    found = []
    for arg in args:
        for value in (arg if isinstance(arg, list) else [arg]):
            if isinstance(value, int | float | datetime.date) and not isinstance(value, bool):
                found.append(_number(value))
    return found


def _weekday(value: Any, kind: Any = 1) -> int:
    """Calc's WEEKDAY: type 1 Sunday=1..Saturday=7, type 2 Monday=1..Sunday=7, type 3 Monday=0..Sunday=6."""
    day = (_EPOCH + datetime.timedelta(days=int(_number(value)))).weekday()  # Monday = 0
    kind = int(_number(kind))
    if kind == 1:
        return (day + 1) % 7 + 1
    if kind == 2:
        return day + 1
    if kind == 3:
        return day
    raise FormulaError(f"WEEKDAY type {kind} is not read here; use 1, 2 or 3")


def _truth(value: Any) -> bool:
    return bool(_number(value)) if not isinstance(value, str) else value.upper() == "TRUE"


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "MAX": lambda *a: max(_numbers(list(a)), default=0.0),
    "MIN": lambda *a: min(_numbers(list(a)), default=0.0),
    "SUM": lambda *a: sum(_numbers(list(a))),
    "AVERAGE": lambda *a: sum(_numbers(list(a))) / len(_numbers(list(a))),
    "COUNT": lambda *a: len(_numbers(list(a))),
    "ABS": lambda x: abs(_number(x)),
    "MOD": lambda x, y: _number(x) % _number(y),
    "ROUND": lambda x, digits=0: round(_number(x), int(_number(digits))),
    "AND": lambda *a: all(_truth(v) for arg in a for v in (arg if isinstance(arg, list) else [arg])),
    "OR": lambda *a: any(_truth(v) for arg in a for v in (arg if isinstance(arg, list) else [arg])),
    "NOT": lambda x: not _truth(x),
    "IF": lambda test, yes=True, no=False: yes if _truth(test) else no,
    "ISBLANK": lambda x: x is None,
    "ISNUMBER": lambda x: isinstance(x, int | float) and not isinstance(x, bool),
    "ISTEXT": lambda x: isinstance(x, str),
    "LEN": lambda x: len("" if x is None else str(x)),
    "UPPER": lambda x: str(x or "").upper(),
    "LOWER": lambda x: str(x or "").lower(),
    "WEEKDAY": _weekday,
}


def _compare(symbol: str, left: Any, right: Any) -> bool:
    """Calc's comparison: text case-insensitively, an empty cell as 0 or "", numbers below text."""
    if left is None:
        left = "" if isinstance(right, str) else 0.0
    if right is None:
        right = "" if isinstance(left, str) else 0.0
    if isinstance(left, str) != isinstance(right, str):
        left, right = (1, 0) if isinstance(left, str) else (0, 1)
    elif isinstance(left, str):
        left, right = left.lower(), right.lower()
    else:
        left, right = _number(left), _number(right)
    return {"=": operator.eq, "<>": operator.ne, "<": operator.lt, ">": operator.gt, "<=": operator.le,
            ">=": operator.ge}[symbol](left, right)


def _tokens(formula: str) -> list[tuple[str, str]]:
    text, found, at = formula.strip().removeprefix("="), [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            if text[at:].strip():
                raise FormulaError(f"cannot read {text[at:at + 20]!r} in formula {formula!r}")
            break
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        at = match.end()
    return found


class _Parser:
    """Recursive descent over the tokens, evaluating as it goes."""

    def __init__(self, tokens: list[tuple[str, str]], lookup: Lookup, shift: tuple[int, int]) -> None:
        self.tokens, self.lookup, self.shift, self.at = tokens, lookup, shift, 0

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise FormulaError("the formula ends too early")
        self.at += 1
        return self.tokens[self.at - 1]

    def expect(self, symbol: str) -> None:
        if self.take()[1] != symbol:
            raise FormulaError(f"expected {symbol!r}")

    def comparison(self) -> Any:
        value = self.concat()
        while self.peek() in ("=", "<>", "<", ">", "<=", ">="):
            symbol = self.take()[1]
            value = _compare(symbol, value, self.concat())
        return value

    def concat(self) -> Any:
        value = self.additive()
        while self.peek() == "&":
            self.take()
            right = self.additive()
            value = ("" if value is None else str(value)) + ("" if right is None else str(right))
        return value

    def additive(self) -> Any:
        value = self.term()
        while self.peek() in ("+", "-"):
            symbol = self.take()[1]
            right = _number(self.term())
            value = _number(value) + right if symbol == "+" else _number(value) - right
        return value

    def term(self) -> Any:
        value = self.power()
        while self.peek() in ("*", "/"):
            symbol = self.take()[1]
            right = _number(self.power())
            if symbol == "/" and right == 0:
                raise FormulaError("division by zero")
            value = _number(value) * right if symbol == "*" else _number(value) / right
        return value

    def power(self) -> Any:
        value = self.unary()
        while self.peek() == "^":
            self.take()
            value = _number(value) ** _number(self.unary())
        return value

    def unary(self) -> Any:
        if self.peek() in ("-", "+"):
            symbol = self.take()[1]
            value = _number(self.unary())
            return -value if symbol == "-" else value
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "number":
            return float(text)
        if kind == "string":
            return text[1:-1].replace('""', '"')
        if kind == "range":
            return self.reference(text)
        if kind == "name":
            upper = text.upper()
            if upper in ("TRUE", "FALSE") and self.peek() != "(":
                return upper == "TRUE"
            if upper not in FUNCTIONS:
                raise FormulaError(f"function {text!r} is not read here; known: {', '.join(sorted(FUNCTIONS))}")
            self.expect("(")
            args = []
            while self.peek() != ")":
                args.append(self.comparison())
                if self.peek() in (",", ";"):
                    self.take()
            self.expect(")")
            try:
                return FUNCTIONS[upper](*args)
            except (TypeError, ZeroDivisionError) as exc:
                raise FormulaError(f"{upper}: {exc}") from exc
        if text == "(":
            value = self.comparison()
            self.expect(")")
            return value
        raise FormulaError(f"unexpected {text!r}")

    def cell(self, text: str) -> tuple[int, int]:
        match = _CELL.fullmatch(text)
        assert match is not None  # the token pattern only lets cell references through
        column, row = column_index_from_string(match[2].upper()), int(match[4])
        if not match[1]:
            column += self.shift[1]
        if not match[3]:
            row += self.shift[0]
        return row, column

    def reference(self, text: str) -> Any:
        first, _, last = text.partition(":")
        if not last:
            return self.lookup(*self.cell(first))
        (row0, col0), (row1, col1) = self.cell(first), self.cell(last)
        return [self.lookup(row, column) for row in range(min(row0, row1), max(row0, row1) + 1)
                for column in range(min(col0, col1), max(col0, col1) + 1)]


def evaluate(formula: str, lookup: Lookup, shift: tuple[int, int] = (0, 0)) -> Any:
    """The value of ``formula`` (with or without its leading ``=``); relative references move by ``shift``
    (rows, columns), as a conditional format's formula written for its range's first cell moves to each cell."""
    parser = _Parser(_tokens(formula), lookup, shift)
    value = parser.comparison()
    if parser.at != len(parser.tokens):
        raise FormulaError(f"unexpected {parser.tokens[parser.at][1]!r} in formula {formula!r}")
    return value
