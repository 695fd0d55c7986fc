"""Metrics on real files made in tmp_path: a match scores 1, an almost-right answer 0, a missing one 0."""

import csv
import shutil
from pathlib import Path

import docx
import openpyxl
import pytest

from step_envs.checkers import METRICS, Score

soffice = pytest.mark.skipif(shutil.which("soffice") is None, reason="needs LibreOffice (soffice)")


def score(name: str, result, expected=None, **options) -> Score:
    return METRICS[name](result, expected, **options)


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def xlsx(path: Path, cells: dict[str, object], sheets: tuple[str, ...] = ("Sheet1",)) -> str:
    workbook = openpyxl.Workbook()
    workbook.active.title = sheets[0]
    for name in sheets[1:]:
        workbook.create_sheet(name)
    for key, value in cells.items():
        sheet, _, cell = key.rpartition("!")
        workbook[sheet or sheets[0]][cell] = value
    workbook.save(path)
    return str(path)


def document(path: Path, *paragraphs: str) -> str:
    doc = docx.Document()
    for paragraph in paragraphs:
        doc.add_paragraph(paragraph)
    doc.save(path)
    return str(path)


def csv_file(path: Path, rows: list[list[object]]) -> str:
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return str(path)


# --- every file metric ---------------------------------------------------------------------------------------

FILE_METRICS = ["compare_text_file", "diff_text_file", "compare_csv", "compare_table", "compare_docx_files"]


@pytest.mark.parametrize("name", FILE_METRICS)
def test_file_metrics_score_zero_with_a_reason_when_the_result_is_missing(name, tmp_path):
    missing = score(name, None, write(tmp_path / "expected.txt", "x"))
    assert missing.value == 0.0 and missing.reason == "no result"


def test_every_metric_has_a_docstring_stating_its_rule():
    assert all((function.__doc__ or "").strip() for function in METRICS.values())


# --- values --------------------------------------------------------------------------------------------------


def test_exact_match_scores_one_on_equal_values_and_says_what_differs_otherwise():
    assert score("exact_match", "foo", {"expected": "foo"}).value == 1.0
    assert score("exact_match", "foo", {"expected": "bar"}) == Score(0.0, "'foo' != 'bar'")


def test_exact_match_without_expected_rules_names_the_getter_to_use():
    with pytest.raises(ValueError, match="getter 'rule'"):
        score("exact_match", "foo", None)


def test_is_in_list_and_match_in_list_test_membership_in_opposite_directions():
    assert score("is_in_list", ["a", "b"], {"expected": "b"}).value == 1.0
    assert score("is_in_list", ["a", "b"], {"expected": "c"}).value == 0.0
    assert score("match_in_list", "b", {"expected": ["a", "b"]}).value == 1.0
    assert score("match_in_list", "c", {"expected": ["a", "b"]}).value == 0.0


def test_literal_match_compares_as_strings_with_optional_case_folding():
    assert score("literal_match", 42, "42").value == 1.0
    assert score("literal_match", "Yes", "yes").value == 0.0
    assert score("literal_match", "Yes", "yes", ignore_case=True).value == 1.0
    assert score("literal_match", ["A", 1], ["a", "1"], type="list", ignore_case=True).value == 1.0
    assert score("literal_match", ["a"], ["a", "b"], type="list").value == 0.0


def test_fuzzy_match_gives_the_character_similarity_ratio():
    assert score("fuzzy_match", "kitten", {"expected": "kitten"}).value == 1.0
    assert score("fuzzy_match", "kitten", {"expected": "sitting"}).value == pytest.approx(2 * 4 / 13)
    assert score("fuzzy_match", None, {"expected": "x"}).value == 0.0


def test_check_include_exclude_needs_all_includes_and_no_excludes():
    rules = {"include": ["enabled", "ssh"], "exclude": ["error"]}
    assert score("check_include_exclude", "ssh enabled", rules).value == 1.0
    assert score("check_include_exclude", "ssh disabled", rules).reason == "['enabled'] not in 'ssh disabled'"
    assert score("check_include_exclude", "ssh enabled, error", rules).value == 0.0


