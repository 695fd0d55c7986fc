"""The controller server that runs inside an environment (a container or a local X session).

It speaks OSWorld's controller protocol (same routes, same payloads) so OSWorld's own client can drive it,
and adds a fast path under ``/step/`` for our env: actions in a persistent worker, raw-pixel screenshots.
Every route but ``/health`` needs the session token in the ``X-Step-Token`` header unless auth is off.
"""

from __future__ import annotations

import hmac
import json
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request, send_file

from step_envs.server import A11Y_SCOPES, TOKEN_HEADER, windows
from step_envs.server.activity import add_activity_routes
from step_envs.server.commands import (
    COMMAND_TIMEOUT_S,
    A11yReader,
    existing_path,
    expand,
    parse_command,
    run_command,
)
from step_envs.server.desktop_routes import add_desktop_routes
from step_envs.server.launches import Launches
from step_envs.server.screen import QUIET_S, ScreenGrabber, encode
from step_envs.server.worker import ActionWorker

__all__ = ["TOKEN_HEADER", "create_app"]


def _directory_tree(directory: str) -> dict[str, Any]:
    tree: dict[str, Any] = {"type": "directory", "name": os.path.basename(directory), "children": []}
    try:
        for entry in sorted(os.listdir(directory)):
            full = os.path.join(directory, entry)
            if os.path.isdir(full) and not os.path.islink(full):
                tree["children"].append(_directory_tree(full))
            else:
                tree["children"].append({"type": "file", "name": entry})
    except OSError as exc:
        tree = {"error": str(exc)}
    return tree


