"""OSWorld metrics on office formats and structured files, each on real files the test makes: a match scores 1,
an almost-right answer 0 with the place it differs."""

import json
import sqlite3
from pathlib import Path

import docx
import openpyxl
import pptx
from docx.enum.text import WD_BREAK, WD_PARAGRAPH_ALIGNMENT
from openpyxl.styles import Font, PatternFill
from pptx.dml.color import RGBColor
from pptx.util import Inches, Pt

from step_envs.checkers import METRICS, Score
from step_envs.checkers.registry import option_problems


def score(name: str, result, expected=None, **options) -> Score:
    return METRICS[name](result, expected, **options)


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


# --- compare_table: printed values, cell styles, panes ----------------------------------------------------------


def spent_book(path: Path, formats: dict[str, str]) -> str:
    """A sheet like OSWorld's 'Keep_Two_decimal_points' task: the same numbers, number formats per cell."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["item", "spent"])
    for row, (item, spent) in enumerate([("tea", 3.5), ("cake", 12.25)], start=2):
        sheet.append([item, spent])
        sheet[f"B{row}"].number_format = formats.get(f"B{row}", "General")
    workbook.save(path)
    return str(path)


def print_rule(**extra) -> list[dict]:
    return [{"type": "sheet_print", "sheet_idx0": "RNSheet", "sheet_idx1": "ENSheet", **extra}]


def test_sheet_print_compares_the_exported_csv_beside_each_workbook(tmp_path):
    result = spent_book(tmp_path / "out.xlsx", {})
    expected = spent_book(tmp_path / "gold.xlsx", {})
    write(tmp_path / "out-Sheet.csv", "item,spent\ntea,3.50\ncake,12.25\n\n")
    write(tmp_path / "gold-Sheet.csv", "item,spent\ntea,3.50\ncake,12.25\n")
    assert score("compare_table", result, expected, rules=print_rule()).value == 1.0
    write(tmp_path / "out-Sheet.csv", "item,spent\ntea,3.5\ncake,12.25\n")
    assert score("compare_table", result, expected, rules=print_rule()) == Score(
        0.0, "printed result['Sheet'] vs expected['Sheet']: row 2: 'tea,3.5' != 'tea,3.50'")


def test_sheet_print_ignore_case(tmp_path):
    result, expected = spent_book(tmp_path / "out.xlsx", {}), spent_book(tmp_path / "gold.xlsx", {})
    write(tmp_path / "out-Sheet.csv", "ITEM,spent\n")
    write(tmp_path / "gold-Sheet.csv", "item,SPENT\n")
    assert score("compare_table", result, expected, rules=print_rule()).value == 0.0
    assert score("compare_table", result, expected, rules=print_rule(ignore_case=True)).value == 1.0


def test_sheet_print_exports_the_printed_values_with_libreoffice_when_no_csv_is_given(tmp_path):
    expected = spent_book(tmp_path / "gold.xlsx", {})
    write(tmp_path / "gold-Sheet.csv", "item,spent\ntea,3.50\ncake,12.25\n")  # shipped with the expected file
    two_decimals = spent_book(tmp_path / "out.xlsx", {"B2": "0.00", "B3": "0.00"})
    general = spent_book(tmp_path / "raw.xlsx", {})
    assert score("compare_table", two_decimals, expected, rules=print_rule()).value == 1.0
    # the same numbers in another format: sheet_data passes, sheet_print does not
    data = [{"type": "sheet_data", "sheet_idx0": 0, "sheet_idx1": "EI0"}]
    assert score("compare_table", general, expected, rules=data).value == 1.0
    assert score("compare_table", general, expected, rules=print_rule()).reason.endswith(
        "row 2: 'tea,3.5' != 'tea,3.50'")


def styled_book(path: Path, bold: bool, fill: str | None = None, zoom: int | None = None,
                freeze: str | None = None) -> str:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["A1"] = "Total"
    sheet["A1"].font = Font(bold=bold, name="Liberation Sans", size=12, color="FFFF0000")
    if fill:
        sheet["A1"].fill = PatternFill("solid", fgColor=fill)
    sheet["B2"] = 0.25
    sheet["B2"].number_format = "0.00%"
    sheet["C3"].hyperlink = "https://example.org/report"
    sheet["C3"] = "report"
    sheet.merge_cells("D1:E1")
    if zoom:
        sheet.sheet_view.zoomScale = zoom
    if freeze:
        sheet.freeze_panes = freeze
    workbook.save(path)
    return str(path)


def cell_rule(coordinate: str, **props) -> list[dict]:
    return [{"type": "check_cell", "sheet_idx": 0, "coordinate": coordinate,
             "props": {name: {"method": "eq", "ref": ref} for name, ref in props.items()}}]


def test_check_cell_reads_the_style_properties_osworld_checks(tmp_path):
    book = styled_book(tmp_path / "r.xlsx", bold=True, fill="FFFFFF00")
    assert score("compare_table", book, rules=cell_rule(
        "A1", value="Total", font_bold=True, font_name="Liberation Sans", font_size=12, font_color="FFFF0000",
        fill_type="patternFill", bgcolor="FFFFFF00")).value == 1.0
    assert score("compare_table", book, rules=cell_rule("B2", number_format="0.00%")).value == 1.0
    assert score("compare_table", book, rules=cell_rule("C3", hyperlink="https://example.org/report")).value == 1.0
    assert score("compare_table", book, rules=cell_rule("E1", merge=True)).value == 1.0
    plain = styled_book(tmp_path / "p.xlsx", bold=False)
    assert score("compare_table", plain, rules=cell_rule("A1", font_bold=True)) == Score(
        0.0, "result['Sheet'] cell A1 font_bold: False fails {'method': 'eq', 'ref': True}")


def test_freeze_and_zoom_rules(tmp_path):
    frozen = styled_book(tmp_path / "f.xlsx", bold=True, freeze="B2", zoom=150)
    same = styled_book(tmp_path / "s.xlsx", bold=True, freeze="B2")
    loose = styled_book(tmp_path / "l.xlsx", bold=True)
    freeze = [{"type": "freeze", "sheet_idx0": 0, "sheet_idx1": "EI0"}]
    assert score("compare_table", frozen, same, rules=freeze).value == 1.0
    assert score("compare_table", loose, same, rules=freeze).value == 0.0
    zoom = [{"type": "zoom", "sheet_idx": 0, "method": "ge", "ref": 120}]
    assert score("compare_table", frozen, rules=zoom).value == 1.0
    assert score("compare_table", same, rules=zoom).reason == "zoom of result['Sheet'] is 100, fails ge 120"


def test_row_and_column_properties(tmp_path):
    def book(path: Path, hidden: bool) -> str:
        workbook = openpyxl.Workbook()
        workbook.active["A1"] = 1
        workbook.active.column_dimensions["C"].hidden = hidden
        workbook.save(path)
        return str(path)

    rule = [{"type": "col_props", "sheet_idx0": 0, "sheet_idx1": "EI0", "props": ["hidden"]}]
    assert score("compare_table", book(tmp_path / "a.xlsx", True), book(tmp_path / "b.xlsx", True),
                 rules=rule).value == 1.0
    assert score("compare_table", book(tmp_path / "c.xlsx", False), book(tmp_path / "b.xlsx", True),
                 rules=rule).value == 0.0


def test_unsupported_table_rules_and_cell_properties_are_named_at_load_time():
    options = {"rules": [{"type": "sheet_data", "sheet_idx0": 0, "sheet_idx1": "EI0"}, {"type": "sparkline"},
                         {"type": "check_cell", "sheet_idx": 0, "coordinate": "A1", "props": {"shadow": {}}}]}
    assert option_problems("compare_table", options) == [
        "table rule 'sparkline' is not supported", "check_cell property 'shadow' is not supported"]
    assert option_problems("compare_table", {"rules": [{"type": "sheet_print"}]}) == []


# --- JSON, YAML, SQLite -------------------------------------------------------------------------------------------


def test_check_json_matches_nested_keys_with_rule_methods(tmp_path):
    settings = write(tmp_path / "settings.json", json.dumps({"editor.tabSize": 4, "files": {"autoSave": "afterDelay"}}))
    rules = {"expect": [{"key": ["editor.tabSize"], "method": "eq", "ref": 4},
                        {"key": ["files", "autoSave"], "method": "re", "ref": "^after"}],
             "unexpect": [{"key": ["editor.fontSize"], "method": "gt", "ref": 20}]}
    assert score("check_json", settings, rules).value == 1.0
    assert score("check_json", settings, {"expect": [{"key": ["editor.tabSize"], "method": "eq", "ref": 2}]}) == Score(
        0.0, "key ['editor.tabSize']: 4 fails eq 2")
    assert score("check_json", settings, {"expect": [{"key": ["missing"], "method": "eq", "ref": 1}]}).reason == (
        "key ['missing'] not found")
    assert score("check_json", settings, {"unexpect": [{"key": ["editor.tabSize"], "method": "eq", "ref": 4}]}
                 ).value == 0.0


def test_check_json_reads_yaml(tmp_path):
    config = write(tmp_path / "config.yaml", "server:\n  port: 8080\n  hosts: [a, b]\n")
    assert score("check_json", config, {"expect": [{"key": ["server", "port"], "method": "eq", "ref": 8080}]},
                 is_yaml=True).value == 1.0
    assert score("check_json", config, {"expect": [{"key": ["server", "port"], "method": "eq", "ref": 8080}]}
                 ).reason.startswith("config.yaml is not valid JSON")


def test_run_sqlite3_scores_the_query_result(tmp_path):
    path = tmp_path / "places.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE bookmarks (title TEXT)")
        db.execute("INSERT INTO bookmarks VALUES ('Docs')")
    query = "SELECT COUNT(*) = 1 FROM bookmarks WHERE title = '{}'"
    assert score("run_sqlite3", str(path), {"sql": query.format("Docs")}).value == 1.0
    assert score("run_sqlite3", str(path), {"sql": query.format("News")}).value == 0.0


# --- Writer documents ---------------------------------------------------------------------------------------------


def document(path: Path, *paragraphs: str, spacing: float | None = None, center_first: bool = False,
             font: str | None = None) -> str:
    doc = docx.Document()
    for text in paragraphs:
        paragraph = doc.add_paragraph()
        run = paragraph.add_run(text)
        if font:
            run.font.name = font
        if spacing is not None:
            paragraph.paragraph_format.line_spacing = spacing
    if center_first and doc.paragraphs:
        doc.paragraphs[0].paragraph_format.alignment = WD_PARAGRAPH_ALIGNMENT.CENTER
    doc.save(path)
    return str(path)


def test_compare_line_spacing_needs_the_same_text_and_spacing(tmp_path):
    expected = document(tmp_path / "gold.docx", "Intro", "Body", spacing=2.0)
    assert score("compare_line_spacing", document(tmp_path / "r.docx", "Intro", "Body", spacing=2.0),
                 expected).value == 1.0
    single = score("compare_line_spacing", document(tmp_path / "s.docx", "Intro", "Body", spacing=1.0), expected)
    assert single == Score(0.0, "paragraph 1: line spacing 1.0 != 2.0")
    other = score("compare_line_spacing", document(tmp_path / "o.docx", "Intro", "Body!", spacing=2.0), expected)
    assert other.value == 0.0 and other.reason.startswith("the text differs")


def test_has_page_numbers_in_footers(tmp_path):
    doc = docx.Document()
    doc.add_paragraph("text")
    doc.sections[0].footer.paragraphs[0].text = "Page 1"
    doc.save(tmp_path / "numbered.docx")
    assert score("has_page_numbers_in_footers", str(tmp_path / "numbered.docx")).value == 1.0
    plain = document(tmp_path / "plain.docx", "text")
    assert score("has_page_numbers_in_footers", plain) == Score(0.0, "section 1: footer '' shows no page number")


def test_compare_font_names_and_first_line_centered(tmp_path):
    serif = document(tmp_path / "serif.docx", "a", "b", font="Liberation Serif", center_first=True)
    assert score("compare_font_names", serif, {"font_name": "Liberation Serif"}).value == 1.0
    assert score("compare_font_names", serif, {"font_name": "Liberation Sans"}).value == 0.0
    assert score("is_first_line_centered", serif).value == 1.0
    assert score("is_first_line_centered", document(tmp_path / "left.docx", "a")).value == 0.0


def test_compare_docx_tables_compares_cell_texts(tmp_path):
    def tabled(path: Path, cell: str) -> str:
        doc = docx.Document()
        table = doc.add_table(rows=2, cols=2)
        for (row, column), text in zip([(0, 0), (0, 1), (1, 0), (1, 1)], ["name", "qty", "tea", cell], strict=True):
            table.cell(row, column).text = text
        doc.save(path)
        return str(path)

    expected = tabled(tmp_path / "gold.docx", "3")
    assert score("compare_docx_tables", tabled(tmp_path / "r.docx", " 3 "), expected).value == 1.0
    assert score("compare_docx_tables", tabled(tmp_path / "w.docx", "4"), expected) == Score(
        0.0, "table 1 row 2 column 2: '4' != '3'")


def test_contains_page_break_counts_page_breaks(tmp_path):
    doc = docx.Document()
    doc.add_paragraph("one").runs[0].add_break(WD_BREAK.PAGE)
    doc.add_paragraph("two")
    doc.save(tmp_path / "broken.docx")
    assert score("contains_page_break", str(tmp_path / "broken.docx")).value == 1.0
    assert score("contains_page_break", str(tmp_path / "broken.docx"), {"page_break_count": 2}).value == 0.0
    assert score("contains_page_break", document(tmp_path / "flat.docx", "one", "two")).value == 0.0


def test_subscript_strike_through_and_initial_lines(tmp_path):
    def formatted(path: Path, subscript: bool, strike: bool) -> str:
        doc = docx.Document()
        paragraph = doc.add_paragraph("H")
        paragraph.add_run("2").font.subscript = subscript
        paragraph.add_run("O")
        last = doc.add_paragraph()
        last.add_run("old price").font.strike = strike
        doc.save(path)
        return str(path)

    expected = formatted(tmp_path / "gold.docx", True, True)
    good, bad = formatted(tmp_path / "good.docx", True, True), formatted(tmp_path / "bad.docx", False, False)
    assert score("compare_subscript_contains", good, expected).value == 1.0
    assert score("compare_subscript_contains", bad, expected).value == 0.0
    assert score("evaluate_strike_through_last_paragraph", good, expected).value == 1.0
    assert score("evaluate_strike_through_last_paragraph", bad, expected).reason == (
        "runs ['old price'] are not struck through")
    longer = document(tmp_path / "longer.docx", "H2O", "old price", "extra")
    assert score("compare_init_lines", longer, expected).value == 1.0
    assert score("compare_init_lines", document(tmp_path / "x.docx", "H2O", "new price"), expected).value == 0.0


# --- Impress presentations ----------------------------------------------------------------------------------------


def deck(path: Path, title: str = "Launch", bold: bool = False, note: str = "", left: float = 1.0) -> str:
    presentation = pptx.Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[5])
    slide.shapes.title.text = title
    box = slide.shapes.add_textbox(Inches(left), Inches(2), Inches(4), Inches(1))
    run = box.text_frame.paragraphs[0].add_run()
    run.text = "Price: $10"
    run.font.bold = bold
    run.font.size = Pt(18)
    run.font.color.rgb = RGBColor(0x20, 0x40, 0x80)
    if note:
        slide.notes_slide.notes_text_frame.text = note
    presentation.save(path)
    return str(path)


def test_compare_pptx_files_scores_one_on_the_same_deck(tmp_path):
    assert score("compare_pptx_files", deck(tmp_path / "r.pptx"), deck(tmp_path / "e.pptx")) == Score(
        1.0, "the presentations match")


def test_compare_pptx_files_names_the_first_difference(tmp_path):
    expected = deck(tmp_path / "e.pptx")
    assert score("compare_pptx_files", deck(tmp_path / "t.pptx", title="Lunch"), expected).reason == (
        "slide 1 shape 1: text 'Lunch' != 'Launch'")
    assert score("compare_pptx_files", deck(tmp_path / "b.pptx", bold=True), expected).reason == (
        "slide 1 shape 2 paragraph 1 run 1 ('Price: $10'): font_bold True != False")
    assert score("compare_pptx_files", deck(tmp_path / "n.pptx", note="Run the demo live"), expected).reason == (
        "slide 1: notes 'Run the demo live' != ''")


def test_compare_pptx_files_options_switch_aspects_off(tmp_path):
    moved, expected = deck(tmp_path / "m.pptx", left=3.0), deck(tmp_path / "e.pptx")
    assert score("compare_pptx_files", moved, expected).reason.startswith("slide 1 shape 2: position/size")
    assert score("compare_pptx_files", moved, expected, examine_shape=False).value == 1.0
    assert option_problems("compare_pptx_files", {"examine_shape": False, "examine_title_bottom_position": True,
                                                  "_note": "a comment", "enable_debug": True}) == [
        "option 'enable_debug' is not supported"]


def test_check_presenter_console_disable_reads_libreoffice_settings(tmp_path):
    setting = ('<?xml version="1.0" encoding="UTF-8"?><oor:items xmlns:oor="http://openoffice.org/2001/registry">'
               '<item oor:path="/org.openoffice.Office.Impress/Misc/Start"><prop oor:name="EnablePresenterScreen" '
               'oor:op="fuse"><value>{}</value></prop></item></oor:items>')
    assert score("check_presenter_console_disable", write(tmp_path / "a.xcu", setting.format("false"))).value == 1.0
    assert score("check_presenter_console_disable", write(tmp_path / "b.xcu", setting.format("true"))).value == 0.0
