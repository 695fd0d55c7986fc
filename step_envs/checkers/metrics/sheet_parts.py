"""What ``compare_table``'s rules read of a worksheet beyond its values, as OSWorld's ``metrics/utils.py`` reads it:
cell styles (conditional formats included), charts, pivot tables and data validations, each as plain values that
two sheets can be compared by.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from openpyxl.cell.cell import MergedCell
from openpyxl.styles.differential import DifferentialStyle
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.worksheet.worksheet import Worksheet

from step_envs.checkers.metrics.formula import FormulaError, evaluate

STYLE_PROPS = ("number_format", "font_name", "font_family", "font_color", "font_bold", "font_italic",
               "font_underline", "font_size", "fill_type", "bgcolor", "fgcolor", "hyperlink", "merge")
"""Style properties OSWorld's ``check_cell`` and ``style`` rules read. Font and number-format properties are read
only from cells that hold a value (None otherwise); ``bgcolor`` (alias ``fgcolor``) is the fill's foreground, as
LibreOffice saves a cell's background, or a conditional format's background."""
_FONT = {"font_name": "name", "font_family": "family", "font_bold": "bold", "font_italic": "italic",
         "font_underline": "underline", "font_size": "size"}


def _rgb(color: Any) -> Any:
    return None if color is None else color.rgb


def cell_style(prop: str, cell: Any, dxf: DifferentialStyle | None = None) -> Any:
    """Style property ``prop`` (one of :data:`STYLE_PROPS`) of ``cell``, or of the conditional format ``dxf`` that
    applies to it (a part the format does not set reads None)."""
    if prop not in STYLE_PROPS:
        raise ValueError(f"cell style property {prop!r} is not supported; use one of {STYLE_PROPS}")
    if prop == "merge":
        return isinstance(cell, MergedCell)
    if prop == "hyperlink":
        return (cell.hyperlink.target or "") if cell.hyperlink else ""
    if prop in ("fill_type", "bgcolor", "fgcolor"):
        fill = cell.fill if dxf is None else dxf.fill
        if fill is None:
            return None
        if prop == "fill_type":
            return fill.tagname
        return _rgb(getattr(fill, "fgColor" if dxf is None else "bgColor", None))
    if cell.value is None:
        return None
    if prop == "number_format":
        if cell.data_type != "n":
            return None
        return cell.number_format if dxf is None else (dxf.numFmt.formatCode if dxf.numFmt else None)
    font = cell.font if dxf is None else dxf.font
    if font is None:
        return None
    return _rgb(font.color) if prop == "font_color" else getattr(font, _FONT[prop])


_CF_OPERATORS: dict[str, Callable[[float, list[float]], bool]] = {
    "lessThan": lambda v, ref: v < ref[0], "lessThanOrEqual": lambda v, ref: v <= ref[0],
    "greaterThan": lambda v, ref: v > ref[0], "greaterThanOrEqual": lambda v, ref: v >= ref[0],
    "equal": lambda v, ref: v == ref[0], "notEqual": lambda v, ref: v != ref[0],
    "between": lambda v, ref: min(ref) <= v <= max(ref), "notBetween": lambda v, ref: not min(ref) <= v <= max(ref),
}
"""``cellIs`` conditions of conditional formats, by operator."""
_FORMULA_TYPES = ("expression", "containsText", "notContainsText", "beginsWith", "endsWith", "containsErrors",
                  "notContainsErrors")
"""Conditional format types whose first formula decides, for each cell, whether the format applies."""


def _applies(rule: Any, value: Any, lookup: Callable[[int, int], Any], shift: tuple[int, int]) -> bool:
    """Whether conditional format ``rule`` colours a cell holding ``value`` (``shift``: the cell's offset from the
    format range's first cell). Types OSWorld does not evaluate (``top10``, ``aboveAverage``, colour scales, ...)
    and formulas :mod:`~step_envs.checkers.metrics.formula` cannot read colour no cell."""
    formulas = list(rule.formula or [])
    try:
        if rule.type in _FORMULA_TYPES and formulas:
            return bool(evaluate(formulas[0], lookup, shift))
        if rule.type == "cellIs" and rule.operator in _CF_OPERATORS and formulas:
            refs = [evaluate(formula, lookup, shift) for formula in formulas]
            return _CF_OPERATORS[rule.operator](value, refs)
    except (FormulaError, TypeError):
        return False
    return False


def sheet_styles(sheet: Worksheet, rows: list[list[Any]], props: list[str]) -> dict[str, list[Any]]:
    """``{coordinate: [value of each prop]}`` for every cell from A1 to the sheet's last used cell; a cell that a
    conditional format colours reads the format's style instead (the last applicable format wins). ``rows`` are
    the sheet's cell values, which the formats' conditions read."""

    def lookup(row: int, column: int) -> Any:
        return rows[row - 1][column - 1] if 0 < row <= len(rows) and 0 < column <= len(rows[row - 1]) else None

    styles = {cell.coordinate: [cell_style(prop, cell) for prop in props]
              for column in sheet.iter_cols() for cell in column}
    for formatting in sheet.conditional_formatting:
        for rule in formatting.rules:
            for cell_range in formatting.cells.ranges:
                for row, column in cell_range.cells:
                    value = lookup(row, column)
                    shift = (row - cell_range.min_row, column - cell_range.min_col)
                    if value is not None and _applies(rule, value, lookup, shift):
                        cell = sheet.cell(row=row, column=column)
                        styles[cell.coordinate] = [cell_style(prop, cell, rule.dxf) for prop in props]
    return styles


def _quoted_sheet(reference: str) -> str:
    """``'Sheet1'!$A$1`` -> ``Sheet1!$A$1``: Excel and LibreOffice quote plain sheet names differently."""
    return re.sub(r"'([A-Za-z_][A-Za-z0-9_.]*)'!", r"\1!", reference)


def _reference(data: Any) -> str:
    for kind in ("numRef", "strRef"):
        ref = getattr(data, kind, None) if data is not None else None
        if ref is not None and ref.f:
            return _quoted_sheet(ref.f)
    return ""


def _title(title: Any) -> str | None:
    """The first run of a chart or axis title's rich text, None when there is none."""
    try:
        return title.tx.rich.p[0].r[0].t
    except (AttributeError, IndexError, TypeError):
        return None


CHART_PROPS: dict[str, Callable[[Any], Any]] = {
    "title": lambda chart: _title(chart.title),
    "legend": lambda chart: chart.legend.position if chart.legend is not None else None,
    "anchor": lambda chart: [chart.anchor.editAs, chart.anchor._from.col, chart.anchor.to.row, chart.anchor.to.col,
                             chart.anchor.to.row],
    "width": lambda chart: chart.width,
    "height": lambda chart: chart.height,
    "type": lambda chart: chart.tagname,
    "direction": lambda chart: getattr(chart, "barDir", None),
    "xtitle": lambda chart: _title(getattr(chart.x_axis, "title", None)),
    "ytitle": lambda chart: _title(getattr(chart.y_axis, "title", None)),
    "ztitle": lambda chart: _title(getattr(getattr(chart, "z_axis", None), "title", None)),
}
"""Chart properties OSWorld's ``chart`` rule reads (``type`` is the chart's XML tag: ``barChart``, ``lineChart``,
...; ``direction`` a bar chart's ``col`` or ``bar``)."""


def sheet_charts(sheet: Worksheet, props: list[str]) -> dict[str, dict[str, Any]]:
    """The sheet's charts as ``{data source: {prop: value}}``; a chart's data source is its series' value and
    category ranges (``"values,categories;..."``), so charts are matched by the data they plot."""
    unknown = [prop for prop in props if prop not in CHART_PROPS]
    if unknown:
        raise ValueError(f"chart properties {unknown} are not supported; use {sorted(CHART_PROPS)}")
    charts = {}
    for chart in sheet._charts:
        source = ";".join(f"{_reference(series.val)},{_reference(series.cat)}" for series in chart.series)
        charts[source] = {prop: CHART_PROPS[prop](chart) for prop in props}
    return charts


PIVOT_PROPS = ("name", "show_total", "show_empty_row", "show_empty_col", "show_headers", "location", "selection",
               "filter", "col_fields", "row_fields", "data_fields", "data_fields_name", "ordered")
"""Pivot table properties OSWorld's ``pivot_table`` rule reads (``data_fields_name`` and ``ordered`` modify
``data_fields`` and ``selection``)."""


def _trim(fields: list[list[Any]]) -> tuple[list[list[Any]], int, int]:
    """The per-field item selections without the empty ones at both ends, and how many were dropped at each."""
    start = next((i for i, items in enumerate(fields) if items), len(fields))
    end = next((i for i, items in enumerate(reversed(fields)) if items), len(fields) - start)
    return fields[start:len(fields) - end], start, end


def sheet_pivots(sheet: Worksheet, props: list[str]) -> dict[str, dict[str, Any]]:
    """The sheet's pivot tables as ``{source: {prop: value}}``. Fields that select no items at either end of the
    source are left out of the source range and the field numbers count from the first used field, so a table
    built on a wider range of the same columns compares equal."""
    unknown = [prop for prop in props if prop not in PIVOT_PROPS]
    if unknown:
        raise ValueError(f"pivot table properties {unknown} are not supported; use {list(PIVOT_PROPS)}")
    pivots = {}
    for pivot in sheet._pivots:
        chosen = [[(item.h, item.x) for item in field.items if item.x is not None] for field in pivot.pivotFields]
        selection, left, right = _trim(chosen)
        source = pivot.cache.cacheSource
        first, _, last = source.worksheetSource.ref.partition(":")
        (row0, col0), (row1, col1) = coordinate_to_tuple(first), coordinate_to_tuple(last or first)
        key = f"{source.type};({row0}, {col0 + left}):({row1}, {col1 - right});{source.worksheetSource.sheet}"
        info: dict[str, Any] = {}
        simple = {"name": "name", "show_total": "visualTotals", "show_empty_row": "showEmptyRow",
                  "show_empty_col": "showEmptyCol", "show_headers": "showHeaders", "location": "location"}
        for prop, attribute in simple.items():
            if prop in props:
                info[prop] = getattr(pivot, attribute)
        if "filter" in props or "selection" in props:
            info["selection"] = selection if "ordered" in props else [set(items) for items in selection]
        if "filter" in props:
            info["filter_fields"] = {field.fld for field in pivot.pageFields}
        if "col_fields" in props:
            info["col_fields"] = [field.x - left for field in pivot.colFields]
        if "row_fields" in props:
            info["row_fields"] = [field.x - left for field in pivot.rowFields]
        if "data_fields" in props:
            info["data_fields"] = [f"{field.fld - left};{field.name if 'data_fields_name' in props else ''};"
                                   f"{field.subtotal};{field.showDataAs}" for field in pivot.dataFields]
        pivots[key] = info
    return pivots


def first_style_difference(left: dict[str, list[Any]], right: dict[str, list[Any]]) -> str | None:
    """The first cell (by row, then column) whose styles differ between two :func:`sheet_styles` maps, or None."""
    for coordinate in sorted(set(left) | set(right), key=coordinate_to_tuple):
        if left.get(coordinate) != right.get(coordinate):
            return f"cell {coordinate}: {left.get(coordinate)} != {right.get(coordinate)}"
    return None


DV_ATTRIBUTES = ("ranges", "type", "formula1", "formula2", "operator", "allowBlank", "showDropDown",
                 "showInputMessage", "showErrorMessage", "error", "errorTitle", "errorStyle", "prompt",
                 "promptTitle", "imeMode")
"""Data validation attributes OSWorld's ``data_validation`` rule tests (``ranges`` is the cells it covers)."""


def validation_attribute(validation: Any, name: str) -> Any:
    if name not in DV_ATTRIBUTES:
        raise ValueError(f"data validation attribute {name!r} is not supported; use one of {DV_ATTRIBUTES}")
    return getattr(validation, name)
