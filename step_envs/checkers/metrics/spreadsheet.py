"""Reading spreadsheets for the table metrics: cell values, openpyxl workbooks (styles, panes) and printed values.

A :data:`Book` is sheet name -> rows of cell values, the values a spreadsheet app last computed (formulas are not
evaluated here), positions kept (``rows[1][0]`` is cell A2).
"""

from __future__ import annotations

import csv
import itertools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.workbook.workbook import Workbook

from step_envs.checkers.metrics.office import converted
from step_envs.checkers.metrics.scoring import read_text

Book = dict[str, list[list[Any]]]
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
PRINTED_CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,UTF-8,,,,false,true,true,false,false,-1"
"""LibreOffice's CSV export of every sheet as shown (formatted), one ``<stem>-<sheet>.csv`` each: OSWorld's
postconfig makes these for its ``sheet_print`` rule."""


def _csv_cell(text: str) -> Any:
    """A CSV field as a spreadsheet imports it: a number when it reads as one, None when empty, else the text."""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text or None


def _csv_workbook(path: str) -> Workbook:
    """A one-sheet workbook named after the file (as LibreOffice names it) with the CSV's values."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = Path(path).stem[:31] or "Sheet1"
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        for row in csv.reader(handle):
            sheet.append([_csv_cell(field) for field in row])
    return workbook


def open_workbook(path: str) -> Workbook:
    """``.xlsx``/``.xlsm`` by openpyxl (cached values of formulas, styles kept), ``.ods``/``.xls`` after LibreOffice
    converts them, ``.csv`` as one sheet. Anything else, or a file openpyxl cannot read, raises ValueError."""
    suffix = Path(path).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        try:
            return openpyxl.load_workbook(path, data_only=True)
        except Exception as exc:
            raise ValueError(f"{Path(path).name} is not a readable workbook: {type(exc).__name__}: {exc}") from exc
    if suffix in (".ods", ".xls"):
        with converted(path, "xlsx") as xlsx:
            return open_workbook(str(xlsx))
    if suffix == ".csv":
        return _csv_workbook(path)
    raise ValueError(f"{Path(path).name}: spreadsheets are read from .xlsx, .xlsm, .ods, .xls or .csv")


def book_values(workbook: Workbook) -> Book:
    """Every sheet's cell values from A1 to its last used cell ("" read as empty)."""
    return {sheet.title: [[None if value == "" else value for value in row] for row in sheet.iter_rows(
        min_row=1, min_col=1, max_row=sheet.max_row, max_col=sheet.max_column, values_only=True)]
        for sheet in workbook.worksheets}


def load_book(path: str) -> Book:
    """The cell values of a spreadsheet file (see :func:`open_workbook` for the formats)."""
    workbook = open_workbook(path)
    try:
        return book_values(workbook)
    finally:
        workbook.close()


def _printed_lines(path: Path) -> list[str]:
    """The lines of a printed-values CSV, each stripped, trailing blank lines dropped (OSWorld's reading)."""
    lines = [line.strip() for line in read_text(str(path)).splitlines()]
    return list(reversed(list(itertools.dropwhile(lambda line: not line, reversed(lines)))))


def printed_sheet(path: str, sheet: str, timeout: float = 120.0) -> list[str]:
    """Sheet ``sheet`` of the spreadsheet at ``path`` as shown (number formats applied), one CSV line per row.

    OSWorld's convention: ``<stem>-<sheet>.csv`` beside the workbook, exported by the task's postconfig (or shipped
    with the expected file). When it is not there the workbook is exported here with LibreOffice; a ``.csv`` file
    is its own printed form."""
    book = Path(path)
    if book.suffix.lower() == ".csv":
        return _printed_lines(book)
    beside = book.with_name(f"{book.stem}-{sheet}.csv")
    if beside.is_file():
        return _printed_lines(beside)
    soffice = shutil.which("soffice")
    if soffice is None:
        raise RuntimeError(f"{beside.name} is missing and exporting it needs LibreOffice (soffice)")
    with tempfile.TemporaryDirectory(prefix="step-gym-print-") as folder:
        profile = (Path(folder) / "profile").as_uri()
        proc = subprocess.run([soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to",
                               PRINTED_CSV_FILTER, "--outdir", folder, str(book)],
                              capture_output=True, text=True, timeout=timeout)
        exported = Path(folder) / beside.name
        if not exported.is_file():
            raise ValueError(f"{book.name} has no sheet {sheet!r} to print ({proc.stderr.strip()[-300:]})")
        return _printed_lines(exported)
