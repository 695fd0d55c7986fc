"""OSWorld's app metrics (images, browser, PDFs, archives, VS Code, GIMP, Thunderbird, VLC, accessibility tree),
each scored on files made here with the libraries that write them."""

import json

import numpy as np
import pytest
from osworld_files import docx_with_picture, gradient, write_pdf, zip_of
from PIL import Image

from step_envs.checkers import METRICS, Score
from step_envs.checkers.evaluate import measure
from step_envs.checkers.metrics.images import ssim
from step_envs.tasks.osworld import check_osworld


def value(func, result, expected=None, **options) -> float:
    score = measure(func, result, expected, options)
    assert isinstance(score, Score)
    return score.value


# images


def test_ssim_is_one_for_identical_images_and_lower_for_noise():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) < 0.2


def test_compare_images_is_the_ssim_and_rescales_over_a_base(tmp_path):
    a = gradient(tmp_path / "a.png")
    assert value("compare_images", a, a) == pytest.approx(1.0)
    noisy = tmp_path / "n.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(noisy)
    assert value("compare_images", str(noisy), a) < 0.5
    assert value("compare_images", str(noisy), a, reference_base_result=0.9) == 0.0


def test_compare_image_list_wants_every_pixel_equal(tmp_path):
    a, b = gradient(tmp_path / "a.png"), gradient(tmp_path / "b.png", shift=1)
    assert value("compare_image_list", [a, a], [a, a]) == 1.0
    assert value("compare_image_list", [a, b], [a, a]) == 0.0


def test_check_structure_sim_passes_the_same_picture_and_fails_another_size(tmp_path):
    a = gradient(tmp_path / "a.png")
    assert value("check_structure_sim", a, gradient(tmp_path / "b.png")) == 1.0
    assert value("check_structure_sim", a, gradient(tmp_path / "c.png", size=(32, 32))) == 0.0


def test_brightness_decrease_needs_a_darker_picture_of_the_same_structure(tmp_path):
    original = gradient(tmp_path / "o.png")
    darker = gradient(tmp_path / "d.png", scale=0.7)
    assert value("check_brightness_decrease_and_structure_sim", darker, original) == 1.0
    assert value("check_brightness_decrease_and_structure_sim", original, darker) == 0.0


def test_check_image_size_checks_the_given_sides_only(tmp_path):
    a = gradient(tmp_path / "a.png")
    assert value("check_image_size", a, {"width": 64}) == 1.0
    assert value("check_image_size", a, {"width": 64, "height": 40}) == 0.0


def test_check_image_size_measures_the_opaque_content_when_asked(tmp_path):
    image = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (10, 10, 30, 20))
    image.save(tmp_path / "t.png")
    assert value("check_image_size", str(tmp_path / "t.png"), {"width": 20, "height": 10,
                                                              "ignore_transparent": True}) == 1.0


def test_mirror_and_contrast_and_saturation_checks(tmp_path):
    original = gradient(tmp_path / "o.png")
    Image.open(original).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "m.png")
    assert value("check_image_mirror", str(tmp_path / "m.png"), original) == 1.0
    assert value("check_image_mirror", original, original) == 0.0
    stretched = np.clip((np.asarray(Image.open(original), np.float64) - 128) * 1.3 + 128, 0, 255).astype(np.uint8)
    Image.fromarray(stretched).save(tmp_path / "c.png")
    assert value("check_contrast_increase_and_structure_sim", str(tmp_path / "c.png"), original) == 1.0
    assert value("check_contrast_increase_and_structure_sim", original, str(tmp_path / "c.png")) == 0.0


def test_compare_docx_images_compares_the_pictures_in_documents(tmp_path):
    paths = []
    for name, shift in (("a", 0), ("b", 0), ("c", 40)):
        paths.append(docx_with_picture(tmp_path / f"{name}.docx", gradient(tmp_path / f"{name}.png", shift=shift)))
    assert value("compare_docx_images", paths[0], paths[1]) == 1.0
    assert value("compare_docx_images", paths[0], paths[2]) == 0.0


