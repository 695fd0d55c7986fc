"""A local session as OSWorld's tasks and agents expect it: the app names they launch resolve, Ubuntu's
ctrl+alt+t and super shortcuts work, and X clients find a real Xauthority cookie (no warning on stdout)."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest

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
    result = client.execute(["code", "--version"])
    assert result["returncode"] == 127 and result["output"] == ""
    assert "Visual Studio Code is not installed" in result["error"] and "apt-get install ./code_" in result["error"]


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
