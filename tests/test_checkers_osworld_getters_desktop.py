"""OSWorld's app getters (GIMP, VLC, Chrome settings files, DevTools tabs) against a real local desktop session."""

import json
from pathlib import Path

import pytest

from step_envs.checkers import GETTERS, CheckContext
from step_envs.checkers.evaluate import measure
from step_envs.providers.local import LocalProvider
from step_envs.server.client import ControllerClient

pytestmark = pytest.mark.desktop
BOOKMARKS = {"roots": {"bookmark_bar": {"children": [{"type": "folder", "name": "Favorites", "children": []}]}}}
PREFERENCES = {"extensions": {"settings": {"abc": {"path": "/home/user/Desktop/helloExtension"}, "def": {}}}}


@pytest.fixture(scope="module")
def client():
    provider = LocalProvider()
    try:
        controller = ControllerClient(provider.start())
        controller.execute(
            "mkdir -p ~/.config/GIMP/2.10 ~/.config/vlc ~/.config/chromium/Default && "
            "echo '(undo-levels 100)' > ~/.config/GIMP/2.10/gimprc && echo 'qt-minimal-view=1' > ~/.config/vlc/vlcrc"
            f" && echo '{json.dumps(BOOKMARKS)}' > ~/.config/chromium/Default/Bookmarks"
            f" && echo '{json.dumps(PREFERENCES)}' > ~/.config/chromium/Default/Preferences", shell=True)
        yield controller
        controller.close()
    finally:
        provider.stop()


@pytest.fixture
def ctx(client, tmp_path):
    return CheckContext(client=client, cache_dir=tmp_path / "cache")


def test_gimp_and_vlc_config_getters_fetch_the_apps_files_from_the_env_home(ctx):
    gimprc = GETTERS["gimp_config_file"](ctx, {"file_name": "gimprc", "dest": "gimprc"})
    assert measure("check_config_status", gimprc, {"key": "undo-levels", "value": "100"}).value == 1.0
    assert Path(GETTERS["vlc_config"](ctx, {"dest": "vlcrc"})).read_text() == "qt-minimal-view=1\n"


def test_chrome_profile_getters_read_chromiums_bookmarks_and_preferences(ctx):
    roots = GETTERS["bookmarks"](ctx, {})
    assert measure("is_expected_bookmarks", roots, {"type": "bookmark_bar_folders_names",
                                                     "names": ["Favorites"]}).value == 1.0
    assert GETTERS["find_unpacked_extension_path"](ctx, {}) == ["/home/user/Desktop/helloExtension"]


def test_browser_getters_give_none_without_a_running_browser(ctx):
    assert GETTERS["open_tabs_info"](ctx, {}) is None
    assert GETTERS["active_tab_info"](ctx, {}) is None
    assert GETTERS["active_url_from_accessTree"](ctx, {}) is None
    assert GETTERS["vlc_playing_info"](ctx, {"dest": "status.xml"}) is None


def test_vm_window_size_measures_an_apps_window_and_gives_none_without_one(ctx):
    panel = GETTERS["vm_window_size"](ctx, {"type": "vm_window_size", "app_class_name": "xfce4-panel"})
    assert panel["width"] > 0 and panel["height"] > 0
    assert GETTERS["vm_window_size"](ctx, {"type": "vm_window_size", "app_class_name": "vlc"}) is None
    assert measure("is_vlc_fullscreen", GETTERS["vm_screen_size"](ctx, {}), None).reason == "no VLC window"
