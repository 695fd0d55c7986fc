"""OSWorld's desktop routes on a real X session: terminal text, window size, desktop path, wallpaper, downloads
over real HTTP on 127.0.0.1, ffmpeg recordings, execute with verification."""

from __future__ import annotations

import io
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from loopback_http import serve_files
from PIL import Image

from step_envs.providers.local import LocalProvider
from step_envs.server import TOKEN_HEADER
from step_envs.server.client import ControllerClient

pytestmark = pytest.mark.desktop

NEW_ROUTES = [("get", "/terminal"), ("post", "/window_size"), ("post", "/desktop_path"), ("post", "/wallpaper"),
              ("post", "/setup/change_wallpaper"), ("post", "/setup/download_file"), ("post", "/start_recording"),
              ("post", "/end_recording"), ("post", "/execute_with_verification"),
              ("post", "/setup/execute_with_verification")]


@pytest.fixture(scope="module")
def session() -> Iterator[LocalProvider]:
    provider = LocalProvider(a11y=True)  # /terminal reads the terminal's text through AT-SPI
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


def _post(client: ControllerClient, route: str, **kwargs: object) -> requests.Response:
    return client.session.post(client.endpoint.url + route, timeout=60, **kwargs)


def _wait_for_window(client: ControllerClient, title: str, timeout: float = 20.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        found = [window for window in client.windows() if window["title"] == title]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no window {title!r} in {client.windows()}"
        time.sleep(0.05)


@pytest.fixture()
def http_files() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A loopback HTTP server: ``files[path] = bytes`` serves them, anything else is 404."""
    with serve_files() as (url, files, _):
        yield url, files


def test_every_new_route_requires_the_token(session: LocalProvider) -> None:
    for method, route in NEW_ROUTES:
        response = requests.request(method, session.endpoint.url + route, timeout=10)
        assert response.status_code == 401, route
        assert requests.request(method, session.endpoint.url + route, headers={TOKEN_HEADER: "wrong"},
                                timeout=10).status_code == 401, route


def test_terminal_is_null_without_an_active_terminal_and_the_focused_text_with_one(client: ControllerClient) -> None:
    url = client.endpoint.url + "/terminal"
    assert client.session.get(url, timeout=30).json() == {"output": None, "status": "success"}
    client.launch(["gnome-terminal", "--title", "terminal-probe"])  # the stand-in: xfce4-terminal
    window = _wait_for_window(client, "terminal-probe")
    client.execute(["wmctrl", "-i", "-a", window["id"]])
    client.act("pyautogui.write('echo $((6 * 7))-marker\\n')", timeout=20)
    deadline = time.monotonic() + 20
    while "42-marker" not in (output := client.session.get(url, timeout=30).json()["output"] or ""):
        assert time.monotonic() < deadline, output
        time.sleep(0.2)
    assert output.endswith("$") and "echo $((6 * 7))-marker" in output
    assert client.window_action("close", "terminal-probe")


def test_window_size_finds_a_window_by_class_and_says_when_there_is_none(client: ControllerClient) -> None:
    client.launch(["xfce4-terminal", "--title", "size-probe", "--geometry", "60x20"])
    _wait_for_window(client, "size-probe")
    size = _post(client, "/window_size", data={"app_class_name": "xfce4-terminal"}).json()
    assert set(size) == {"width", "height"} and 200 < size["width"] < 1280 and 100 < size["height"] < 720
    assert _post(client, "/window_size", data={"app_class_name": "XFCE4-TERMINAL"}).json() == size  # any case
    missing = _post(client, "/window_size", data={"app_class_name": "no-such-app"})
    assert missing.status_code == 404 and "no-such-app" in missing.json()["error"]
    assert _post(client, "/window_size").status_code == 400
    assert client.window_action("close", "size-probe")


def test_desktop_path_is_the_session_homes_desktop(client: ControllerClient) -> None:
    home = client.execute("echo $HOME", shell=True)["output"].strip()
    assert _post(client, "/desktop_path").json() == {"desktop_path": f"{home}/Desktop"}


def test_changed_wallpaper_is_shown_and_served_back(client: ControllerClient) -> None:
    before = client.screenshot()
    png = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 160)).save(png, format="PNG")
    client.upload("~/Pictures/magenta.png", png.getvalue())
    changed = _post(client, "/setup/change_wallpaper", json={"path": "~/Pictures/magenta.png"})
    assert changed.status_code == 200 and changed.text == "Wallpaper changed successfully"
    assert _post(client, "/wallpaper").content == png.getvalue()
    deadline = time.monotonic() + 10
    while not ((after := client.screenshot())[400, 640] == (200, 30, 160)).all():  # xfdesktop redraws
        assert time.monotonic() < deadline, after[400, 640]
        time.sleep(0.1)
    assert (before[400, 640] != (200, 30, 160)).any()
    assert _post(client, "/setup/change_wallpaper", json={}).status_code == 400
    missing = _post(client, "/setup/change_wallpaper", json={"path": "~/Pictures/none.png"})
    assert missing.status_code == 404 and missing.text.startswith("File not found: ")


def test_download_file_fetches_over_http_into_the_env(client: ControllerClient,
                                                      http_files: tuple[str, dict[str, bytes]]) -> None:
    base, files = http_files
    files["/data/report.xlsx"] = payload = bytes(range(256)) * 4096  # 1 MiB, several chunks
    done = _post(client, "/setup/download_file", json={"url": f"{base}/data/report.xlsx",
                                                       "path": "~/Downloads/new/report.xlsx"})
    assert done.status_code == 200 and done.text == "File downloaded successfully"
    assert client.get_file("~/Downloads/new/report.xlsx") == payload
    owner = client.execute(["stat", "-c", "%U", client.execute("echo ~/Downloads/new/report.xlsx", shell=True)
                            ["output"].strip()])["output"].strip()
    assert owner == client.execute(["id", "-un"])["output"].strip()

    failed = _post(client, "/setup/download_file", json={"url": f"{base}/missing.bin", "path": "~/missing.bin"})
    assert failed.status_code == 500 and f"Failed to download {base}/missing.bin" in failed.text
    assert [child["name"] for child in client.list_directory("~")["children"] if "missing" in child["name"]] == []
    assert _post(client, "/setup/download_file", json={"url": f"{base}/x"}).text == "Path or URL not supplied!"
    ftp = _post(client, "/setup/download_file", json={"url": "ftp://127.0.0.1/x", "path": "~/x"})
    assert ftp.status_code == 400 and "http://" in ftp.text


def test_recording_is_a_valid_mp4_of_nonzero_duration(client: ControllerClient, tmp_path: Path) -> None:
    assert _post(client, "/end_recording").json() == {"status": "error", "message": "No recording in progress to stop."}
    assert _post(client, "/start_recording").json() == {"status": "success", "message": "Started recording."}
    again = _post(client, "/start_recording")
    assert again.status_code == 400 and again.json()["status"] == "error"
    for x in range(100, 1100, 100):
        client.act(f"pyautogui.moveTo({x}, 300)")
        time.sleep(0.1)
    video = _post(client, "/end_recording")
    assert video.status_code == 200 and video.headers["Content-Type"] == "video/mp4"
    path = tmp_path / "recording.mp4"
    path.write_bytes(video.content)
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration,format_name:stream=codec_name,width,height",
         "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout)
    assert "mp4" in probe["format"]["format_name"] and float(probe["format"]["duration"]) > 0.5
    assert probe["streams"] == [{"codec_name": "h264", "width": 1280, "height": 720}]
    assert _post(client, "/end_recording").status_code == 400


@pytest.mark.parametrize("route", ["/execute_with_verification", "/setup/execute_with_verification"])
def test_execute_with_verification_waits_for_the_check_or_says_it_failed(client: ControllerClient,
                                                                         route: str) -> None:
    plain = _post(client, route, json={"command": ["echo", "hi"]}).json()
    assert plain == {"status": "success", "output": "hi\n", "error": "", "returncode": 0}
    title = f"verify-probe{route.count('/')}"
    passed = _post(client, route, json={
        "command": f"xfce4-terminal --title {title} >/dev/null 2>&1 &", "shell": True,
        "verification": {"window_exists": title.upper(), "command_success": "true"},
        "max_wait_time": 20, "check_interval": 0.1}).json()
    assert passed["status"] == "success" and passed["verification"] == "passed"
    assert 0 <= passed["wait_time"] < 20 and passed["returncode"] == 0
    assert client.window_action("close", title)
    t0 = time.monotonic()
    failed = _post(client, route, json={"command": ["true"], "verification": {"command_success": "test -e /nowhere"},
                                        "max_wait_time": 1, "check_interval": 0.2})
    assert failed.status_code == 500 and time.monotonic() - t0 < 5
    assert failed.json() == {"status": "verification_failed", "output": "", "error": "", "returncode": 0,
                             "verification": "failed", "wait_time": 1}
