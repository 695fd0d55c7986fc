"""OSWorld's own client, unchanged, drives every route of our controller server without an error.

OSWorld's ``PythonController`` and ``SetupController`` come from its package on PyPI, ``desktop-env`` (installed on
first use into ``.cache/osworld-client`` with the few packages its controllers import, never committed), and talk to
a real local session through a controller started in it with ``--no-auth`` (OSWorld's client sends no token). Files
come from a loopback HTTP server; Chrome's tabs go over the DevTools protocol to Chromium, through OSWorld's own
Playwright code. "Without an error": the controllers log every failed request (and then retry) on their
``desktopenv`` loggers, so each test checks that none logged an error.

One thing is not run as shipped: ``desktop_env/evaluators/metrics/__init__.py``. ``SetupController``'s module takes
``compare_urls`` from ``desktop_env.evaluators.metrics.utils``, and that package's ``__init__`` imports every
metric (EasyOCR with torch, librosa, OpenCV, scikit-image, PyMuPDF, borb, ...), none of which a controller calls.
The fixture registers the package without running its ``__init__``; ``utils.py`` and both controllers load
unchanged from the installed files.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from loopback_http import serve_files
from PIL import Image

from step_envs.providers.local import LocalProvider
from step_envs.server.client import ControllerClient

pytestmark = pytest.mark.desktop

CLIENT_DIR = Path(__file__).resolve().parents[1] / ".cache" / "osworld-client"
REQUIREMENTS = (
    "desktop-env==1.0.2",  # OSWorld's package: its controllers; installed without its dependencies (torch, ...)
    # what desktop_env.controllers.python and .setup import, and what those import
    "playwright==1.65.2", "greenlet==3.5.6", "requests-toolbelt==1.0.0", "python-dotenv==1.2.4",
    "pydrive==1.3.1", "google-api-python-client==2.202.0", "google-api-core==2.44.0", "google-auth==2.63.0",
    "google-auth-httplib2==0.4.4", "httplib2==0.32.1", "uritemplate==4.2.0", "oauth2client==4.1.3",
    "pyasn1==0.6.5", "pyasn1-modules==0.4.2", "rsa==4.9.1", "cryptography==50.0.2", "cffi==2.1.1",
    "formulas==1.3.4", "xmltodict==1.0.4", "tldextract==5.4.0", "requests-file==3.0.1",
)
WIDTH, HEIGHT = 1280, 720
# requests (OSWorld's client, tldextract's suffix-list fetch) go through a proxy that refuses, but for loopback
NO_INTERNET = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
               "NO_PROXY": "127.0.0.1,localhost"}


def install_osworld_client() -> Path:
    """``CLIENT_DIR`` with ``REQUIREMENTS`` installed (``pip --target``, no dependency resolution: the list is
    complete); kept while the list is unchanged. No package index, no test: it fails saying so (`make test` needs
    the index for its own dependencies too)."""
    wanted = "\n".join(REQUIREMENTS) + "\n"
    stamp = CLIENT_DIR / "requirements.txt"
    if stamp.is_file() and stamp.read_text() == wanted:
        return CLIENT_DIR
    CLIENT_DIR.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="osworld-client-", dir=CLIENT_DIR.parent))
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--no-deps", "--target", str(staging), *REQUIREMENTS],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        pytest.fail(f"could not install OSWorld's client from the package index (pip install --no-deps --target "
                    f"{CLIENT_DIR} ...): {(proc.stdout + proc.stderr)[-1500:]}")
    (staging / "requirements.txt").write_text(wanted)
    shutil.rmtree(CLIENT_DIR, ignore_errors=True)
    staging.rename(CLIENT_DIR)  # whole or not at all: an interrupted install leaves no stamp
    return CLIENT_DIR


@pytest.fixture(scope="module")
def osworld() -> Iterator[types.SimpleNamespace]:
    """OSWorld's ``desktop_env.controllers`` modules, imported from ``CLIENT_DIR`` (last on ``sys.path``, so this
    venv's copies of shared packages win), with the internet closed to ``requests``."""
    root = install_osworld_client()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in NO_INTERNET.items():
            patch.setenv(name, value)
        patch.setenv("TLDEXTRACT_CACHE", str(root / "tldextract-cache"))  # the suffix list compare_urls reads, kept here
        sys.path.append(str(root))
        try:
            importlib.import_module("desktop_env.evaluators")  # its __init__ is comments only
            metrics = types.ModuleType("desktop_env.evaluators.metrics")
            metrics.__path__ = [str(root / "desktop_env" / "evaluators" / "metrics")]  # see the module docstring
            patch.setitem(sys.modules, "desktop_env.evaluators.metrics", metrics)
            yield types.SimpleNamespace(python=importlib.import_module("desktop_env.controllers.python"),
                                        setup=importlib.import_module("desktop_env.controllers.setup"))
        finally:
            sys.path.remove(str(root))
            for name in [name for name in sys.modules if name.split(".")[0] == "desktop_env"]:
                del sys.modules[name]


