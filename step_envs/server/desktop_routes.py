"""OSWorld's routes about the desktop session itself: ``/platform``, ``/desktop_path``, ``/wallpaper`` and
``/setup/change_wallpaper``, with OSWorld's request and response shapes. Where OSWorld's VM runs GNOME, these speak
to what the session has instead: the wallpaper is xfdesktop's (through xfconf).
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request, send_file

from step_envs.server.commands import existing_path

WALLPAPER_CHANNEL = "xfce4-desktop"
# where xfdesktop keeps the first workspace's picture when the session has never set one (Xvfb's one monitor)
DEFAULT_WALLPAPER_PROPERTY = "/backdrop/screen0/monitorscreen/workspace0/last-image"


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


def add_desktop_routes(app: Flask) -> None:
    """Register the routes on ``app``."""

    @app.get("/platform")
    def get_platform() -> Any:
        return platform.system()

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
