"""OSWorld's controller routes about the desktop itself, with OSWorld's request and response shapes.

``GET /terminal``, ``POST /window_size``, ``/desktop_path``, ``/wallpaper``, ``/setup/change_wallpaper``,
``/setup/download_file``, ``/start_recording``, ``/end_recording`` and ``/execute_with_verification`` (also under
``/setup/``). Where OSWorld's VM runs GNOME, these speak to what the session has instead: the wallpaper is
xfdesktop's (through xfconf), the terminal is any VTE terminal (xfce4-terminal or gnome-terminal).
"""

from __future__ import annotations

import os
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request, send_file

from step_envs.server import windows
from step_envs.server.commands import (
    COMMAND_TIMEOUT_S,
    A11yReader,
    existing_path,
    expand,
    parse_command,
    run_command,
)
from step_envs.server.fetch import DownloadError, download
from step_envs.server.recording import DEFAULT_FRAMERATE, RecordingError, ScreenRecorder
from step_envs.server.screen import ScreenGrabber

DOWNLOAD_SCHEMES = ("http://", "https://")
VERIFY_COMMAND_TIMEOUT_S = 5
WALLPAPER_CHANNEL = "xfce4-desktop"
# where xfdesktop keeps the first workspace's picture when the session has never set one (Xvfb's one monitor)
DEFAULT_WALLPAPER_PROPERTY = "/backdrop/screen0/monitorscreen/workspace0/last-image"
A11Y_STATE = "{https://accessibility.ubuntu.example.org/ns/state}"
TERMINAL_TREE_TIMEOUT_S = 10.0


def terminal_text(tree: str) -> str | None:
    """The text of the focused terminal widget in the active window of a terminal app, from an OSWorld-style
    accessibility tree (OSWorld reads gnome-terminal's the same way); None when there is none or several."""
    root = ET.fromstring(tree)
    found = [terminal.text or "" for app in root.iter("application") if "terminal" in app.get("name", "").lower()
             for frame in app.iter("frame") if frame.get(f"{A11Y_STATE}active") == "true"
             for terminal in frame.iter("terminal") if terminal.get(f"{A11Y_STATE}focused") == "true"]
    return found[0].rstrip() if len(found) == 1 else None


def _xfconf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["xfconf-query", "-c", WALLPAPER_CHANNEL, *args], capture_output=True, text=True,
                          timeout=10)


def wallpaper_properties() -> list[str]:
    """xfdesktop's picture properties, one per monitor and workspace (``.../workspaceN/last-image``)."""
    listing = _xfconf("-l")
    return sorted(line for line in listing.stdout.split() if line.endswith("/last-image"))


def current_wallpaper() -> str | None:
    """The first workspace's picture on the first monitor, or None when xfdesktop has none."""
    names = wallpaper_properties()
    first = next((name for name in names if "/workspace0/" in name), names[0] if names else None)
    if first is None:
        return None
    value = _xfconf("-p", first)
    if value.returncode != 0:
        return None
    return value.stdout.strip() or None


def set_wallpaper(path: Path) -> None:
    """Show ``path`` on every monitor and workspace (xfdesktop redraws when xfconf changes)."""
    for name in wallpaper_properties() or [DEFAULT_WALLPAPER_PROPERTY]:
        result = _xfconf("-p", name, "-n", "-t", "string", "-s", str(path))
        if result.returncode != 0:
            raise RuntimeError(f"xfconf-query could not set {name}: {result.stderr.strip()}")


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


def add_desktop_routes(app: Flask, grabber: ScreenGrabber) -> None:
    """Register the routes on ``app``; ``grabber`` gives the screen size for recordings. ``/terminal`` reads the
    tree through ``app.config["a11y_reader"]`` (a new reader when the app has none)."""
    recorder = ScreenRecorder()
    app.config["recorder"] = recorder
    reader: A11yReader = app.config.setdefault("a11y_reader", A11yReader())

    @app.get("/terminal")
    def terminal() -> Any:
        """``{"output": text or null, "status": "success"}``: the focused terminal's text when a terminal is the
        active window. Needs the session's accessibility (``a11y=True``); null without it."""
        active = windows.active_window()
        if active is None or "terminal" not in active["wm_class"].lower():
            return jsonify(output=None, status="success")
        tree, error = reader.tree(100, 1024, TERMINAL_TREE_TIMEOUT_S)
        if error:
            return jsonify(status="error", message=error), 500
        return jsonify(output=terminal_text(tree or ""), status="success")

    @app.post("/window_size")
    def window_size() -> Any:
        name = request.form.get("app_class_name")
        if not name:
            return jsonify(error="app_class_name is required"), 400
        size = windows.window_size(name)
        if size is None:
            return jsonify(error=f"Window not found: no window of class {name!r}"), 404
        return jsonify(width=size[0], height=size[1])

    @app.post("/desktop_path")
    def desktop_path() -> Any:
        path = Path.home() / "Desktop"
        if not path.is_dir():
            return jsonify(error=f"desktop path not found: {path} does not exist"), 404
        return jsonify(desktop_path=str(path))

    @app.post("/wallpaper")
    def wallpaper() -> Any:
        """The current wallpaper's file, as bytes."""
        path = current_wallpaper()
        if path is None or not os.path.isfile(path):
            return jsonify(error=f"Wallpaper file not found ({path or 'xfdesktop has no wallpaper set'})"), 404
        return send_file(path)

    @app.post("/setup/change_wallpaper")
    def change_wallpaper() -> Any:
        path, error = existing_path(request.get_json(force=True).get("path"))
        if error:
            return error
        try:
            set_wallpaper(path)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            return f"Failed to change wallpaper. Error: {exc}", 500
        return "Wallpaper changed successfully"

    @app.post("/setup/download_file")
    def download_file() -> Any:
        data = request.get_json(force=True)
        url, path = data.get("url"), data.get("path")
        if not url or not path:
            return "Path or URL not supplied!", 400
        if not str(url).startswith(DOWNLOAD_SCHEMES):
            return f"Cannot download {url}: only {' and '.join(DOWNLOAD_SCHEMES)} URLs are supported", 400
        try:
            download(url, Path(expand(path)))
        except DownloadError as exc:  # OSWorld's wording
            return f"Failed to download {url}. No retries left. Error: {exc.error}", 500
        return "File downloaded successfully"

    @app.post("/start_recording")
    def start_recording() -> Any:
        """Optional JSON ``{"framerate": N}`` (``DEFAULT_FRAMERATE`` by default)."""
        data = request.get_json(silent=True) or {}
        try:
            recorder.start(*grabber.size(), framerate=int(data.get("framerate", DEFAULT_FRAMERATE)))
        except RecordingError as exc:
            return jsonify(status="error", message=str(exc)), exc.status
        return jsonify(status="success", message="Started recording.")

    @app.post("/end_recording")
    def end_recording() -> Any:
        """The finished mp4, as an attachment."""
        try:
            path = recorder.stop()
        except RecordingError as exc:
            return jsonify(status="error", message=str(exc)), exc.status
        return send_file(path, mimetype="video/mp4", as_attachment=True)

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
