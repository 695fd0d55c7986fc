"""Metrics on answers written into files and on the desktop's system state, and the getters behind two of them
(a sheet's last row, the default video player) against a real controller server."""

import shutil
import subprocess
from pathlib import Path

import docx
import openpyxl
import pytest
from controller_support import check_context, headless_controller

from step_envs.checkers import GETTERS, METRICS, Score
from step_envs.checkers.getters.app_state import VIDEO_TYPES


def score(name: str, result, expected=None, **options) -> Score:
    return METRICS[name](result, expected, **options)


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_check_line_number_counts_lines_with_a_time(tmp_path):
    report = write(tmp_path / "report.txt", "Linux 6.1 (vm)\n\n12:00:01 CPU %user %idle\n12:00:02 all 1.0 99.0\n"
                                            "Average: all 1.0 99.0\n")
    assert score("check_line_number", report, {"expected": "2"}) == Score(1.0, "2 timed lines")
    assert score("check_line_number", report, {"expected": "31"}).value == 0.0


def test_compare_result_files_accepts_the_number_within_a_sentence(tmp_path):
    gold = write(tmp_path / "gold.txt", "25.5\n")
    assert score("compare_result_files", write(tmp_path / "a.txt", "The median price is 25.5"), gold).value == 1.0
    assert score("compare_result_files", write(tmp_path / "b.txt", "25.50001"), gold).value == 1.0
    assert score("compare_result_files", write(tmp_path / "c.txt", "26"), gold).value == 0.0
    assert score("compare_result_files", write(tmp_path / "d.txt", "yes"), write(tmp_path / "e.txt", "yes")).value == 1


def test_compare_python_pure_text_ignores_blank_lines_tabs_and_a_coding_line(tmp_path):
    gold = write(tmp_path / "gold.py", "import torch\n\n# hyperparameters\nbatch_size = 16\nfor i in range(3):\n"
                                       "    print(i)\n")
    mine = write(tmp_path / "mine.py", "# -*- coding: utf-8 -*-\nimport torch\n# hyperparameters\n\nbatch_size = 16  \n"
                                       "for i in range(3):\n\tprint(i)\n")
    assert score("compare_python_pure_text", mine, gold).value == 1.0
    markdown = write(tmp_path / "md.py", "import torch\n## Heading\n# hyperparameters\nbatch_size = 16\n")
    assert score("compare_python_pure_text", markdown, gold).reason == "code line 2: '## Heading' != '# hyperparameters'"


def test_fuzzy_place_math_scores_three_listed_places(tmp_path):
    places = ["深圳市福田区益田路5055号", "深圳市福田区福华三路111号", "深圳市福田区正义街1号"]
    document = docx.Document()
    for place in places[:2] + ["深圳市福田区正义街2号"]:
        document.add_paragraph(place)
    document.save(tmp_path / "places.docx")
    value = score("fuzzy_place_math", str(tmp_path / "places.docx"), {"expected": places}).value
    assert 0.95 < value < 1.0
    document.add_paragraph("另一个地址")
    document.save(tmp_path / "four.docx")
    assert score("fuzzy_place_math", str(tmp_path / "four.docx"), {"expected": places}).reason.startswith(
        "4 entries, not 3")


def test_conference_cities_match_loosely_in_order(tmp_path):
    workbook = openpyxl.Workbook()
    cities = ["Scottsdale, AZ", "Montréal", "new york city"] + ["Sydney"] * 18
    for row, city in enumerate(cities, start=2):
        workbook.active[f"C{row}"] = city
    workbook.save(tmp_path / "cities.xlsx")
    accepted = ["Scottsdale", ["Montreal", "Montréal"], ["New York", "NYC"]] + ["Sydney"] * 18
    assert score("compare_conference_city_in_order", str(tmp_path / "cities.xlsx"), {"expected": accepted}).value == 1
    accepted[1] = "Toronto"
    assert score("compare_conference_city_in_order", str(tmp_path / "cities.xlsx"), {"expected": accepted}) == Score(
        0.0, "C3 is 'Montréal', not 'Toronto'")


def test_system_state_metrics():
    clipboard = "/home/user/Data3/List3/secret.docx"
    assert score("is_in_vm_clickboard", {"expected": clipboard}, clipboard + "\n").value == 1.0
    assert score("is_in_vm_clickboard", {"expected": clipboard}, None).reason == "the clipboard could not be read"
    status = ("               Local time: Thu 2024-01-25 12:56:06 WET\n           Universal time: Thu 2024-01-25 "
              "12:56:06 UTC\n                 RTC time: Thu 2024-01-25 12:56:05\n                Time zone: "
              "{} \n")
    assert score("is_utc_0", status.format("Atlantic/Faroe (WET, +0000)")).value == 1.0
    assert score("is_utc_0", status.format("Europe/Paris (CET, +0100)")).value == 0.0
    favourites = "['thunderbird.desktop', 'google-chrome.desktop']\n"
    rules = {"expected": ["google-chrome.desktop", "thunderbird.desktop"]}
    assert score("check_gnome_favorite_apps", favourites, rules).value == 1.0
    assert score("check_gnome_favorite_apps", "['vim.desktop']", rules).value == 0.0
    folder = {"type": "directory", "name": "cpjpg", "children": [{"type": "file", "name": "a.jpg"},
                                                                 {"type": "file", "name": "b.jpg"}]}
    assert score("check_moved_jpgs", folder, {"expected": ["b.jpg", "a.jpg"]}).value == 1.0
    assert score("check_moved_jpgs", folder, {"expected": ["a.jpg"]}).value == 0.0


