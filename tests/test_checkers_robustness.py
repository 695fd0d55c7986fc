"""Checker robustness: every registered metric and getter, on missing, empty, corrupt or wrong-type input, scores 0
with a reason instead of raising; a checker never hangs the episode.

The cases are parametrized over the registries: a newly registered metric fails
``test_every_metric_has_a_robustness_case`` until it gets a good case below, and is then covered by every test."""

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docx
import openpyxl
import pptx
import pytest
from office_cases import OFFICE_CASES
from osworld_files import docx_with_picture, gradient, write_pdf, zip_of
from PIL import Image

from step_envs.checkers import GETTERS, METRICS, CheckContext, Score, evaluate
from step_envs.checkers.evaluate import measure
from step_envs.providers.base import Endpoint
from step_envs.server.client import ControllerClient

CORRUPT = b"\x00\xff\xfePK\x03\x04\x89PNG not what it claims to be\n\x01\x02\x03"


def text(path: Path, content: str) -> str:
    path.write_text(content)
    return str(path)


def xlsx(path: Path) -> str:
    workbook = openpyxl.Workbook()
    workbook.active["A1"], workbook.active["B2"] = "total", 42
    workbook.save(path)
    return str(path)


def docx_file(path: Path, *paragraphs: str) -> str:
    doc = docx.Document()
    for paragraph in paragraphs or ("Quarterly report", "Revenue grew."):
        doc.add_paragraph(paragraph)
    doc.save(path)
    return str(path)


def pptx_file(path: Path) -> str:
    presentation = pptx.Presentation()
    presentation.slides.add_slide(presentation.slide_layouts[5]).shapes.title.text = "Launch"
    presentation.save(path)
    return str(path)


def sqlite_file(path: Path) -> str:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x INTEGER)")
        db.execute("INSERT INTO t VALUES (1)")
    return str(path)


def footer_docx(path: Path) -> str:
    doc = docx.Document()
    doc.add_paragraph("text")
    doc.sections[0].footer.paragraphs[0].text = "Page 1"
    doc.save(path)
    return str(path)


def centered_docx(path: Path) -> str:
    doc = docx.Document()
    doc.add_paragraph("Title").paragraph_format.alignment = 1
    doc.save(path)
    return str(path)


def page_break_docx(path: Path) -> str:
    doc = docx.Document()
    doc.add_paragraph("one").runs[0].add_break(docx.enum.text.WD_BREAK.PAGE)
    doc.save(path)
    return str(path)


def styled_docx(path: Path) -> str:
    doc = docx.Document()
    paragraph = doc.add_paragraph("H")
    paragraph.add_run("2").font.subscript = True
    struck = doc.add_paragraph().add_run("old")
    struck.font.strike = True
    for run in (*paragraph.runs, struck):
        run.font.name = "Liberation Serif"
    doc.save(path)
    return str(path)


def table_docx(path: Path) -> str:
    doc = docx.Document()
    doc.add_table(rows=1, cols=2).cell(0, 0).text = "qty"
    doc.save(path)
    return str(path)


def presenter_xcu(path: Path) -> str:
    return text(path, '<oor:items xmlns:oor="http://openoffice.org/2001/registry"><item oor:path="/org.openoffice.'
                      'Office.Impress/Misc/Start"><prop oor:name="EnablePresenterScreen"><value>false</value></prop>'
                      "</item></oor:items>")


