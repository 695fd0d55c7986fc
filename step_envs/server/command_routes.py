"""OSWorld's routes that run something in the session: ``/execute`` (also under ``/setup/``), ``/setup/launch``
and ``/setup/launched/<pid>``, ``/run_python``, ``/run_bash_script`` and ``/execute_with_verification`` (also under
``/setup/``), with OSWorld's request and response shapes."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from typing import Any

from flask import Flask, Response, jsonify, request

from step_envs.server import windows
from step_envs.server.commands import COMMAND_TIMEOUT_S, expand, parse_command, run_command
from step_envs.server.launches import Launches

VERIFY_COMMAND_TIMEOUT_S = 5
BASH_SCRIPT_TIMEOUT_S = 100


def verified(verification: dict[str, Any]) -> bool:
    """OSWorld's checks after a command: ``window_exists`` (a window title contains it, any case) and
    ``command_success`` (this shell command exits 0 within 5 s); every given check must hold."""
    if "window_exists" in verification:
        name = str(verification["window_exists"]).lower()
        if not any(name in window["title"].lower() for window in windows.list_windows()):
            return False
    if "command_success" in verification:
        try:
            check = subprocess.run(verification["command_success"], shell=True, capture_output=True,
                                   timeout=VERIFY_COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return False
        if check.returncode != 0:
            return False
    return True


def add_command_routes(app: Flask) -> None:
    """Register the routes on ``app``; the programs ``/setup/launch`` starts are remembered for
    ``/setup/launched/<pid>``."""
    launches = Launches()

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
        result = run_command(["bash", "-c", script], False, float(data.get("timeout", BASH_SCRIPT_TIMEOUT_S)),
                             cwd=cwd)
        result["status"] = "success" if result.get("returncode") == 0 else "error"
        return jsonify(result)

    @app.post("/setup/execute_with_verification")
    @app.post("/execute_with_verification")
    def execute_with_verification() -> Any:
        """``/execute``, then poll ``verification`` every ``check_interval`` s for up to ``max_wait_time`` s:
        200 with ``"verification": "passed"`` and the ``wait_time``, or 500 with ``"status":
        "verification_failed"``."""
        data = request.get_json(force=True)
        command, shell = parse_command(data)
        result = run_command(command, shell, float(data.get("timeout", COMMAND_TIMEOUT_S)))
        verification = data.get("verification") or {}
        if result["status"] != "success" or not verification:
            return jsonify(result), 200 if result["status"] == "success" else 500
        max_wait, interval = float(data.get("max_wait_time", 10)), float(data.get("check_interval", 1))
        started = time.monotonic()
        while True:
            if verified(verification):
                return jsonify({**result, "verification": "passed", "wait_time": time.monotonic() - started})
            if time.monotonic() - started + interval > max_wait:
                return jsonify({**result, "status": "verification_failed", "verification": "failed",
                                "wait_time": max_wait}), 500
            time.sleep(interval)
