"""compare_table's rules on what a sheet holds beyond its values (charts, pivot tables, styles with conditional
formats, data validations), and the formula evaluator behind conditional formats, on workbooks the test writes."""

import datetime
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.formatting.rule import CellIsRule, FormulaRule
from openpyxl.pivot.cache import CacheDefinition, CacheField, CacheSource, SharedItems, WorksheetSource
from openpyxl.pivot.table import DataField, FieldItem, Location, PivotField, RowColField, TableDefinition
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from step_envs.checkers import METRICS, Score
from step_envs.checkers.metrics.formula import FormulaError, evaluate
from step_envs.checkers.registry import option_problems

RED = "FFFF0000"


def compare(result: str, expected: str | None, rules: list[dict]) -> Score:
    return METRICS["compare_table"](result, expected, rules=rules)


def sales_book(path: Path, chart: str | None = "bar", title: str = "Sales") -> str:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in [["month", "north", "south"], ["Jan", 1, 2], ["Feb", 3, 4], ["Mar", 5, 6]]:
        sheet.append(row)
    if chart:
        made = BarChart() if chart == "bar" else LineChart()
        made.title = title
        made.add_data(Reference(sheet, min_col=2, min_row=1, max_col=3, max_row=4), titles_from_data=True)
        made.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=4))
        sheet.add_chart(made, "E2")
    workbook.save(path)
    return str(path)


def chart_rule(*props: str) -> list[dict]:
    return [{"type": "chart", "sheet_idx0": 0, "sheet_idx1": "EI0", "chart_props": list(props)}]


def test_chart_rule_matches_charts_by_data_and_compares_their_properties(tmp_path):
    gold = sales_book(tmp_path / "gold.xlsx")
    assert compare(sales_book(tmp_path / "same.xlsx"), gold, chart_rule("type", "title", "direction")).value == 1.0
    line = compare(sales_book(tmp_path / "line.xlsx", chart="line"), gold, chart_rule("type"))
    assert line.value == 0.0 and "'lineChart'" in line.reason and "'barChart'" in line.reason
    assert compare(sales_book(tmp_path / "t.xlsx", title="Cost"), gold, chart_rule("type", "title")).value == 0.0
    assert compare(sales_book(tmp_path / "t.xlsx", title="Cost"), gold, chart_rule("type")).value == 1.0
    assert compare(sales_book(tmp_path / "none.xlsx", chart=None), gold, chart_rule("type")).value == 0.0


@pytest.mark.skipif(shutil.which("soffice") is None, reason="needs LibreOffice (soffice)")
def test_chart_rule_reads_a_chart_libreoffice_saved(tmp_path):
    source = sales_book(tmp_path / "made.xlsx")
    subprocess.run(["nice", "-n", "19", "soffice", f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
                    "--headless", "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(tmp_path / "lo"),
                    source], check=True, capture_output=True, timeout=120)
    saved = str(tmp_path / "lo" / "made.xlsx")
    # LibreOffice writes Sheet!$B$2:$B$4 where openpyxl wrote 'Sheet'!$B$2:$B$4: both name one data source
    assert compare(saved, source, chart_rule("type", "title", "direction")).value == 1.0


def pivot_book(path: Path, subtotal: str = "sum", spare_column: bool = False) -> str:
    """Invoices on sheet Data and a pivot table on Sheet2 summing (or counting) the amount per invoice; with
    ``spare_column`` the pivot's source starts one unused column further left."""
    workbook = openpyxl.Workbook()
    data = workbook.active
    data.title = "Data"
    for row in [["note", "invoice", "amount"], ["", "A", 1], ["", "B", 2], ["", "A", 3]]:
        data.append(row)
    fields = [PivotField(showAll=False, axis="axisRow", items=[FieldItem(x=0), FieldItem(x=1), FieldItem(t="default")]),
              PivotField(showAll=False, dataField=True)]
    caches = [CacheField(name="invoice", sharedItems=SharedItems()), CacheField(name="amount", sharedItems=SharedItems())]
    if spare_column:
        fields.insert(0, PivotField(showAll=False))
        caches.insert(0, CacheField(name="note", sharedItems=SharedItems()))
    first = 1 if spare_column else 0  # the invoice field's number
    table = TableDefinition(name="Pivot", cacheId=1, dataCaption="Values",
                            location=Location(ref="A1:B3", firstHeaderRow=1, firstDataRow=1, firstDataCol=1),
                            pivotFields=fields, rowFields=[RowColField(x=first)],
                            dataFields=[DataField(name="Total", fld=first + 1, subtotal=subtotal)])
    table.cache = CacheDefinition(cacheFields=caches, cacheSource=CacheSource(
        type="worksheet", worksheetSource=WorksheetSource(ref="A1:C4" if spare_column else "B1:C4", sheet="Data")))
    workbook.create_sheet("Sheet2")._pivots.append(table)
    workbook.save(path)
    return str(path)


PIVOT_RULE = [{"type": "pivot_table", "sheet_idx0": "RNSheet2", "sheet_idx1": "ENSheet2",
               "pivot_props": ["col_fields", "filter", "row_fields", "data_fields"]}]