# browser


def test_url_pattern_match_needs_every_pattern():
    rules = {"expected": [r"united\.com", r"from=SFO"]}
    assert value("is_expected_url_pattern_match", {"url": "https://www.united.com/?from=SFO"}, rules) == 1.0
    assert value("is_expected_url_pattern_match", "https://www.united.com/", rules) == 0.0


def test_active_tab_ignores_www_the_public_suffix_and_a_lone_slash():
    rules = {"type": "url", "url": "https://www.airbnb.com/"}
    assert value("is_expected_active_tab", "https://airbnb.com.sg", rules) == 1.0
    assert value("is_expected_active_tab", {"url": "https://www.airbnb.com/rooms"}, rules) == 0.0
    approx = {"type": "url", "url": "https://site.org/page?x=1"}
    assert value("is_expected_active_tab_approximate", "https://site.org/page?y=2", approx) == 1.0


def test_expected_tabs_match_as_a_set_of_the_same_length():
    rules = {"type": "url", "urls": ["https://github.com", "https://docs.python.org/3/"]}
    tabs = [{"url": "https://docs.python.org/3/"}, {"url": "https://github.com/"}]
    assert value("is_expected_tabs", tabs, rules) == 1.0
    assert value("is_expected_tabs", tabs + [{"url": "https://x.org"}], rules) == 0.0


def test_bookmarks_rules():
    roots = {"bookmark_bar": {"children": [
        {"type": "folder", "name": "Liked Authors", "children": [{"type": "url", "url": "https://a.org"},
                                                                  {"type": "url", "url": "https://b2.org"}]},
        {"type": "url", "url": "https://jalammar.github.io/"}]}}
    assert value("is_expected_bookmarks", roots, {"type": "bookmark_bar_folders_names",
                                                  "names": ["Liked Authors"]}) == 1.0
    assert value("is_expected_bookmarks", roots, {"type": "bookmark_bar_websites_urls", "urls": ["https://x"]}) == 0
    liked = {"type": "liked_authors_websites_urls", "urls": ["https://a.org", ["https://b1.org", "https://b2.org"]]}
    assert value("is_expected_bookmarks", roots, liked) == 1.0


def test_compare_pdfs_is_the_text_similarity(tmp_path):
    a = write_pdf(tmp_path / "a.pdf", "Quarterly report 2024")
    assert value("compare_pdfs", a, write_pdf(tmp_path / "b.pdf", "Quarterly report 2024")) == 1.0
    assert 0.3 < value("compare_pdfs", a, write_pdf(tmp_path / "c.pdf", "Quarterly summary 2023")) < 1.0


def test_compare_archive_needs_the_same_names_then_compares_each_file(tmp_path):
    def archive(name: str, files: dict[str, str]) -> str:
        return zip_of(tmp_path / name, files)

    gold = archive("gold.zip", {"1.txt": "one", "2.txt": "two"})
    assert value("compare_archive", archive("same.zip", {"1.txt": "one", "2.txt": "two"}), gold,
                 file_path="slides") == 1.0
    assert value("compare_archive", archive("half.zip", {"1.txt": "one", "2.txt": "TWO"}), gold,
                 file_path="slides") == 0.5
    assert value("compare_archive", archive("other.zip", {"1.txt": "one"}), gold, file_path="slides") == 0.0


# VS Code


def test_check_json_settings_wants_every_expected_key(tmp_path):
    (tmp_path / "settings.json").write_text(json.dumps({"editor.fontSize": 14, "files.autoSave": "afterDelay"}))
    path = str(tmp_path / "settings.json")
    assert value("check_json_settings", path, {"expected": {"editor.fontSize": 14}}) == 1.0
    assert value("check_json_settings", path, {"expected": {"editor.fontSize": 16}}) == 0.0


def test_check_json_keybindings_skips_vs_codes_comment_line(tmp_path):
    binding = {"key": "ctrl+j", "command": "workbench.action.togglePanel"}
    (tmp_path / "keybindings.json").write_text("// Place your key bindings in this file\n" + json.dumps([binding]))
    assert value("check_json_keybindings", str(tmp_path / "keybindings.json"), {"expected": binding}) == 1.0
    assert value("check_json_keybindings", str(tmp_path / "keybindings.json"),
                 {"expected": dict(binding, key="ctrl+k")}) == 0.0


