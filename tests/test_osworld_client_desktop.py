"""The controller client's methods for OSWorld's desktop routes, and the getters on top of them (``vm_wallpaper``,
``vm_terminal_output``), against a real local X session and a loopback HTTP server."""

from __future__ import annotations

import http.server
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from step_envs.checkers import GETTERS, CheckContext
from step_envs.checkers.evaluate import measure
from step_envs.providers.local import LocalProvider
from step_envs.server.client import ControllerClient

pytestmark = pytest.mark.desktop


@pytest.fixture(scope="module")
def client() -> Iterator[ControllerClient]:
    provider = LocalProvider(a11y=True)  # the terminal's text comes through AT-SPI
    try:
        controller = ControllerClient(provider.start())
        yield controller
        controller.close()
    finally:
        provider.stop()


@pytest.fixture
def ctx(client: ControllerClient, tmp_path: Path) -> CheckContext:
    return CheckContext(client=client, cache_dir=tmp_path / "cache")


def _png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(out, format="PNG")
    return out.getvalue()


def test_client_reads_desktop_path_and_window_sizes(client: ControllerClient) -> None:
    home = client.execute("echo $HOME", shell=True)["output"].strip()
    assert client.desktop_path() == f"{home}/Desktop"
    assert client.window_size("xfce4-panel")["height"] > 0
    assert client.window_size("no-such-app") is None


def test_changed_wallpaper_comes_back_through_the_vm_wallpaper_getter(client: ControllerClient,
                                                                      ctx: CheckContext) -> None:
    png = _png((20, 200, 90))
    client.upload("~/Pictures/green.png", png)
    client.change_wallpaper("~/Pictures/green.png")
    assert client.wallpaper() == png
    local = GETTERS["vm_wallpaper"](ctx, {"type": "vm_wallpaper", "dest": "background.png"})
    assert Path(local).read_bytes() == png and Path(local).parent == ctx.cache_dir.resolve()
    assert measure("compare_images", local, local).value == 1.0
    with pytest.raises(RuntimeError, match="none.png"):
        client.change_wallpaper("~/Pictures/none.png")


def test_client_download_file_fetches_from_a_loopback_server(client: ControllerClient) -> None:
    body = b"loopback bytes\n" * 1000

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            found = self.path == "/f.txt"
            self.send_response(200 if found else 404)
            self.send_header("Content-Length", str(len(body) if found else 0))
            self.end_headers()
            self.wfile.write(body if found else b"")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        client.download_file(f"{base}/f.txt", "~/Downloads/f.txt")
        assert client.get_file("~/Downloads/f.txt") == body
        with pytest.raises(RuntimeError, match="missing.txt"):
            client.download_file(f"{base}/missing.txt", "~/Downloads/missing.txt")
    finally:
        server.shutdown()
        server.server_close()


def test_client_records_an_mp4_and_refuses_to_stop_twice(client: ControllerClient) -> None:
    client.start_recording(framerate=5)
    client.act("pyautogui.moveTo(300, 300)")
    time.sleep(0.5)
    video = client.end_recording()
    assert video[4:8] == b"ftyp" and len(video) > 1000
    with pytest.raises(RuntimeError, match="No recording"):
        client.end_recording()


def test_client_execute_with_verification_reports_passed_and_failed(client: ControllerClient) -> None:
    passed = client.execute_with_verification(["true"], {"command_success": "true"}, max_wait_time=5,
                                              check_interval=0.1)
    assert passed["status"] == "success" and passed["verification"] == "passed"
    failed = client.execute_with_verification(["true"], {"command_success": "false"}, max_wait_time=0.5,
                                              check_interval=0.1)
    assert failed["status"] == "verification_failed" and failed["verification"] == "failed"


def test_vm_terminal_output_is_none_without_a_terminal_and_its_text_with_one(client: ControllerClient,
                                                                            ctx: CheckContext) -> None:
    assert GETTERS["vm_terminal_output"](ctx, {"type": "vm_terminal_output"}) is None
    client.launch(["gnome-terminal", "--title", "getter-probe"])
    deadline = time.monotonic() + 20
    while not (found := [w for w in client.windows() if w["title"] == "getter-probe"]):
        assert time.monotonic() < deadline, client.windows()
        time.sleep(0.05)
    client.execute(["wmctrl", "-i", "-a", found[0]["id"]])
    client.act("pyautogui.write('echo $((50 + 4))\\n')", timeout=20)
    deadline = time.monotonic() + 20
    while "\n54\n" not in (output := GETTERS["vm_terminal_output"](ctx, {"type": "vm_terminal_output"}) or ""):
        assert time.monotonic() < deadline, output
        time.sleep(0.2)
    assert measure("check_include_exclude", output, {"include": ["54"], "exclude": []}).value == 1.0
    assert client.window_action("close", "getter-probe")
