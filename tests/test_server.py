"""The controller server on a real X session: OSWorld's routes, the token, the persistent action worker."""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import threading
import time

import pytest
import requests

from step_envs.providers.base import Endpoint, ProviderError
from step_envs.providers.docker import free_port
from step_envs.providers.local import LocalProvider
from step_envs.server.app import TOKEN_HEADER
from step_envs.server.client import ControllerClient
from step_envs.server.worker import MAX_OUTPUT_CHARS

pytestmark = pytest.mark.desktop


def test_every_route_but_health_requires_the_token(session: LocalProvider) -> None:
    url = session.endpoint.url
    assert requests.get(f"{url}/health", timeout=5).ok
    for method, route in [("get", "/screenshot"), ("post", "/execute"), ("post", "/file"), ("get", "/platform"),
                          ("post", "/step/act"), ("get", "/step/screenshot")]:
        assert requests.request(method, url + route, timeout=5).status_code == 401, route
        wrong = requests.request(method, url + route, headers={TOKEN_HEADER: "wrong"}, timeout=5)
        assert wrong.status_code == 401, route


def test_server_binds_loopback_only(session: LocalProvider) -> None:
    assert session.endpoint.url.startswith("http://127.0.0.1:")


def test_execute_speaks_osworld_payloads(client: ControllerClient) -> None:
    result = client.execute(["bash", "-c", "echo out; echo err >&2; exit 3"])
    assert result == {"status": "success", "output": "out\n", "error": "err\n", "returncode": 3}
    assert client.execute("echo $((6 * 7))", shell=True)["output"] == "42\n"
    assert client.execute("printf %s ~/x", shell=False)["output"].endswith("/user/x")  # the session's home


def test_session_runs_as_an_unprivileged_user_with_a_fresh_home(client: ControllerClient) -> None:
    uid = int(client.execute(["id", "-u"])["output"])
    if os.geteuid() == 0:
        assert uid != 0
    home = client.execute("echo $HOME", shell=True)["output"].strip()
    assert home.startswith("/tmp/step-gym-") and home != os.path.expanduser("~")


def test_upload_then_file_round_trips_and_missing_file_is_404(client: ControllerClient) -> None:
    client.upload("~/Documents/data.bin", bytes(range(256)))
    assert client.get_file("~/Documents/data.bin") == bytes(range(256))
    assert client.get_file("~/Documents/missing.bin") is None
    tree = client.list_directory("~/Documents")
    assert tree["type"] == "directory" and {"type": "file", "name": "data.bin"} in tree["children"]
    assert client.list_directory("~/nope") is None


def test_screenshot_routes_return_png_and_raw_pixels(client: ControllerClient, session: LocalProvider) -> None:
    assert client.screenshot_png()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = client.screenshot()
    assert pixels.shape == (session.height, session.width, 3) and pixels.dtype.name == "uint8"
    assert pixels.std() > 0  # the desktop is drawn, not a black frame
    size = client.session.post(client.endpoint.url + "/screen_size", timeout=5).json()
    assert size == {"width": session.width, "height": session.height}


def test_act_observe_returns_the_settled_screen_with_the_result_in_one_reply(client: ControllerClient) -> None:
    """The step's fast path: the action's result and the screen after it, one round trip, no second grab."""
    client.act("pyautogui.moveTo(5, 5)", settle_max=0.5)
    before = client.screenshot()
    # the longest output the worker keeps (more than an HTTP header line may carry) comes back whole
    result, after = client.act_observe("print('x' * 100_000)\npyautogui.moveTo(700, 400)", settle_max=0.5)
    assert result["status"] == "success" and result["output"] == "x" * MAX_OUTPUT_CHARS
    assert result["settle"] > 0 and result["settle_mode"] == "damage"
    assert after.shape == before.shape and after.dtype.name == "uint8"
    # the frame is the screen after the action: the cursor is drawn where it went and gone from where it was
    # (not compared with a later screenshot: a hover effect may still change the screen after it settled)
    went, was = (slice(385, 425), slice(685, 725)), (slice(0, 30), slice(0, 30))
    assert not (after[went] == before[went]).all() and not (after[was] == before[was]).all()
    result, frame = client.act_observe("raise ValueError('bad')", settle_max=0.0)  # no settle: one grab
    assert result["status"] == "error" and "ValueError" in result["error"] and frame.shape == before.shape