@pytest.fixture(scope="module")
def controller():
    with headless_controller() as client:
        yield client


def test_content_from_vm_file_reads_the_last_row_of_a_sheet(controller, tmp_path):
    workbook = openpyxl.Workbook()
    for row in (["Name", "Citations", "h-index", "Note"], ["Geoffrey Hinton", 900000, 190, "x"],
                ["Yann LeCun", 345074, 147, None], [None, None, None, None]):
        workbook.active.append(row)
    workbook.save(tmp_path / "researchers.xlsx")
    config = {"type": "content_from_vm_file", "path": str(tmp_path / "researchers.xlsx"), "file_type": "xlsx",
              "file_content": "last_row"}
    row = GETTERS["content_from_vm_file"](check_context(controller, tmp_path), config)
    assert row == ["Yann LeCun", "345074", "147", "nan"]
    assert score("literal_match", row, ["yann lecun", "345074", "147", "NaN"], type="list", ignore_case=True).value == 1


@pytest.mark.skipif(shutil.which("xdg-mime") is None, reason="needs xdg-utils")
def test_default_video_player_asks_xdg_mime(controller, tmp_path, monkeypatch):
    (tmp_path / "data" / "applications").mkdir(parents=True)
    (tmp_path / "data" / "applications" / "player.desktop").write_text(
        "[Desktop Entry]\nType=Application\nName=player\nExec=true %U\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "mimeapps.list").write_text(
        "[Default Applications]\n" + "".join(f"video/{kind}=player.desktop\n" for kind in VIDEO_TYPES))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the server runs its commands in this process's
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # environment
    assert GETTERS["default_video_player"](check_context(controller, tmp_path), {}) == "player.desktop"


HOME_SKELETON_CONFIG = Path(__file__).resolve().parents[1] / "step_envs" / "data" / "desktop" / "home" / ".config"


def _installed(*desktop_files: str) -> None:
    """The desktop apps a test needs, installed by `make install` (step_envs/data/desktop/apt-packages.txt)."""
    missing = [name for name in desktop_files if not Path("/usr/share/applications", name).exists()]
    if shutil.which("xdg-mime") is None or missing:
        pytest.fail(f"xdg-utils or {missing} not installed: `make install` installs them")


def test_the_sessions_home_starts_with_totem_as_default_video_player_until_vlc_is_made_it(controller, tmp_path,
                                                                                           monkeypatch):
    """As on OSWorld's Ubuntu, videos open in Totem, so multi_apps 937087b6 ("set VLC as the default video
    player") fails undone and passes after `xdg-mime default vlc.desktop video/...`."""
    _installed("org.gnome.Totem.desktop", "vlc.desktop")
    config = tmp_path / "config"
    shutil.copytree(HOME_SKELETON_CONFIG, config, ignore=lambda d, names: [n for n in names if n != "mimeapps.list"])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    context = check_context(controller, tmp_path)
    assert GETTERS["default_video_player"](context, {}) == "org.gnome.Totem.desktop"
    subprocess.run(["xdg-mime", "default", "vlc.desktop", *(f"video/{kind}" for kind in VIDEO_TYPES)], check=True)
    assert GETTERS["default_video_player"](context, {}) == "vlc.desktop"


def test_the_sessions_home_opens_pdfs_in_evince_as_osworlds_ubuntu_does(tmp_path, monkeypatch):
    """OSWorld's setups activate a PDF's window by Evince's title ("lecture.pdf — TITLE", vlc 386dbd0e)."""
    _installed("org.gnome.Evince.desktop")
    config = tmp_path / "config"
    shutil.copytree(HOME_SKELETON_CONFIG, config, ignore=lambda d, names: [n for n in names if n != "mimeapps.list"])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    found = subprocess.run(["xdg-mime", "query", "default", "application/pdf"], capture_output=True, text=True)
    assert found.stdout.strip() == "org.gnome.Evince.desktop"


def test_chromiums_microsoft_bing_reads_as_chromes_bing(controller, tmp_path, monkeypatch):
    """The getter reads the profile's Preferences through the controller, as in an episode."""
    import json

    home = tmp_path / "home"
    preferences = home / ".config" / "chromium" / "Default" / "Preferences"
    preferences.parent.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))  # the server's commands run in this process's environment
    context = check_context(controller, tmp_path)

    def engine(**data):
        preferences.write_text(json.dumps({"default_search_provider_data": {"template_url_data": data}}))
        return GETTERS["default_search_engine"](context, {})

    assert engine(short_name="Microsoft Bing", prepopulate_id=3, keyword="bing.com") == "Bing"
    assert engine(short_name="Microsoft Bing", prepopulate_id=0) == "Microsoft Bing"  # a name the user typed
    assert engine(short_name="DuckDuckGo", prepopulate_id=92) == "DuckDuckGo"
    assert engine() == "Google"
