"""A local session as OSWorld's tasks and agents expect it: the app names they launch resolve, Ubuntu's
ctrl+alt+t and super shortcuts work, and X clients find a real Xauthority cookie (no warning on stdout)."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest

from step_envs.desktop import vscode
from step_envs.providers.local import LocalProvider
from step_envs.server.client import ControllerClient

pytestmark = pytest.mark.desktop

OSWORLD_APP_NAMES = ["google-chrome", "google-chrome-stable", "nautilus", "gnome-terminal", "libreoffice",
                     "thunderbird", "gimp", "vlc", "socat"]
# below the panel's menu button in the top-left corner, where the applications menu drops down
MENU_AREA = (slice(30, 300), slice(0, 200))


def _terminals(client: ControllerClient) -> list[dict[str, str]]:
    return [window for window in client.windows() if window["wm_class"].startswith("xfce4-terminal.")]


def _settled(client: ControllerClient) -> np.ndarray:
    """The screen once it stayed the same for 0.3 s (windows closed by an earlier test are gone)."""
    previous = client.screenshot()
    while True:
        time.sleep(0.3)
        current = client.screenshot()
        if (current == previous).all():
            return current
        previous = current


@pytest.mark.parametrize("name", OSWORLD_APP_NAMES)
def test_osworld_app_name_resolves_in_the_session(client: ControllerClient, name: str) -> None:
    found = client.execute(["bash", "-c", f"command -v {name}"])
    assert found["returncode"] == 0, f"{name} is not on the session's PATH: {found}"


def test_google_chrome_runs_chromium(client: ControllerClient) -> None:
    version = client.execute(["google-chrome-stable", "--version"], timeout=60)
    assert version["returncode"] == 0 and version["output"].startswith("Chromium "), version


def test_code_without_vs_code_says_how_to_add_it(client: ControllerClient) -> None:
    result = client.execute(["env", "STEP_ENVS_CODE_SERVER=/nonexistent", "code", "--version"])
    assert result["returncode"] == 127 and result["output"] == ""
    assert "VS Code is not installed" in result["error"] and "make install" in result["error"]


@pytest.mark.skipif(vscode.installed() is None and vscode.missing() is not None,
                    reason=f"code-server cannot be installed here: {vscode.missing()}")
def test_code_is_code_server_with_vs_codes_folders(client: ControllerClient) -> None:
    assert vscode.installed(), "code-server is not installed, though it can be here: run make install"
    version = client.execute(["code", "--version"], timeout=60)
    assert version["returncode"] == 0 and f"{vscode.VERSION} " in version["output"], version
    assert "Code 1.100.3" in version["output"]
    listed = client.execute(["code", "--list-extensions"], timeout=60)
    assert listed["returncode"] == 0 and listed["output"].strip() == "", listed
    assert client.execute(["test", "-d", "~/.vscode/extensions"])["returncode"] == 0
    assert client.execute(["test", "-d", "~/.config/Code/User"])["returncode"] == 0


def test_gnome_terminal_runs_its_command_after_the_double_dash(client: ControllerClient) -> None:
    client.execute("gnome-terminal --title dash-probe -- bash -c 'touch ~/ran-by-terminal; sleep 30' "
                   ">/dev/null 2>&1 &", shell=True)
    deadline = time.monotonic() + 20
    while client.execute(["test", "-e", "~/ran-by-terminal"])["returncode"] != 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert any(window["title"] == "dash-probe" for window in client.windows())
    assert client.window_action("close", "dash-probe")


def test_ctrl_alt_t_opens_a_terminal(client: ControllerClient) -> None:
    before = len(_terminals(client))
    client.act("pyautogui.hotkey('ctrl', 'alt', 't')")
    deadline = time.monotonic() + 20
    while len(_terminals(client)) == before:
        assert time.monotonic() < deadline, client.windows()
        time.sleep(0.05)
    for window in _terminals(client):
        client.execute(["wmctrl", "-i", "-c", window["id"]])


def test_super_alone_opens_the_applications_menu_and_super_combos_do_not(client: ControllerClient) -> None:
    quiet = _settled(client)[MENU_AREA]
    client.act("pyautogui.hotkey('winleft', 'shift')")  # super with another key: no menu
    time.sleep(1.0)
    assert (client.screenshot()[MENU_AREA] == quiet).all()
    client.act("pyautogui.press('winleft')")
    deadline = time.monotonic() + 10
    while (client.screenshot()[MENU_AREA] == quiet).all():
        assert time.monotonic() < deadline, "the applications menu did not open"
        time.sleep(0.05)
    client.act("pyautogui.press('escape')")


def test_python_importing_pyautogui_prints_nothing_but_its_own_output(client: ControllerClient) -> None:
    result = client.execute(["python3", "-c", "import pyautogui; print(pyautogui.size())"])
    assert result["output"] == "Size(width=1280, height=720)\n", result


def test_x_clients_without_the_sessions_cookie_are_refused(session: LocalProvider) -> None:
    env = session._session_env()
    assert subprocess.run(["xdpyinfo"], env=env, capture_output=True, timeout=10).returncode == 0
    stranger = subprocess.run(["xdpyinfo"], env={**env, "HOME": str(session.dir / "run")}, capture_output=True,
                              text=True, timeout=10)
    assert stranger.returncode != 0 and "Authorization required" in stranger.stderr


def test_commands_and_terminals_start_in_the_home(session: LocalProvider, client: ControllerClient) -> None:
    assert client.execute(["pwd"])["output"] == f"{session.home}\n"
    before = len(_terminals(client))
    assert client.execute(["python3", "-c", "from step_envs.server.windows import open_terminal\n"
                           "assert open_terminal()"], timeout=60)["returncode"] == 0
    assert len(_terminals(client)) == before + 1  # open_terminal returned once the new one was active
    # the terminal's shell: xfce4-terminal is one process for all its windows, the newest bash its newest shell
    cwd = "for _ in $(seq 100); do d=$(readlink /proc/$(pgrep -n -x bash -P $(pgrep -o -u $(id -u) -x xfce4-terminal))/cwd) " \
          "&& break; sleep 0.1; done; echo $d"
    shell = client.execute(cwd, shell=True, timeout=20)
    assert shell["output"] == f"{session.home}\n", shell
    for window in _terminals(client):
        client.execute(["wmctrl", "-i", "-c", window["id"]])


def test_timedatectl_shows_and_sets_the_sessions_time_zone(client: ControllerClient) -> None:
    lines = client.execute(["timedatectl", "status"])["output"].split("\n")
    assert lines[3].strip().startswith("Time zone: "), lines  # OSWorld's is_utc_0 reads the fourth line
    assert client.execute(["timedatectl", "set-timezone", "Asia/Tokyo"])["returncode"] == 0
    assert client.execute(["timedatectl"])["output"].split("\n")[3].strip() == "Time zone: Asia/Tokyo (JST, +0900)"
    assert client.execute(["bash", "-ic", "date +%Z"])["output"].strip() == "JST"  # new shells take it
    refused = client.execute(["timedatectl", "set-timezone", "Nowhere/Atlantis"])
    assert refused["returncode"] == 1 and "Invalid or unknown time zone" in refused["error"]
    client.execute(["timedatectl", "set-timezone", "America/Los_Angeles"])  # the session's own, as it started


def test_gsettings_has_gnome_shells_keys_and_pactl_a_sound_server(client: ControllerClient) -> None:
    apps = "['vim.desktop', 'thunderbird.desktop']"
    assert client.execute(["gsettings", "set", "org.gnome.shell", "favorite-apps", apps])["returncode"] == 0
    assert client.execute(["gsettings", "get", "org.gnome.shell", "favorite-apps"])["output"] == apps + "\n"
    volume = "pactl get-sink-volume @DEFAULT_SINK@ | head -1"  # the first call starts PulseAudio
    assert " 40% " in client.execute(volume, shell=True, timeout=30)["output"]
    assert client.execute("pactl set-sink-volume @DEFAULT_SINK@ 100%", shell=True)["returncode"] == 0
    assert " 100% " in client.execute(volume, shell=True)["output"]


def test_a_session_starts_as_osworlds_ubuntu_does_and_pyautogui_can_grab_the_screen(client: ControllerClient) -> None:
    # what a do-nothing agent must not find already done: the screen lock off, a time zone that is not UTC
    locked = client.execute(["gsettings", "get", "org.gnome.desktop.screensaver", "lock-enabled"])["output"]
    assert locked == "false\n"
    zone = client.execute(["timedatectl"])["output"].split("\n")[3].strip()
    assert zone.startswith("Time zone: America/Los_Angeles") and not zone.endswith("+0000)"), zone
    grabbed = client.act("im = pyautogui.screenshot()\nprint(im.size, tuple(pyautogui.pixel(5, 5)))")
    assert grabbed["status"] == "success" and grabbed["output"].startswith(f"({client.endpoint.width}, "), grabbed


def test_the_window_manager_leaves_libreoffices_function_keys_to_the_apps(client: ControllerClient) -> None:
    """GNOME on OSWorld's Ubuntu grabs neither Alt+F12 (LibreOffice's Options) nor Ctrl+F1 ... F12; xfwm4 reads
    its keys from the home's list, which leaves them out and keeps the rest (Alt+F4, Alt+Tab, Alt+F10, ...)."""
    def key(name: str) -> str:
        found = client.execute(["xfconf-query", "-c", "xfce4-keyboard-shortcuts", "-p", f"/xfwm4/custom/{name}"])
        return found["output"].strip() if found["returncode"] == 0 else ""

    assert key("override") == "true"
    assert key("<Alt>F4") == "close_window_key" and key("<Alt>Tab") == "cycle_windows_key"
    assert key("<Alt>F10") == "maximize_window_key"
    assert [name for name in ["<Alt>F12", "<Alt>F11", *(f"<Primary>F{n}" for n in range(1, 13))] if key(name)] == []


def test_gnome_terminal_and_xdg_open_return_at_once_as_on_gnome(client: ControllerClient) -> None:
    """OSWorld's setups `execute` them and wait for them to end (multi_apps 2c9fc0de: gnome-terminal --maximize
    --working-directory=...; os 4127319a: xdg-open FOLDER): on GNOME both hand over and return, the window stays."""
    client.execute(["mkdir", "-p", "~/opened-folder"])
    for command, title in ((["gnome-terminal", "--title", "returns-probe"], "returns-probe"),
                           (["xdg-open", "~/opened-folder"], "opened-folder")):
        started = time.monotonic()
        result = client.execute(command, timeout=20)
        assert result["returncode"] == 0 and time.monotonic() - started < 10, (command, result)
        deadline = time.monotonic() + 30
        while not any(title in window["title"] for window in client.windows()):
            assert time.monotonic() < deadline, client.windows()
            time.sleep(0.2)
        assert client.window_action("close", title)