def create_app(token: str | None, worker: ActionWorker | None = None,
               grabber: ScreenGrabber | None = None) -> Flask:
    """Build the controller app. ``token=None`` turns authentication off (for OSWorld's own client). Its action
    worker and accessibility reader are ``app.config["worker"]`` and ``app.config["a11y_reader"]``: close both
    when the server exits."""
    app = Flask("step_envs.server")
    worker = worker or ActionWorker()
    grabber = grabber or ScreenGrabber()
    reader = A11yReader()
    launches = Launches()
    app.config["worker"] = worker
    app.config["a11y_reader"] = reader

    @app.before_request
    def check_token() -> Any:
        if token is None or request.path == "/health":
            return None
        given = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return jsonify({"status": "error", "message": f"missing or wrong {TOKEN_HEADER} header"}), 401
        return None

    @app.errorhandler(Exception)
    def on_error(exc: Exception) -> Any:
        code = getattr(exc, "code", 500)
        return jsonify({"status": "error", "message": f"{type(exc).__name__}: {exc}"}), code if isinstance(
            code, int) else 500

    @app.get("/health")
    def health() -> Any:
        """Healthy only when the X display still answers (one raw grab, ~1 ms)."""
        state = {"pid": os.getpid(), "worker_pid": worker.pid, "a11y_pid": reader.pid,
                 "display": os.environ.get("DISPLAY")}
        try:
            grabber.grab()
        except Exception as exc:  # noqa: BLE001 - any failure to reach X means the desktop is gone
            return jsonify({"status": "error", "message": f"X display unreachable: {exc}", **state}), 503
        return jsonify({"status": "ok", **state})

    # --- OSWorld's protocol -------------------------------------------------------------------------

    @app.post("/setup/execute")
    @app.post("/execute")
    def execute() -> Any:
        command, shell = parse_command(request.get_json(force=True))
        result = run_command(command, shell, float(request.get_json().get("timeout", COMMAND_TIMEOUT_S)))
        return jsonify(result), 200 if result["status"] == "success" else 500

    @app.post("/setup/launch")
    def launch() -> Any:
        command, shell = parse_command(request.get_json(force=True))
        pid = launches.start(command, shell)
        # OSWorld's answer (text), plus the pid for /setup/launched/<pid>
        return Response(f"{command if shell else ' '.join(command)} launched successfully",
                        headers={"X-Launched-Pid": str(pid)})

    @app.get("/setup/launched/<int:pid>")
    def launched(pid: int) -> Any:
        return jsonify(launches.status(pid))

    @app.get("/screenshot")
    def screenshot() -> Any:
        data, mime = encode(grabber.grab(), "png")
        return Response(data, mimetype=mime)

    @app.post("/screen_size")
    def screen_size() -> Any:
        width, height = grabber.size()
        return jsonify({"width": width, "height": height})

    @app.get("/cursor_position")
    def cursor_position() -> Any:
        result = worker.run("import pyautogui\nprint(*pyautogui.position())", timeout=5)
        x, y = (int(v) for v in result["output"].split())
        return jsonify([x, y])

    @app.get("/platform")
    def get_platform() -> Any:
        return platform.system()

    @app.get("/accessibility")
    def accessibility() -> Any:
        """OSWorld's route: ``{"AT": xml}``. Query args ``max_depth``, ``max_width``, ``timeout`` (seconds), and
        ``scope``: ``all`` (the default, the whole desktop) or ``active`` (the active window only)."""
        try:
            limits = {key: float(request.args.get(key, default)) for key, default in
                      (("max_depth", 50), ("max_width", 1024), ("timeout", 10))}
        except ValueError:
            return jsonify(error="max_depth, max_width and timeout must be numbers"), 400
        scope = request.args.get("scope", "all")
        if scope not in A11Y_SCOPES:
            return jsonify(error=f"scope must be one of {', '.join(A11Y_SCOPES)}, got {scope!r}"), 400
        xml, error = reader.tree(int(limits["max_depth"]), int(limits["max_width"]), limits["timeout"], scope)
        if error:
            return jsonify(AT=None, error=error), 500
        return jsonify(AT=xml)

    @app.post("/list_directory")
    def list_directory() -> Any:
        data = request.get_json(force=True)
        if "path" not in data:
            return jsonify(error="Missing 'path' parameter"), 400
        path = expand(data["path"])
        if not os.path.isdir(path):
            return jsonify(error="The provided path is not a directory"), 400
        return jsonify(directory_tree=_directory_tree(path))

    @app.post("/file")
    def get_file() -> Any:
        if "file_path" not in request.form:
            return jsonify({"error": "file_path is required"}), 400
        path = expand(request.form["file_path"])
        if not os.path.isfile(path):
            return jsonify({"error": "File not found"}), 404
        return send_file(path, as_attachment=True)

    @app.post("/setup/upload")
    def upload() -> Any:
        if "file_path" not in request.form or "file_data" not in request.files:
            return jsonify({"error": "file_path and file_data are required"}), 400
        path = Path(expand(request.form["file_path"]))
        path.parent.mkdir(parents=True, exist_ok=True)
        request.files["file_data"].save(path)
        return "File Uploaded"

    @app.post("/setup/open_file")
    def open_file() -> Any:
        path, error = existing_path(request.get_json(force=True).get("path"))
        if error:
            return error
        subprocess.Popen(["xdg-open", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
        return "File opened successfully"

    def _window_action(action: Any) -> Any:
        data = request.get_json(force=True)
        name = data.get("window_name")
        if not name:
            return "window_name required", 400
        found = windows.find_windows(name, bool(data.get("strict", False)), bool(data.get("by_class", False)))
        if not found:
            return f"Window {name} not found", 404
        action(found[0]["id"])
        return "Window activated successfully" if action is windows.activate_window else "Window closed successfully"

    @app.post("/setup/activate_window")
    def activate_window() -> Any:
        return _window_action(windows.activate_window)

    @app.post("/setup/close_window")
    def close_window() -> Any:
        return _window_action(windows.close_window)

    @app.post("/run_python")
    def run_python() -> Any:
        code = request.get_json(force=True).get("code")
        if code is None:
            return jsonify({"status": "error", "message": "code is required"}), 400
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
            handle.write(code)
        try:
            proc = subprocess.run([shutil.which("python3") or "python3", handle.name], capture_output=True,
                                  text=True, timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return jsonify({"status": "error", "message": "timed out", "output": "", "error": "timed out"})
        finally:
            os.unlink(handle.name)
        status = "success" if proc.returncode == 0 else "error"
        return jsonify({"status": status, "message": "", "output": proc.stdout, "error": proc.stderr,
                        "returncode": proc.returncode})

    @app.post("/run_bash_script")
    def run_bash_script() -> Any:
        data = request.get_json(force=True)
        script = data.get("script")
        if script is None:
            return jsonify({"status": "error", "output": "", "error": "script is required", "returncode": -1}), 400
        cwd = expand(data.get("working_dir") or "~")
        result = run_command(["bash", "-c", script], False, float(data.get("timeout", 100)), cwd=cwd)
        result["status"] = "success" if result.get("returncode") == 0 else "error"
        return jsonify(result)

    add_desktop_routes(app, grabber)
    add_activity_routes(app, lambda: grabber.grab().bgra)

    # --- our fast path ----------------------------------------------------------------------------

    @app.post("/step/act")
    def act() -> Any:
        """Run pyautogui code in the persistent worker, then wait for the screen to settle (``settle``: ``damage``
        or ``grabs``, with ``quiet`` and ``still``: :meth:`ScreenGrabber.settle`).

        With ``"observe": "raw" | "png" | "jpeg"`` the reply also carries the screen after the action (the settled
        frame itself, so no second grab or round trip): the body is the result's JSON (``X-Result-Length`` bytes)
        followed by the encoded frame, its size in ``X-Width`` / ``X-Height``. Without it the reply is the JSON.
        """
        data = request.get_json(force=True)
        try:
            mode = grabber.mark(str(data.get("settle", "damage")))
        except ValueError as exc:
            return jsonify({"status": "error", "error": str(exc)}), 400
        result = worker.run(str(data.get("code", "")), float(data.get("timeout", 10.0)))
        still = None if data.get("still") is None else float(data["still"])  # None: the mode's own
        result["settle"], frame = grabber.settle(float(data.get("settle_min", 0.0)), float(data.get("settle_max", 0.0)),
                                                 mode, still, float(data.get("quiet", QUIET_S)),
                                                 rgb=data.get("observe") == "raw")
        result["settle_mode"] = mode
        if not data.get("observe"):
            return jsonify(result)
        frame = frame or grabber.grab()
        pixels, _ = encode(frame, str(data["observe"]), int(data.get("quality", 80)))
        head = json.dumps(result).encode()
        response = Response([head, pixels], mimetype="application/octet-stream",  # two writes, no 3 MB concat
                            headers={"X-Result-Length": str(len(head)), "X-Width": str(frame.width),
                                     "X-Height": str(frame.height)})
        response.content_length = len(head) + len(pixels)
        return response

    @app.get("/step/screenshot")
    def fast_screenshot() -> Any:
        frame = grabber.grab()
        data, mime = encode(frame, request.args.get("format", "raw"), int(request.args.get("quality", 80)))
        return Response(data, mimetype=mime, headers={"X-Width": str(frame.width), "X-Height": str(frame.height)})

    @app.get("/step/windows")
    def list_windows() -> Any:
        return jsonify(windows.list_windows())

    return app