def test_pivot_table_rule_compares_fields_and_summaries(tmp_path):
    gold = pivot_book(tmp_path / "gold.xlsx")
    assert compare(pivot_book(tmp_path / "same.xlsx"), gold, PIVOT_RULE).value == 1.0
    counted = compare(pivot_book(tmp_path / "count.xlsx", subtotal="count"), gold, PIVOT_RULE)
    assert counted.value == 0.0 and "'1;;count;normal'" in counted.reason and "'1;;sum;normal'" in counted.reason
    # an unused column at the left of the source shifts nothing
    assert compare(pivot_book(tmp_path / "wide.xlsx", spare_column=True), gold, PIVOT_RULE).value == 1.0
    missing = compare(sales_book(tmp_path / "no.xlsx"), gold, PIVOT_RULE)
    assert missing == Score(0.0, "result has no sheet 'Sheet2' (sheets: ['Sheet'])")


def calendar_book(path: Path, weekend_fill: str) -> str:
    """Two weeks of dates in A1:A14; Saturdays and Sundays red by ``direct`` fills or a ``conditional`` format."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for day in range(14):
        date = datetime.datetime(2024, 1, 1) + datetime.timedelta(days=day)  # a Monday
        sheet.cell(row=day + 1, column=1, value=date)
        if weekend_fill == "direct" and date.weekday() >= 5:
            sheet.cell(row=day + 1, column=1).fill = PatternFill("solid", fgColor=RED)
    if weekend_fill == "conditional":
        sheet.conditional_formatting.add("A1:A14", FormulaRule(formula=["WEEKDAY(A1;2)>5"],
                                                               fill=PatternFill("solid", bgColor=RED)))
    workbook.save(path)
    return str(path)


STYLE_RULE = [{"type": "style", "sheet_idx0": 0, "sheet_idx1": "EI0", "props": ["bgcolor"]}]


def test_style_rule_applies_conditional_formats_like_direct_formatting(tmp_path):
    gold = calendar_book(tmp_path / "gold.xlsx", "direct")
    assert compare(calendar_book(tmp_path / "direct.xlsx", "direct"), gold, STYLE_RULE).value == 1.0
    assert compare(calendar_book(tmp_path / "cf.xlsx", "conditional"), gold, STYLE_RULE).value == 1.0
    plain = compare(calendar_book(tmp_path / "plain.xlsx", "none"), gold, STYLE_RULE)
    assert plain.value == 0.0 and plain.reason.endswith("cell A6: ['00000000'] != ['FFFF0000']")


def test_style_rule_reads_cell_is_conditions_on_font_colours(tmp_path):
    def book(path: Path, conditional: bool) -> str:
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        for value in (3, 9, 5):
            sheet.append([value])
        if conditional:
            sheet.conditional_formatting.add("A1:A3", CellIsRule(operator="equal", formula=["MAX($A$1:$A$3)"],
                                                                 font=Font(color="FF00FF00")))
        else:
            sheet["A2"].font = Font(color="FF00FF00")
        workbook.save(path)
        return str(path)

    rule = [{"type": "style", "sheet_idx0": 0, "sheet_idx1": "EI0", "props": ["font_color"]}]
    assert compare(book(tmp_path / "cf.xlsx", True), book(tmp_path / "gold.xlsx", False), rule).value == 1.0


def test_formula_evaluator_reads_references_functions_and_operators():
    values = {(1, 1): 2.0, (2, 1): 7.0, (3, 1): "x", (1, 2): datetime.datetime(2024, 1, 6)}  # a Saturday

    def lookup(row: int, column: int):
        return values.get((row, column))

    assert evaluate("=A1*3+1", lookup) == 7.0
    assert evaluate("A1=MAX($A$1:$A$3)", lookup, shift=(1, 0)) is True  # A1 moved to A2
    assert evaluate('A3&"y"="XY"', lookup) is True  # text compares case-insensitively
    assert evaluate("AND(WEEKDAY(B1;2)>5, NOT(ISBLANK(A1)))", lookup) is True
    assert evaluate("-(2^3)/4", lookup) == -2.0
    with pytest.raises(FormulaError, match="function 'VLOOKUP' is not read here"):
        evaluate("VLOOKUP(A1;A1:A3;1)", lookup)


def validated_book(path: Path, cells: str, choices: str) -> str:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["order", "pass/fail/held"])
    validation = DataValidation(type="list", formula1=choices)
    validation.add(cells)
    sheet.add_data_validation(validation)
    workbook.save(path)
    return str(path)


DV_RULE = [{"type": "data_validation", "sheet_idx": 0, "dv_props": [{
    "ranges": {"method": "spreadsheet_range", "ref": ["D2:D29", "D2:D1048576"]},
    "type": {"method": "eq", "ref": "list"},
    "formula1": {"method": "str_set_eq", "ref": ["Pass", "Fail", "Held"]}}]}]


def test_data_validation_rule_checks_the_cells_and_the_choices(tmp_path):
    assert compare(validated_book(tmp_path / "a.xlsx", "D2:D100", '"Held,Pass,Fail"'), None, DV_RULE).value == 1.0
    short = compare(validated_book(tmp_path / "b.xlsx", "D2:D20", '"Pass,Fail,Held"'), None, DV_RULE)
    assert short.value == 0.0 and "D2:D20" in short.reason
    assert compare(validated_book(tmp_path / "c.xlsx", "D2:D29", '"Pass,Fail"'), None, DV_RULE).value == 0.0
    assert option_problems("compare_table", {"rules": DV_RULE + PIVOT_RULE + STYLE_RULE + chart_rule()}) == []
