"""OSWorld's routes that read the accessibility tree (through the session's one reader,
:class:`~step_envs.server.commands.A11yReader`): ``/accessibility`` (the tree as XML) and ``/terminal`` (the focused
terminal's text), with OSWorld's request and response shapes. Where OSWorld's VM runs GNOME, the terminal is any VTE
terminal the session has (xfce4-terminal or gnome-terminal)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from flask import Flask, jsonify, request

from step_envs.server import A11Y_SCOPES, windows
from step_envs.server.commands import A11yReader

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


def add_a11y_routes(app: Flask, reader: A11yReader) -> None:
    """Register the routes on ``app``; both read the tree through ``reader``."""

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