def test_check_direct_json_object_parses_single_quoted_text_and_compares_key_by_key():
    rules = {"expected": {"name": "Ada", "tags": ["b", "a"]}}
    assert score("check_direct_json_object", "{'name': 'Ada', 'tags': ['b', 'a']}", rules).value == 1.0
    wrong = score("check_direct_json_object", {"name": "Ada", "tags": ["a", "b"]}, rules)
    assert wrong.value == 0.0 and "key 'tags'" in wrong.reason
    assert score("check_direct_json_object", {"name": "Ada", "tags": ["a", "b"]},
                 {**rules, "ignore_list_order": True}).value == 1.0
    assert score("check_direct_json_object", "not json", rules).value == 0.0


def test_check_direct_json_object_expect_in_result_accepts_substrings_and_alternatives():
    rules = {"expect_in_result": True, "expected": {"city": "Paris", "lang": ["fr", "en"]}}
    assert score("check_direct_json_object", {"city": "Paris, France", "lang": "en"}, rules).value == 1.0
    assert score("check_direct_json_object", {"city": "Lyon", "lang": "en"}, rules).value == 0.0


# --- text files ----------------------------------------------------------------------------------------------


def test_compare_text_file_scores_one_on_the_same_text(tmp_path):
    text = "alpha beta\ngamma\n"
    assert score("compare_text_file", write(tmp_path / "a.txt", text), write(tmp_path / "b.txt", text)).value == 1.0


def test_compare_text_file_scores_zero_when_one_word_differs_and_names_the_line(tmp_path):
    result = write(tmp_path / "a.txt", "alpha beta\ngamma\n")
    expected = write(tmp_path / "b.txt", "alpha beta\ndelta\n")
    assert score("compare_text_file", result, expected) == Score(0.0, "line 2: 'gamma' != 'delta'")


def test_compare_text_file_options_ignore_blanks_and_case(tmp_path):
    result = write(tmp_path / "a.txt", "Alpha   beta\n\n gamma ")
    expected = write(tmp_path / "b.txt", "alpha beta gamma\n")
    assert score("compare_text_file", result, expected).value == 0.0
    assert score("compare_text_file", result, expected, ignore_blanks=True).value == 0.0
    assert score("compare_text_file", result, expected, ignore_blanks=True, ignore_case=True).value == 1.0


def test_diff_text_file_gives_the_share_of_matching_lines(tmp_path):
    result = write(tmp_path / "a.txt", "1\n2\n3\n4\n")
    expected = write(tmp_path / "b.txt", "1\n2\n3\nX\n")
    assert score("diff_text_file", result, expected).value == pytest.approx(2 * 3 / 8)
    assert score("diff_text_file", result, result).value == 1.0


def test_check_list_needs_every_expected_regex_on_some_line_and_no_unexpected_one(tmp_path):
    path = write(tmp_path / "list.txt", "apple 3\nbanana 5\n")
    assert score("check_list", path, {"expect": [r"^apple \d$", "banana"], "unexpect": ["cherry"]}).value == 1.0
    assert score("check_list", path, {"expect": ["cherry"]}).reason == "no line matches 'cherry'"
    assert score("check_list", path, {"unexpect": [r"\d"]}).value == 0.0


def test_file_contains_needs_every_expected_string(tmp_path):
    path = write(tmp_path / "notes.txt", "meeting at 10am in room B")
    assert score("file_contains", path, {"expected": ["10am", "room B"]}).value == 1.0
    assert score("file_contains", path, {"expected": ["10am", "room C"]}).reason == "['room C'] not in notes.txt"


def test_check_file_exists_scores_the_presence_of_the_fetched_file(tmp_path):
    assert score("check_file_exists", write(tmp_path / "x.txt", "")).value == 1.0
    assert score("check_file_exists", str(tmp_path / "absent.txt")).value == 0.0


def test_exists_in_directory_looks_into_sub_folders_of_the_tree():
    tree = {"type": "directory", "name": "Documents", "children": [
        {"type": "file", "name": "a.txt"},
        {"type": "directory", "name": "reports", "children": [{"type": "file", "name": "q1.pdf"}]}]}
    assert score("exists_in_directory", tree, {"expected": ["a.txt", "reports/q1.pdf"]}).value == 1.0
    assert score("exists_in_directory", tree, {"expected": "q1.pdf"}).value == 0.0


# --- CSV -----------------------------------------------------------------------------------------------------


