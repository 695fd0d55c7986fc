"""OSWorld's routes about windows (:mod:`step_envs.server.windows`): ``/setup/activate_window``,
``/setup/close_window`` and ``/window_size``, with OSWorld's request and response shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify, request

from step_envs.server import windows


def _window_action(action: Callable[[str], None]) -> Any:
    """``action`` on the first window the request's JSON ``window_name`` (``strict``, ``by_class``) finds."""
    data = request.get_json(force=True)
    name = data.get("window_name")
    if not name:
        return "window_name required", 400
    found = windows.find_windows(name, bool(data.get("strict", False)), bool(data.get("by_class", False)))
    if not found:
        return f"Window {name} not found", 404
    action(found[0]["id"])
    return "Window activated successfully" if action is windows.activate_window else "Window closed successfully"


def add_window_routes(app: Flask) -> None:
    """Register the routes on ``app``."""

    @app.post("/setup/activate_window")
    def activate_window() -> Any:
        return _window_action(windows.activate_window)

    @app.post("/setup/close_window")
    def close_window() -> Any:
        return _window_action(windows.close_window)

    @app.post("/window_size")
    def window_size() -> Any:
        name = request.form.get("app_class_name")
        if not name:
            return jsonify(error="app_class_name is required"), 400
        size = windows.window_size(name)
        if size is None:
            return jsonify(error=f"Window not found: no window of class {name!r}"), 404
        return jsonify(width=size[0], height=size[1])
