"""The controller server that runs inside an environment (a container or a local X session).

It speaks OSWorld's controller protocol (same routes, same payloads) so OSWorld's own client can drive it,
and adds a fast path under ``/step/`` for our env: actions in a persistent worker, raw-pixel screenshots.
Every route but ``/health`` needs the session token in the ``X-Step-Token`` header unless auth is off.

This module makes the app: the token check, the error replies and ``/health``; the routes live in a module per
concern, each with its ``add_*_routes(app, ...)``:

- ``command_routes``: shell commands, launches, Python and bash scripts (``/execute``, ``/setup/launch``, ...);
- ``file_routes``: listing, reading, uploading, opening and downloading files;
- ``screen_routes``: screenshots, the screen's size, the pointer, recordings;
- ``a11y_routes``: the accessibility tree and the terminal's text read from it;
- ``window_routes``: finding, activating, closing and measuring windows;
- ``desktop_routes``: the session itself (platform, desktop folder, wallpaper);
- ``step_routes``: our fast path under ``/step/``.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from flask import Flask, jsonify, request

from step_envs.server import TOKEN_HEADER
from step_envs.server.a11y_routes import add_a11y_routes
from step_envs.server.command_routes import add_command_routes
from step_envs.server.commands import A11yReader
from step_envs.server.desktop_routes import add_desktop_routes
from step_envs.server.file_routes import add_file_routes
from step_envs.server.screen import ScreenGrabber
from step_envs.server.screen_routes import add_screen_routes
from step_envs.server.step_routes import add_step_routes
from step_envs.server.window_routes import add_window_routes
from step_envs.server.worker import ActionWorker

__all__ = ["TOKEN_HEADER", "create_app"]


def create_app(token: str | None, worker: ActionWorker | None = None,
               grabber: ScreenGrabber | None = None) -> Flask:
    """Build the controller app. ``token=None`` turns authentication off (for OSWorld's own client). Its action
    worker and accessibility reader are ``app.config["worker"]`` and ``app.config["a11y_reader"]``: close both
    when the server exits."""
    app = Flask("step_envs.server")
    worker = worker or ActionWorker()
    grabber = grabber or ScreenGrabber()
    reader = A11yReader()
    app.config["worker"] = worker
    app.config["a11y_reader"] = reader
    require_token(app, token)
    app.register_error_handler(Exception, error_reply)
    add_health_route(app, worker, reader, grabber)
    add_command_routes(app)
    add_file_routes(app)
    add_screen_routes(app, grabber, worker)
    add_a11y_routes(app, reader)
    add_window_routes(app)
    add_desktop_routes(app)
    add_step_routes(app, worker, grabber)
    return app


def require_token(app: Flask, token: str | None) -> None:
    """Answer 401 to a request without ``token`` in the ``X-Step-Token`` header (``/health`` and ``token=None``
    excepted)."""

    @app.before_request
    def check_token() -> Any:
        if token is None or request.path == "/health":
            return None
        given = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return jsonify({"status": "error", "message": f"missing or wrong {TOKEN_HEADER} header"}), 401
        return None


def error_reply(exc: Exception) -> Any:
    """An exception a route raised, as ``{"status": "error", "message"}`` with its HTTP code (500 by default)."""
    code = getattr(exc, "code", 500)
    return jsonify({"status": "error", "message": f"{type(exc).__name__}: {exc}"}), code if isinstance(
        code, int) else 500


def add_health_route(app: Flask, worker: ActionWorker, reader: A11yReader, grabber: ScreenGrabber) -> None:
    """``GET /health``: the server's and its helpers' pids and the display, healthy only when X still answers."""

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