def test_check_csv_matches_expected_and_unexpected_rows(tmp_path):
    path = csv_file(tmp_path / "people.csv", [["name", "age"], ["Ada", 36], ["Alan", 41]])
    assert score("check_csv", path, {"expect": [{"name": "Ada", "age": "36"}], "unexpect": [{"name": "Bob"}]}).value == 1
    assert score("check_csv", path, {"expect": [{"name": "Ada", "age": "41"}]}).value == 0.0
    assert score("check_csv", path, {"unexpect": [{"name": "Alan"}]}).value == 0.0


def test_compare_csv_scores_zero_when_a_value_sits_in_the_wrong_row(tmp_path):
    expected = csv_file(tmp_path / "e.csv", [["a", "b"], [1, 2], [3, 4]])
    assert score("compare_csv", csv_file(tmp_path / "same.csv", [["a", "b"], [1, 2], [3, 4]]), expected).value == 1.0
    swapped = score("compare_csv", csv_file(tmp_path / "r.csv", [["a", "b"], [3, 4], [1, 2]]), expected)
    assert swapped == Score(0.0, "line 2: '3,4' != '1,2'")


def test_compare_csv_strict_false_ignores_surrounding_spaces(tmp_path):
    result, expected = write(tmp_path / "r.csv", " a,b \n"), write(tmp_path / "e.csv", "a,b\n")
    assert score("compare_csv", result, expected).value == 0.0
    assert score("compare_csv", result, expected, strict=False).value == 1.0


# --- spreadsheets --------------------------------------------------------------------------------------------


def test_compare_table_scores_one_when_every_sheet_has_the_same_values(tmp_path):
    cells = {"A1": "name", "B1": "total", "A2": "north", "B2": 42, "Costs!C3": 1.5}
    result = xlsx(tmp_path / "r.xlsx", cells, ("Sales", "Costs"))
    expected = xlsx(tmp_path / "e.xlsx", cells, ("Sales", "Costs"))
    assert score("compare_table", result, expected) == Score(1.0, "all 3 table rules pass")


def test_compare_table_scores_zero_when_value_is_in_wrong_cell(tmp_path):
    result = xlsx(tmp_path / "r.xlsx", {"A1": "total", "B3": 42})
    expected = xlsx(tmp_path / "e.xlsx", {"A1": "total", "B2": 42})
    assert score("compare_table", result, expected) == Score(
        0.0, "result['Sheet1'] vs expected['Sheet1']: cell B2: None != 42")


def test_compare_table_rounds_floats_to_the_rule_precision(tmp_path):
    result = xlsx(tmp_path / "r.xlsx", {"A1": 1.23456})
    expected = xlsx(tmp_path / "e.xlsx", {"A1": 1.23459})
    assert score("compare_table", result, expected).value == 1.0  # both 1.2346 at the default precision, 4
    rules = [{"type": "sheet_data", "sheet_idx0": 0, "sheet_idx1": "EI0", "precision": 5}]
    assert score("compare_table", result, expected, rules=rules).value == 0.0


def test_compare_table_sheet_rules_address_sheets_by_name_and_index(tmp_path):
    result = xlsx(tmp_path / "r.xlsx", {"Data!A1": 7}, ("Summary", "Data"))
    expected = xlsx(tmp_path / "e.xlsx", {"A1": 7}, ("Data",))
    rules = [{"type": "sheet_data", "sheet_idx0": "RNData", "sheet_idx1": "EI0"}]
    assert score("compare_table", result, expected, rules=rules).value == 1.0
    renamed = score("compare_table", result, expected, rules=[{"type": "sheet_name"}])
    assert renamed == Score(0.0, "sheet names ['Summary', 'Data'] != ['Data']")
    absent = score("compare_table", result, expected, rules=[{"type": "sheet_data", "sheet_idx0": "RNx",
                                                              "sheet_idx1": "EI0"}])
    assert absent.reason == "result has no sheet 'x' (sheets: ['Summary', 'Data'])"


def test_compare_table_check_cell_tests_one_value_against_a_rule(tmp_path):
    result = xlsx(tmp_path / "r.xlsx", {"C4": 99.96, "D1": "Total: 12"})
    near = [{"type": "check_cell", "sheet_idx": 0, "coordinate": "C4", "props": {"value": {"method": "approx:0.1",
                                                                                          "ref": 100}}}]
    assert score("compare_table", result, rules=near).value == 1.0
    regex = [{"type": "check_cell", "sheet_idx": 0, "coordinate": "D1", "props": {"value": {"method": "re.I",
                                                                                           "ref": "^total: 13"}}}]
    assert score("compare_table", result, rules=regex).value == 0.0