def test_is_extension_installed_contain_and_not_contain():
    listing = "ms-python.python\nms-toolsai.jupyter\n"
    assert value("is_extension_installed", listing, {"type": "contain", "expected": "ms-python.python"}) == 1.0
    assert value("is_extension_installed", listing, {"type": "not_contain", "expected": "ms-python.python"}) == 0


def test_compare_config_is_a_json_subset_by_default_and_equality_when_strict(tmp_path):
    (tmp_path / "c.json").write_text('{"a": {"b": 1, "c": 2}, "d": [1]}')
    path = str(tmp_path / "c.json")
    assert value("compare_config", path, {"expected": '{"a": {"b": 1}}'}) == 1.0
    assert value("compare_config", path, {"expected": '{"a": {"b": 2}}'}) == 0.0
    assert value("compare_config", path, {"expected": '{"a": {"b": 1}}'}, containment_ok=False) == 0.0


def test_python_test_suite_imports_the_fetched_files_beside_it(tmp_path):
    (tmp_path / "snake.py").write_text("def length():\n    return 3\n")
    (tmp_path / "test_suite.py").write_text("import snake\n\ndef test():\n    return snake.length() == 3\n")
    assert value("check_python_file_by_test_suite", [str(tmp_path / "snake.py")],
                 str(tmp_path / "test_suite.py")) == 1.0
    (tmp_path / "snake.py").write_text("def length():\n    raise RuntimeError('broken')\n")
    assert value("check_python_file_by_test_suite", str(tmp_path / "snake.py"), str(tmp_path / "test_suite.py")) == 0.0


# GIMP, Thunderbird, VLC, accessibility tree


def test_check_config_status_reads_gimprc_lines(tmp_path):
    (tmp_path / "gimprc").write_text("# GIMP gimprc\n(theme \"Dark\")\n(default-image\n(show-menubar yes)\n"
                                     "(undo-levels 100)\n")
    path = str(tmp_path / "gimprc")
    assert value("check_config_status", path, {"key": "undo-levels", "value": "100"}) == 1.0
    assert value("check_config_status", path, {"key": "undo-levels", "value": "5"}) == 0.0


def test_thunderbird_prefs_expect_and_unexpect(tmp_path):
    (tmp_path / "prefs.js").write_text('user_pref("mail.spam.manualMark", true);\n'
                                       'user_pref("mailnews.default_sort_order", 2);\n')
    path = str(tmp_path / "prefs.js")
    assert value("check_thunderbird_prefs", path, {"expect": {"mail.spam.manualMark": {"method": "eq", "ref": True}},
                                                   "unexpect": {}}) == 1.0
    assert value("check_thunderbird_prefs", path, {"expect": {}, "unexpect": {
        "mailnews.default_sort_order": {"method": "eq", "ref": 2}}}) == 0.0
    assert value("check_thunderbird_prefs", path, {"expect": {"absent.pref": {"method": "eq", "ref": 1}}}) == 0.0


def test_thunderbird_filter_finds_the_expected_filter(tmp_path):
    (tmp_path / "msgFilterRules.dat").write_text(
        'version="9"\nlogging="no"\nname="Move receipts"\nenabled="yes"\ntype="17"\naction="Move to folder"\n'
        'actionValue="mailbox://nobody@Local%20Folders/Receipts"\ncondition="AND (subject,contains,receipt)"\n')
    path = str(tmp_path / "msgFilterRules.dat")
    expect = {"name": "Move receipts", "enabled": "yes", "condition": ["AND (subject,contains,receipt)"]}
    assert value("check_thunderbird_filter", path, {"expect": [expect]}) == 1.0
    assert value("check_thunderbird_filter", path, {"expect": [dict(expect, enabled="no")]}) == 0.0