def test_a_controller_that_does_not_answer_is_a_provider_error_on_the_fast_path(session: LocalProvider) -> None:
    nobody = ControllerClient(dataclasses.replace(session.endpoint, url=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(ProviderError, match="did not answer /step/act"):
        nobody.act_observe("pass")
    wrong_token = ControllerClient(dataclasses.replace(session.endpoint, token="wrong"))
    with pytest.raises(ProviderError, match=r"/step/screenshot\?format=raw answered 401: .*wrong X-Step-Token"):
        wrong_token.screenshot()


def test_platform_cursor_run_python_and_bash_script(client: ControllerClient) -> None:
    base = client.endpoint.url
    assert client.session.get(f"{base}/platform", timeout=5).text == "Linux"
    client.act("pyautogui.moveTo(321, 123)")
    assert client.session.get(f"{base}/cursor_position", timeout=5).json() == [321, 123]
    python = client.session.post(f"{base}/run_python", json={"code": "print(2 + 2)"}, timeout=30).json()
    assert python["status"] == "success" and python["output"] == "4\n"
    bash = client.session.post(f"{base}/run_bash_script", json={"script": "pwd; exit 2", "working_dir": "/tmp"},
                               timeout=30).json()
    assert bash["returncode"] == 2 and bash["output"] == "/tmp\n" and bash["status"] == "error"
    tree = client.accessibility_tree()
    assert tree.startswith("<desktop-frame")


def test_launch_activate_and_close_window(client: ControllerClient) -> None:
    client.launch(["xfce4-terminal", "--title", "probe-window"])
    deadline = time.monotonic() + 20
    while not any(w["title"] == "probe-window" for w in client.windows()):
        assert time.monotonic() < deadline, client.windows()
        time.sleep(0.05)
    assert client.window_action("activate", "probe-window")
    assert client.window_action("close", "probe-window")
    while any(w["title"] == "probe-window" for w in client.windows()):
        assert time.monotonic() < deadline + 10
        time.sleep(0.05)
    assert not client.window_action("activate", "no-such-window")


def test_a_launch_that_exits_with_an_error_fails_the_setup_at_once_with_its_message(client: ControllerClient) -> None:
    from step_envs.desktop.setup import SetupError, SetupRunner

    pid = client.launch(["sh", "-c", "echo 'probe: not installed' >&2; exit 3"])
    deadline = time.monotonic() + 10
    while client.launched(pid)["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.launched(pid) == {"known": True, "running": False, "returncode": 3,
                                    "stderr": "probe: not installed\n"}
    # VS Code's launcher where code-server is not installed (here: not where it looks), as OSWorld's vs_code tasks
    # launch it: an error naming what to install, in well under the 30 s window wait
    t0 = time.monotonic()
    with pytest.raises(SetupError, match=r"(?s)setup step 0 \(launch\): 'env STEP_ENVS_CODE_SERVER=/nonexistent "
                                         r"code' exited with status 127 .*VS Code is not installed.*make install"):
        SetupRunner(client).run([{"type": "launch", "parameters": {
            "command": ["env", "STEP_ENVS_CODE_SERVER=/nonexistent", "code"]}}])
    assert time.monotonic() - t0 < 2.0
    assert client.launched(999999999)["known"] is False


def test_actions_run_in_one_persistent_worker(client: ControllerClient) -> None:
    first = client.act("import os\nprint(os.getpid())")
    second = client.act("import os\nprint(os.getpid())")
    assert first["status"] == second["status"] == "success"
    assert first["output"] == second["output"]
    assert client.act("print(pyautogui.size())")["output"].strip() == "Size(width=1280, height=720)"


def test_action_timeout_kills_the_worker_and_the_next_action_works(client: ControllerClient) -> None:
    t0 = time.monotonic()
    result = client.act("while True:\n    pass", timeout=1.0)
    assert result["status"] == "timeout" and "timed out after 1 s" in result["error"]
    assert time.monotonic() - t0 < 3.0
    assert client.act("print('alive')")["output"] == "alive\n"


@pytest.mark.parametrize("code, fragment", [
    ("pyautogui.click(", "SyntaxError"),
    ("raise ValueError('boom')", "ValueError: boom"),
    ("import sys\nsys.exit(3)", "exit(3)"),
    ("import os\nos._exit(1)", "killed the worker"),
])
def test_failing_actions_are_reported_and_the_worker_recovers(client: ControllerClient, code: str,
                                                               fragment: str) -> None:
    result = client.act(code)
    assert result["status"] == "error" and fragment in result["error"]
    assert client.act("print(1)")["output"] == "1\n"


def test_no_auth_server_accepts_osworld_clients_without_a_token(session: LocalProvider) -> None:
    import subprocess
    import sys

    port_file = session.dir / "run" / "noauth-port"
    env = session._session_env()
    proc = subprocess.Popen([sys.executable, "-m", "step_envs.server", "--port", "0", "--port-file", str(port_file),
                             "--no-auth"], env=env)
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text()}"
        result = requests.post(f"{url}/execute", json={"command": ["echo", "osworld"]}, timeout=10).json()
        assert result["output"] == "osworld\n"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_server_refuses_to_start_without_a_token_or_no_auth() -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "STEP_ENVS_TOKEN"}
    proc = subprocess.run([sys.executable, "-m", "step_envs.server", "--port", "0"], env=env, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2 and "a token is required" in proc.stderr


def test_clicks_work_and_typed_special_characters_reach_the_app(client: ControllerClient) -> None:
    assert client.act("pyautogui.click(640, 400)\npyautogui.rightClick(640, 400)\npyautogui.press('escape')")[
        "status"] == "success"
    client.launch(["xfce4-terminal", "--title", "typing-probe"])
    deadline = time.monotonic() + 20
    # typed keys go to the focused window: wait until the new terminal has the focus (a loaded machine maps a
    # window well before the window manager hands it the focus)
    while client.execute(["xdotool", "getactivewindow", "getwindowname"])["output"].strip() != "typing-probe":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # and until its shell runs: keys that reach the terminal before its pty has a shell are lost (seen at load ~6)
    while client.execute("pgrep -u \"$(id -u)\" -x -P \"$(pgrep -u \"$(id -u)\" -n -x xfce4-terminal)\" bash",
                         shell=True)["returncode"] != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    text = "a<b>c|d&e'f~g{h}i"
    client.act(f"pyautogui.write({'printf %s ' + repr(text) + ' > ~/typed.txt' + chr(10)!r})", settle_max=0.5)
    # the shell makes the file (the redirection) a moment before printf writes into it
    while not client.get_file("~/typed.txt"):
        assert time.monotonic() < deadline + 10
        time.sleep(0.05)
    assert client.get_file("~/typed.txt").decode() == text
    client.window_action("close", "typing-probe")


def test_a_controller_without_the_observe_reply_says_to_rebuild_the_image() -> None:
    """An image built from older code answers /step/act with JSON only: a clear env error, not a JSON crash."""
    class OldController(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"status": "success", "error": None, "output": "", "settle": 0.0}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OldController)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = ControllerClient(Endpoint(url=f"http://127.0.0.1:{server.server_port}", token=None, width=1280,
                                           height=720))
        assert client.act("pass")["status"] == "success"
        with pytest.raises(ProviderError, match="step-envs image build"):
            client.act_observe("pass")
        client.close()
    finally:
        server.shutdown()
        server.server_close()