# kind of the result ("file": a path the metric reads; "presence": a path whose existence counts; "value": a value
# a getter produced; "tree": a list_directory tree), kind of the expected side ("file", "rules", "value", "none"),
# and a factory of a good case (result, expected, options) that scores 1.
Case = tuple[str, str, Callable[[Path], tuple[Any, Any, dict[str, Any]]]]
TREE = {"type": "directory", "name": "docs", "children": [{"type": "file", "name": "a.txt"}]}
CASES: dict[str, Case] = {
    "exact_match": ("value", "rules", lambda d: ("foo", {"expected": "foo"}, {})),
    "is_in_list": ("value", "rules", lambda d: (["a", "b"], {"expected": "b"}, {})),
    "match_in_list": ("value", "rules", lambda d: ("b", {"expected": ["a", "b"]}, {})),
    "literal_match": ("value", "value", lambda d: ("42", "42", {})),
    "fuzzy_match": ("value", "rules", lambda d: ("kitten", {"expected": "kitten"}, {})),
    "check_include_exclude": ("value", "rules", lambda d: ("ssh enabled", {"include": ["ssh"], "exclude": ["x"]}, {})),
    "check_direct_json_object": ("value", "rules", lambda d: ('{"a": 1}', {"expected": {"a": 1}}, {})),
    "exists_in_directory": ("tree", "rules", lambda d: (TREE, {"expected": ["a.txt"]}, {})),
    "check_file_exists": ("presence", "none", lambda d: (text(d / "x.txt", "x"), None, {})),
    "compare_text_file": ("file", "file", lambda d: (text(d / "r.txt", "alpha\nbeta\n"),
                                                     text(d / "e.txt", "alpha\nbeta\n"), {})),
    "diff_text_file": ("file", "file", lambda d: (text(d / "r.txt", "alpha\nbeta\n"),
                                                  text(d / "e.txt", "alpha\nbeta\n"), {})),
    "check_list": ("file", "rules", lambda d: (text(d / "r.txt", "alpha 3\n"), {"expect": [r"^alpha \d$"]}, {})),
    "file_contains": ("file", "rules", lambda d: (text(d / "r.txt", "alpha"), {"expected": ["alpha"]}, {})),
    "check_csv": ("file", "rules", lambda d: (text(d / "r.csv", "name,age\nAda,36\n"),
                                              {"expect": [{"name": "Ada", "age": "36"}]}, {})),
    "compare_csv": ("file", "file", lambda d: (text(d / "r.csv", "a,b\n1,2\n"), text(d / "e.csv", "a,b\n1,2\n"), {})),
    "compare_table": ("file", "file", lambda d: (xlsx(d / "r.xlsx"), xlsx(d / "e.xlsx"), {"rules": [
        {"type": "sheet_data", "sheet_idx0": "RI0", "sheet_idx1": "EI0"}]})),
    "check_json": ("file", "rules", lambda d: (text(d / "r.json", json.dumps({"k": {"n": 4}})),
                                               {"expect": [{"key": ["k", "n"], "method": "eq", "ref": 4}]}, {})),
    "run_sqlite3": ("file", "rules", lambda d: (sqlite_file(d / "r.sqlite"), {"sql": "SELECT COUNT(*) FROM t"}, {})),
    "compare_docx_files": ("file", "file", lambda d: (docx_file(d / "r.docx"), docx_file(d / "e.docx"), {})),
    "compare_line_spacing": ("file", "file", lambda d: (docx_file(d / "r.docx"), docx_file(d / "e.docx"), {})),
    "compare_init_lines": ("file", "file", lambda d: (docx_file(d / "r.docx"), docx_file(d / "e.docx"), {})),
    "compare_docx_tables": ("file", "file", lambda d: (table_docx(d / "r.docx"), table_docx(d / "e.docx"), {})),
    "compare_subscript_contains": ("file", "file", lambda d: (styled_docx(d / "r.docx"), styled_docx(d / "e.docx"),
                                                              {})),
    "evaluate_strike_through_last_paragraph": ("file", "file", lambda d: (styled_docx(d / "r.docx"),
                                                                          styled_docx(d / "e.docx"), {})),
    "compare_font_names": ("file", "rules", lambda d: (styled_docx(d / "r.docx"),
                                                       {"font_name": "Liberation Serif"}, {})),
    "has_page_numbers_in_footers": ("file", "none", lambda d: (footer_docx(d / "r.docx"), None, {})),
    "is_first_line_centered": ("file", "none", lambda d: (centered_docx(d / "r.docx"), None, {})),
    "contains_page_break": ("file", "none", lambda d: (page_break_docx(d / "r.docx"), None, {})),
    "compare_pptx_files": ("file", "file", lambda d: (pptx_file(d / "r.pptx"), pptx_file(d / "e.pptx"), {})),
    "check_presenter_console_disable": ("file", "none", lambda d: (presenter_xcu(d / "r.xcu"), None, {})),
    # OSWorld's app metrics (step_envs/checkers/metrics/images.py, browser.py, archives.py, app_settings.py, text.py,
    # os_state.py)
    "compare_images": ("file", "file", lambda d: (gradient(d / "r.png"), gradient(d / "e.png"), {})),
    "compare_image_list": ("file", "file", lambda d: (gradient(d / "r.png"), gradient(d / "e.png"), {})),
    "check_structure_sim": ("file", "file", lambda d: (gradient(d / "r.png"), gradient(d / "e.png"), {})),
    "check_structure_sim_resized": ("file", "file", lambda d: (gradient(d / "r.png", size=(128, 96)),
                                                               gradient(d / "e.png"), {})),
    "check_file_exists_and_structure_sim": ("file", "file", lambda d: (gradient(d / "r.png"), gradient(d / "e.png"),
                                                                       {})),
    "check_brightness_decrease_and_structure_sim": ("file", "file", lambda d: (
        gradient(d / "r.png", scale=0.7), gradient(d / "e.png"), {})),
    "check_saturation_increase_and_structure_sim": ("file", "file", lambda d: (
        saturated(d / "r.png", 1.0), saturated(d / "e.png", 0.5), {})),
    "check_contrast_increase_and_structure_sim": ("file", "file", lambda d: (
        gradient(d / "r.png", scale=1.2, shift=-20), gradient(d / "e.png"), {})),
    "check_image_mirror": ("file", "file", lambda d: (mirrored(d / "r.png", gradient(d / "e.png")), str(d / "e.png"),
                                                      {})),
    "check_image_size": ("file", "rules", lambda d: (gradient(d / "r.png"), {"width": 64, "height": 48}, {})),
    "compare_docx_images": ("file", "file", lambda d: (docx_with_picture(d / "r.docx", gradient(d / "p.png")),
                                                       docx_with_picture(d / "e.docx", str(d / "p.png")), {})),
    "is_expected_url_pattern_match": ("value", "rules", lambda d: ("https://a.org/?q=1", {"expected": ["q=1"]}, {})),
    "is_expected_active_tab": ("value", "rules", lambda d: ("https://a.org", {"type": "url", "url": "https://www.a.org/"}, {})),
    "is_expected_active_tab_approximate": ("value", "rules", lambda d: (
        "https://a.org/p?x", {"type": "url", "url": "https://a.org/p"}, {})),
    "is_expected_tabs": ("value", "rules", lambda d: ([{"url": "https://a.org"}],
                                                      {"type": "url", "urls": ["https://a.org"]}, {})),
    "is_expected_search_query": ("value", "rules", lambda d: ({"url": "https://a.org/?q=cats"},
                                                              {"expect": {"pattern": "q=cats"}}, {})),
    "is_expected_bookmarks": ("value", "rules", lambda d: (
        {"bookmark_bar": {"children": [{"type": "folder", "name": "F", "children": []}]}},
        {"type": "bookmark_bar_folders_names", "names": ["F"]}, {})),
    "compare_pdfs": ("file", "file", lambda d: (write_pdf(d / "r.pdf", "Report"), write_pdf(d / "e.pdf", "Report"),
                                                {})),
    "compare_archive": ("file", "file", lambda d: (zip_of(d / "r.zip", {"a.txt": "x"}), zip_of(d / "e.zip", {
        "a.txt": "x"}), {"file_path": "slides"})),
    "check_json_settings": ("file", "rules", lambda d: (text(d / "s.json", '{"a": 1}'), {"expected": {"a": 1}}, {})),
    "check_json_keybindings": ("file", "rules", lambda d: (text(d / "k.json", '[{"key": "f1"}]'),
                                                           {"expected": {"key": "f1"}}, {})),
    "is_extension_installed": ("value", "rules", lambda d: ("ms-python.python\n", {
        "type": "contain", "expected": "ms-python.python"}, {})),
    "compare_config": ("file", "rules", lambda d: (text(d / "c.json", '{"a": 1, "b": 2}'), {"expected": '{"a": 1}'},
                                                   {})),
    "check_python_file_by_test_suite": ("value", "file", lambda d: (
        text(d / "mod.py", "X = 1\n"), text(d / "t.py", "import mod\n\ndef test():\n    return mod.X == 1\n"), {})),
    "check_config_status": ("file", "rules", lambda d: (text(d / "gimprc", "(undo-levels 100)\n"),
                                                        {"key": "undo-levels", "value": "100"}, {})),
    "check_thunderbird_prefs": ("file", "rules", lambda d: (text(d / "prefs.js", 'user_pref("a.b", 1);\n'), {
        "expect": {"a.b": {"method": "eq", "ref": 1}}}, {})),
    "check_thunderbird_filter": ("file", "rules", lambda d: (text(d / "f.dat", 'name="F"\nenabled="yes"\n'
                                                                               'condition="ALL"\n'),
                                                             {"expect": [{"name": "F", "condition": ["ALL"]}]}, {})),
    "check_thunderbird_folder": ("file", "file", lambda d: (text(d / "Inbox", "FROM - x\nSubject: a\n"),
                                                            text(d / "Gold", "FROM - x\nSubject: a\n"), {})),
    "is_vlc_playing": ("file", "rules", lambda d: (text(d / "status.xml", VLC_STATUS), {
        "type": "file_name", "file_name": "song.mp3"}, {})),
    "check_accessibility_tree": ("value", "rules", lambda d: ('<desktop><application name="A"/></desktop>',
                                                              [{"xpath": "//application[@name='A']"}], {})),
    # Chrome's profile and pages (step_envs/checkers/metrics/browser.py, structured.py)
    "check_font_size": ("value", "rules", lambda d: ({"default_font_size": 20}, {"type": "range", "min": 16,
                                                                                 "max": 99999}, {})),
    "check_history_deleted": ("value", "rules", lambda d: ([["https://news.org/", "News", 1]], {
        "type": "keywords", "keywords": ["youtube"]}, {})),
    "is_cookie_deleted": ("value", "rules", lambda d: ([[0, ".news.org", "", "sid"]], {
        "type": "domains", "domains": [".amazon.com"]}, {})),
    "is_shortcut_on_desktop": ("value", "rules", lambda d: ({"a.desktop": "[Desktop Entry]\nName=Play 2048\n"},
                                                            {"type": "name", "name": "Play 2048"}, {})),
    "is_expected_installed_extensions": ("value", "rules", lambda d: (["Momentum", "Zoom"], {
        "expected": ["Zoom"]}, {})),
    "is_added_to_steam_cart": ("value", "rules", lambda d: ({"content": "<li>Dota 2 Soundtrack</li>"}, {
        "items": ["Dota 2 Soundtrack"]}, {})),
    "compare_htmls": ("file", "file", lambda d: (text(d / "r.html", "<html><body><p>Hi</p></body></html>"),
                                                 text(d / "e.html", "<html><body><p>Hi</p></body></html>"), {})),
}
CASES.update(OFFICE_CASES)
VLC_STATUS = ('<root><state>playing</state><information><category name="meta"><info name="filename">song.mp3</info>'
              "</category></information></root>")