def test_thunderbird_folder_compares_messages_ignoring_order_and_deleted_ones(tmp_path):
    one = "FROM - Mon\nX-Mozilla-Status: 0001\nSubject: a\n\nbody a\n"
    two = "FROM - Tue\nX-Mozilla-Status: 0001\nSubject: b\n\nbody b\n"
    deleted = "FROM - Wed\nX-Mozilla-Status: 0009\nSubject: c\n\nbody c\n"
    (tmp_path / "got").write_text(two + one + deleted)
    (tmp_path / "gold").write_text(one + two)
    (tmp_path / "other").write_text(one)
    assert value("check_thunderbird_folder", str(tmp_path / "got"), str(tmp_path / "gold")) == 1.0
    assert value("check_thunderbird_folder", str(tmp_path / "got"), str(tmp_path / "other")) == 0.0


def test_is_vlc_playing_reads_the_status_xml(tmp_path):
    xml = ("<root><state>{}</state><information><category name=\"meta\">"
           "<info name=\"filename\">/home/user/Music/song.mp3</info></category></information></root>")
    (tmp_path / "playing.xml").write_text(xml.format("playing"))
    (tmp_path / "paused.xml").write_text(xml.format("paused"))
    rules = {"type": "file_name", "file_name": "song.mp3"}
    assert value("is_vlc_playing", str(tmp_path / "playing.xml"), rules) == 1.0
    assert value("is_vlc_playing", str(tmp_path / "paused.xml"), rules) == 0.0


A11Y = ('<desktop-frame xmlns:attr="https://accessibility.ubuntu.example.org/ns/attributes">'
        '<application name="Thunderbird"><tool-bar attr:id="MsgHeadersToolbar"><label name="To">To</label>'
        '<label name="fox@uni.edu">fox@uni.edu</label></tool-bar></application></desktop-frame>')


def test_check_accessibility_tree_by_xpath_and_css_selectors():
    assert value("check_accessibility_tree", A11Y, [
        {"xpath": "//application[@name='Thunderbird']//*[contains(@name, 'fox@uni.edu')]"},
        {"selectors": ["tool-bar[attr|id=MsgHeadersToolbar] label[name=To]"], "text": "To"}]) == 1.0
    assert value("check_accessibility_tree", A11Y, [{"xpath": "//*[contains(@name, 'iron@')]"}]) == 0.0
    fuzzy = value("check_accessibility_tree", A11Y, [{"selectors": ["label[name=To]"], "text": "Tx", "exact": False}])
    assert fuzzy == pytest.approx(0.5)


# loading OSWorld tasks


def test_an_osworld_task_using_the_new_metrics_loads_as_runnable(tmp_path):
    task = {"id": "t1", "instruction": "Set the font size to 14.", "config": [], "evaluator": {
        "func": "check_json_settings",
        "result": {"type": "vm_file", "path": "/home/user/.config/Code/User/settings.json", "dest": "settings.json"},
        "expected": {"type": "rule", "rules": {"expected": {"editor.fontSize": 14}}}}}
    loaded = check_osworld(task, tmp_path / "t1.json", "vs_code")
    assert loaded.supported, loaded.unsupported


def test_compare_archive_reports_an_unknown_file_type_at_load_time(tmp_path):
    task = {"id": "t2", "instruction": "Zip them.", "config": [], "evaluator": {
        "func": "compare_archive", "result": {"type": "vm_file", "path": "/home/user/a.zip", "dest": "a.zip"},
        "expected": {"type": "vm_file", "path": "/home/user/b.zip", "dest": "b.zip"},
        "options": {"file_type": "epub"}}}
    loaded = check_osworld(task, tmp_path / "t2.json", "multi_apps")
    assert not loaded.supported and "file_type 'epub' unknown; use one of text, pdf" in str(loaded.unsupported)


def test_every_metric_here_is_registered():
    assert {"compare_images", "compare_pdfs", "check_json_settings", "is_expected_tabs", "check_thunderbird_prefs",
            "check_accessibility_tree", "compare_archive", "is_vlc_playing"} <= set(METRICS)