@pytest.fixture(scope="module")
def session() -> Iterator[tuple[ControllerClient, int]]:
    """A local session with accessibility (``/accessibility``, ``/terminal``), our client on its controller, and
    the port of a second controller started in it with ``--no-auth``, for OSWorld's client."""
    provider = LocalProvider(width=WIDTH, height=HEIGHT, a11y=True)
    try:
        client = ControllerClient(provider.start())
        client.launch("exec python -m step_envs.server --port 0 --port-file \"$HOME/.osworld-port\" --no-auth",
                      shell=True)
        port = _wait(lambda: client.execute('cat "$HOME/.osworld-port"', shell=True)["output"].strip(), 30,
                     "the --no-auth controller's port file")
        _wait(lambda: requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok, 30, "the --no-auth controller")
        yield client, int(port)
        client.close()
    finally:
        provider.stop()


@pytest.fixture
def no_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fails the test if OSWorld's controllers logged an error (a failed request) while it ran."""
    with caplog.at_level(logging.INFO, logger="desktopenv"):
        yield
    errors = [record.getMessage() for record in caplog.get_records("call")
              if record.name.startswith("desktopenv") and record.levelno >= logging.ERROR]
    assert not errors, errors


def _wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """``check()``'s first truthy value within ``timeout`` seconds (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except (requests.RequestException, OSError, ValueError):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not ready after {timeout:g} s")


def _windows(client: ControllerClient, pattern: str) -> list[dict[str, Any]]:
    return [w for w in client.windows() if pattern.lower() in (w["title"] + " " + w["wm_class"]).lower()]


def test_python_controller_reads_the_screen_files_and_runs_code(osworld, session, no_errors) -> None:
    client, port = session
    controller = osworld.python.PythonController("127.0.0.1", port)
    png = controller.get_screenshot()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert controller.get_vm_screen_size() == {"width": WIDTH, "height": HEIGHT}
    assert controller.get_vm_platform() == "Linux"
    tree = controller.get_accessibility_tree()
    assert tree.startswith("<desktop-frame") and "xfce4-panel" in tree, tree[:500]
    assert controller.execute_python_command("print(6 * 7)")["output"] == "42\n"
    controller.execute_action({"action_type": "MOVE_TO", "x": 100, "y": 200})
    assert client.act("import pyautogui\nprint(*pyautogui.position())")["output"].split() == ["100", "200"]
    ran = controller.run_python_script("import sys\nprint(sys.version_info[0])")
    assert ran["status"] == "success" and ran["output"].strip() == "3", ran
    home = controller.run_bash_script("echo $HOME; pwd", working_dir="~/Desktop")
    assert home["returncode"] == 0 and home["output"].split()[1] == home["output"].split()[0] + "/Desktop", home
    assert controller.get_vm_desktop_path() == home["output"].split()[1]
    client.upload("~/Desktop/notes/a.txt", b"alpha\n")
    assert controller.get_file("~/Desktop/notes/a.txt") == b"alpha\n"
    tree = controller.get_vm_directory_tree("~/Desktop")
    assert [child["name"] for child in tree["children"]] == ["notes"], tree
    assert controller.get_vm_window_size("xfce4-panel")["height"] > 0


def test_setup_controller_runs_file_command_window_and_wallpaper_steps(osworld, session, no_errors,
                                                                        tmp_path: Path) -> None:
    client, port = session
    setup = osworld.setup.SetupController("127.0.0.1", port, cache_dir=str(tmp_path), client_password="password",
                                          screen_width=WIDTH, screen_height=HEIGHT)
    Image.new("RGB", (64, 36), (30, 160, 90)).save(tmp_path / "green.png")
    (tmp_path / "upload.txt").write_bytes(b"uploaded\n")
    with serve_files() as (base, files, hits):
        files["/report.txt"] = b"downloaded over loopback\n"
        assert setup.setup([
            {"type": "download", "parameters": {"files": [{"url": f"{base}/report.txt", "path": "~/Desktop/report.txt"}]}},
            {"type": "upload_file", "parameters": {"files": [
                {"local_path": str(tmp_path / "upload.txt"), "path": "~/Documents/upload.txt"},
                {"local_path": str(tmp_path / "green.png"), "path": "~/Pictures/green.png"}]}},
            {"type": "change_wallpaper", "parameters": {"path": "~/Pictures/green.png"}},
            {"type": "execute", "parameters": {"command": ["bash", "-c", "echo {SCREEN_WIDTH_HALF} > ~/half.txt"]}},
            {"type": "command", "parameters": {"command": "echo {CLIENT_PASSWORD} > ~/password.txt", "shell": True}},
            {"type": "execute_with_verification", "parameters": {
                "command": ["touch", "~/verified"], "verification": {"command_success": "test -e ~/verified"},
                "max_wait_time": 5, "check_interval": 0.2}},
            {"type": "sleep", "parameters": {"seconds": 0.1}},
            {"type": "open", "parameters": {"path": "~/Desktop/report.txt"}},
        ])
        assert hits == ["/report.txt"]
    controller = osworld.python.PythonController("127.0.0.1", port)
    assert controller.get_file("~/Desktop/report.txt") == b"downloaded over loopback\n"
    assert controller.get_file("~/Documents/upload.txt") == b"uploaded\n"
    assert controller.get_vm_wallpaper() == (tmp_path / "green.png").read_bytes()
    assert controller.get_file("~/half.txt") == f"{WIDTH // 2}\n".encode()
    assert controller.get_file("~/password.txt") == b"password\n"
    _wait(lambda: _windows(client, "report.txt"), 30, "the editor that opened report.txt")
    setup.setup([{"type": "activate_window", "parameters": {"window_name": "report.txt"}}])
    active = client.act("import subprocess\nprint(subprocess.run(['xdotool', 'getactivewindow', 'getwindowname'], "
                        "capture_output=True, text=True).stdout)")["output"]
    assert "report.txt" in active, active
    setup.setup([{"type": "close_window", "parameters": {"window_name": "report.txt"}}])
    _wait(lambda: not _windows(client, "report.txt"), 10, "closing report.txt")


def test_a_launched_terminal_shows_its_output_and_the_screen_records(osworld, session, no_errors,
                                                                     tmp_path: Path) -> None:
    client, port = session
    controller = osworld.python.PythonController("127.0.0.1", port)
    setup = osworld.setup.SetupController("127.0.0.1", port, cache_dir=str(tmp_path))
    controller.start_recording()
    assert setup.setup([{"type": "launch", "parameters": {"command": ["gnome-terminal"]}}])
    _wait(lambda: _windows(client, "terminal"), 30, "the terminal gnome-terminal launches")
    _wait(lambda: controller.get_terminal_output() is not None, 30, "the terminal's text")
    controller.execute_action({"action_type": "TYPING", "text": "echo osworld-$((6 * 7))\n"})
    _wait(lambda: "osworld-42" in controller.get_terminal_output(), 30, "the command's output in the terminal")
    assert controller.get_vm_window_size("xfce4-terminal")["width"] > 0
    controller.end_recording(str(tmp_path / "episode.mp4"))
    video = (tmp_path / "episode.mp4").read_bytes()
    assert video[4:8] == b"ftyp" and len(video) > 1000
    setup.setup([{"type": "close_window", "parameters": {"window_name": "xfce4-terminal", "by_class": True}}])


def test_setup_controller_opens_and_closes_chrome_tabs_over_devtools(osworld, session, no_errors,
                                                                     tmp_path: Path) -> None:
    client, port = session
    if shutil.which("chromium") is None:
        pytest.fail("Chromium is not installed (apt-get install chromium; `make install` does it)")
    with socket.socket() as probe:  # a free port for Chromium's DevTools (OSWorld's 9222 may be taken here)
        probe.bind(("127.0.0.1", 0))
        devtools = probe.getsockname()[1]
    setup = osworld.setup.SetupController("127.0.0.1", port, chromium_port=devtools, cache_dir=str(tmp_path))
    assert setup.setup([{"type": "launch", "parameters": {
        "command": ["google-chrome", f"--remote-debugging-port={devtools}"]}}])
    _wait(lambda: requests.get(f"http://127.0.0.1:{devtools}/json/version", timeout=2).ok, 60, "Chromium's DevTools")
    with serve_files() as (base, files, _):
        for name in ("one", "two"):
            files[f"/{name}.html"] = f"<title>page {name}</title>".encode()
        assert setup.setup([{"type": "chrome_open_tabs", "parameters": {
            "urls_to_open": [f"{base}/one.html", f"{base}/two.html"]}}])

        def tabs() -> list[str]:
            pages = requests.get(f"http://127.0.0.1:{devtools}/json/list", timeout=5).json()
            return sorted(page["url"] for page in pages if page["type"] == "page")

        assert tabs() == [f"{base}/one.html", f"{base}/two.html"]
        assert setup.setup([{"type": "chrome_close_tabs", "parameters": {"urls_to_close": [f"{base}/one.html"]}}])
        assert tabs() == [f"{base}/two.html"]