def saturated(path: Path, saturation: float) -> str:
    """A structured picture whose HSV saturation is ``saturation`` times the full one."""
    hue = Image.open(gradient(path)).convert("L")
    hsv = Image.merge("HSV", (hue, Image.new("L", hue.size, int(255 * saturation)), hue.point(lambda v: 60 + v // 2)))
    hsv.convert("RGB").save(path)
    return str(path)


def mirrored(path: Path, source: str) -> str:
    Image.open(source).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(path)
    return str(path)


def bad_files(directory: Path, like: str) -> dict[str, Any]:
    """Missing, empty, corrupt and wrong-type stand-ins for the file at ``like`` (same suffix where a file)."""
    suffix = Path(like).suffix
    (directory / "bad").mkdir(exist_ok=True)
    empty = directory / "bad" / f"empty{suffix}"
    empty.write_bytes(b"")
    corrupt = directory / "bad" / f"corrupt{suffix}"
    corrupt.write_bytes(CORRUPT)
    return {"none": None, "missing": str(directory / "bad" / f"absent{suffix}"), "directory": str(directory / "bad"),
            "empty": str(empty), "corrupt": str(corrupt), "int": 42, "dict": {"path": like}, "list": [like]}


BAD_VALUES = {"none": None, "empty": "", "object": object()}
BAD_TREES = {"none": None, "error": {"error": "Permission denied"}, "int": 42, "text": "docs", "empty": {}}
BAD_RULES = {"none": None, "int": 42, "text": "x", "list": [1], "empty": {}}


def bad_results(kind: str, directory: Path, good: Any) -> dict[str, Any]:
    if kind == "file":
        return bad_files(directory, good)
    if kind == "presence":
        return {key: value for key, value in bad_files(directory, good).items() if key not in ("empty", "corrupt")}
    return BAD_TREES if kind == "tree" else BAD_VALUES


def bad_expecteds(kind: str, directory: Path, good: Any) -> dict[str, Any]:
    if kind == "file":
        return bad_files(directory, good)
    return BAD_RULES if kind == "rules" else {"none": None, "object": object()}


def assert_zero_with_reason(score: Score) -> None:
    assert isinstance(score, Score) and score.value == 0.0 and score.reason.strip(), score


def test_every_metric_has_a_robustness_case():
    missing = sorted(set(METRICS) - set(CASES))
    assert not missing, f"add a good case to CASES in {__file__} for: {missing}"


@pytest.mark.parametrize("name", sorted(METRICS))
def test_the_good_case_scores_one(name, tmp_path):
    result, expected, options = CASES[name][2](tmp_path)
    assert measure(name, result, expected, options).value == 1.0


@pytest.mark.parametrize("name", sorted(METRICS))
def test_bad_results_score_zero_with_a_reason(name, tmp_path):
    kind, _, make = CASES[name]
    result, expected, options = make(tmp_path)
    for label, bad in bad_results(kind, tmp_path, result).items():
        score = measure(name, bad, expected, options)
        assert score.value == 0.0 and score.reason.strip(), f"{name} on a {label} result: {score}"


@pytest.mark.parametrize("name", sorted(name for name in METRICS if name in CASES and CASES[name][1] != "none"))
def test_bad_expecteds_score_zero_with_a_reason(name, tmp_path):
    _, kind, make = CASES[name]
    result, expected, options = make(tmp_path)
    for label, bad in bad_expecteds(kind, tmp_path, expected).items():
        score = measure(name, result, bad, options)
        assert score.value == 0.0 and score.reason.strip(), f"{name} on a {label} expected side: {score}"


@pytest.mark.parametrize("name, options", [
    ("compare_table", {"rules": 42}),
    ("compare_table", {"rules": [{"type": "sheet_data"}]}),
    ("compare_table", {"rules": [{"type": "check_cell", "sheet_idx": "XX9", "coordinate": "A1", "props": {}}]}),
    ("literal_match", {"type": 3}),
    ("compare_docx_files", {"fuzzy_match": True, "fuzzy_match_threshold": "high"}),
    ("compare_pptx_files", {"approximately_tolerance": "close"}),
    ("compare_pptx_files", {"examine_everything": True}),
])
def test_malformed_options_score_zero_instead_of_raising(name, options, tmp_path):
    result, expected, _ = CASES[name][2](tmp_path)
    assert_zero_with_reason(measure(name, result, expected, options))


# --- getters, against a real desktop session ----------------------------------------------------------------------

BAD_CONFIGS: dict[str, dict[str, Any]] = {
    "no keys": {},
    "int path": {"path": 42, "dest": "x", "command": 42, "rules": None},
    "empty strings": {"path": "", "dest": "", "command": ""},
    "list without multi": {"path": ["~/a.txt", "~/b.txt"], "dest": ["a", "b"], "command": []},
    "multi without lists": {"multi": True, "path": "~/a.txt", "dest": "a.txt"},
    "missing file": {"path": "~/robust/absent.txt", "dest": "absent.txt", "command": ["cat", "~/robust/absent.txt"]},
    "corrupt file": {"path": "~/robust/corrupt.xlsx", "dest": "corrupt.xlsx", "command": "head -c 64 ~/robust/c*"},
    "escaping dest": {"path": "~/robust/empty.txt", "dest": "../../etc/passwd", "gives": [5]},
}


@pytest.fixture(scope="module")
def live(client) -> ControllerClient:
    client.execute("mkdir -p ~/robust && : > ~/robust/empty.txt && printf '\\000\\377PK garbage' > "
                   "~/robust/corrupt.xlsx", shell=True)
    return client


@pytest.mark.desktop
@pytest.mark.parametrize("getter_name", sorted(GETTERS))
def test_every_getter_on_bad_input_scores_zero_with_a_reason(getter_name, live, tmp_path):
    ctx = CheckContext(client=live, cache_dir=tmp_path / "cache", task_dir=tmp_path)
    for label, config in BAD_CONFIGS.items():
        evaluator = {"func": "exact_match", "result": {**config, "type": getter_name},
                     "expected": {"type": "rule", "rules": {"expected": "never produced"}}}
        score = evaluate(evaluator, ctx, timeout=20)
        assert score.value == 0.0 and score.reason.startswith("exact_match: "), f"{getter_name}, {label}: {score}"


@pytest.mark.desktop
def test_a_getter_command_is_cut_to_the_evaluation_budget(live, tmp_path):
    ctx = CheckContext(client=live, cache_dir=tmp_path / "cache")
    evaluator = {"func": "exact_match", "result": {"type": "vm_command_line", "command": "sleep 30; echo done",
                                                   "shell": True, "timeout": 120},
                 "expected": {"type": "rule", "rules": {"expected": "done\n"}}}
    started = time.monotonic()
    score = evaluate(evaluator, ctx, timeout=2)
    assert score.value == 0.0 and time.monotonic() - started < 6, score
    assert "could not run" in score.reason or "timed out" in score.reason


# --- evaluate never hangs -----------------------------------------------------------------------------------------


@pytest.fixture
def offline_ctx(tmp_path):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound, never listening: a controller that refuses connections
        client = ControllerClient(Endpoint(f"http://127.0.0.1:{unused.getsockname()[1]}", None, 1, 1), timeout=5)
        yield CheckContext(client=client, cache_dir=tmp_path / "cache")
        client.close()


def test_a_metric_stuck_on_its_input_times_out_and_scores_zero(offline_ctx, tmp_path):
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)  # opening it for reading blocks until someone writes: a metric stuck on I/O
    evaluator = {"func": "compare_text_file", "result": {"type": "rule", "rules": str(fifo)},
                 "expected": {"type": "rule", "rules": text(tmp_path / "gold.txt", "x")}}
    started = time.monotonic()
    try:
        score = evaluate(evaluator, offline_ctx, timeout=1)
        assert time.monotonic() - started < 3
        assert score == Score(0.0, "compare_text_file: timed out (the evaluation's 1 s budget ran out)")
    finally:
        with open(fifo, "w"):  # release the abandoned reader so no thread outlives the test
            pass
    for thread in threading.enumerate():
        if thread.name == "check-compare_text_file":
            thread.join(5)
            assert not thread.is_alive()


def test_the_budget_covers_every_check_of_an_evaluator(offline_ctx, tmp_path):
    fifo = tmp_path / "slow"
    os.mkfifo(fifo)
    gold = {"type": "rule", "rules": text(tmp_path / "gold.txt", "x")}
    evaluator = {"func": ["exact_match", "compare_text_file"], "conj": "and",
                 "result": [{"type": "rule", "rules": "a"}, {"type": "rule", "rules": str(fifo)}],
                 "expected": [{"type": "rule", "rules": {"expected": "a"}}, gold]}
    try:
        score = evaluate(evaluator, offline_ctx, timeout=1)
        assert score.value == 0.0 and "timed out" in score.reason
    finally:
        with open(fifo, "w"):
            pass