def test_compare_table_sheet_fuzzy_compares_ranges_as_normalized_text(tmp_path):
    result = xlsx(tmp_path / "r.xlsx", {"A1": "12 Main Rd.", "A2": "apple pie"})
    expected = xlsx(tmp_path / "e.xlsx", {"A1": "12 main road", "A2": "apple"})
    rules = [{"type": "sheet_fuzzy", "sheet_idx0": "RI0", "sheet_idx1": "EI0", "rules": [
        {"range": ["A1"], "type": "exact_match", "normalization": [["Rd", "Road"]], "ignore_chars": ".",
         "ignore_case": True},
        {"range": ["A2"], "type": "includes"}]}]
    assert score("compare_table", result, expected, rules=rules).value == 1.0
    rules[0]["rules"][1]["type"] = "included_by"
    assert score("compare_table", result, expected, rules=rules).value == 0.0


def test_compare_table_refuses_rule_types_it_does_not_read(tmp_path):
    path = xlsx(tmp_path / "r.xlsx", {"A1": 1})
    with pytest.raises(ValueError, match="table rule 'sparkline' is not supported"):
        score("compare_table", path, path, rules=[{"type": "sparkline"}])


def test_compare_table_reads_csv_as_one_sheet_of_numbers(tmp_path):
    result = csv_file(tmp_path / "Sheet1.csv", [["name", "n"], ["a", 1], ["b", 2.5]])
    expected = xlsx(tmp_path / "e.xlsx", {"A1": "name", "B1": "n", "A2": "a", "B2": 1, "A3": "b", "B3": 2.5})
    assert score("compare_table", result, expected).value == 1.0


@soffice
def test_compare_table_reads_ods_through_libreoffice(tmp_path):
    import subprocess

    source = xlsx(tmp_path / "book.xlsx", {"A1": "x", "B2": 3})
    subprocess.run(["soffice", f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}", "--headless",
                    "--convert-to", "ods", "--outdir", str(tmp_path / "ods"), source], check=True,
                   capture_output=True, timeout=120)
    assert score("compare_table", str(tmp_path / "ods" / "book.ods"), source).value == 1.0


# --- documents -----------------------------------------------------------------------------------------------


def test_compare_docx_files_scores_one_on_the_same_paragraphs(tmp_path):
    paragraphs = ("Quarterly report", "Revenue grew in the north.")
    result, expected = document(tmp_path / "r.docx", *paragraphs), document(tmp_path / "e.docx", *paragraphs)
    assert score("compare_docx_files", result, expected).value == 1.0


def test_compare_docx_files_scores_zero_when_one_word_differs_and_names_it(tmp_path):
    result = document(tmp_path / "r.docx", "Quarterly report", "Revenue grew in the south.")
    expected = document(tmp_path / "e.docx", "Quarterly report", "Revenue grew in the north.")
    assert score("compare_docx_files", result, expected) == Score(0.0, "word 7: 'south.' != 'north.'")


def test_compare_docx_files_by_paragraph_needs_the_same_paragraph_breaks(tmp_path):
    result = document(tmp_path / "r.docx", "one two")
    expected = document(tmp_path / "e.docx", "one", "two")
    assert score("compare_docx_files", result, expected).value == 1.0  # ignore_blanks is OSWorld's default
    split = score("compare_docx_files", result, expected, ignore_blanks=False)
    assert split.value == 0.0 and split.reason.startswith("1 paragraphs != 2")


def test_compare_docx_files_fuzzy_and_case_options(tmp_path):
    result = document(tmp_path / "r.docx", "HELLO World")
    expected = document(tmp_path / "e.docx", "hello world")
    assert score("compare_docx_files", result, expected).value == 0.0
    assert score("compare_docx_files", result, expected, ignore_case=True).value == 1.0
    fuzzy = score("compare_docx_files", result, expected, fuzzy_match=True)
    assert 0.0 < fuzzy.value < 1.0
    assert score("compare_docx_files", result, expected, fuzzy_match=True, fuzzy_match_threshold=0.1).value == 1.0
