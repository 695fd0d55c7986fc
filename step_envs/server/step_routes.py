"""Our fast path under ``/step/``: ``/step/act`` (an action in the persistent worker, then the settled screen in
the same reply), ``/step/screenshot`` (raw pixels by default), ``/step/windows`` and ``/step/idle`` (wait until the
apps that made some windows stopped working, :mod:`step_envs.server.activity`)."""

from __future__ import annotations

import json
import os
from typing import Any

from flask import Flask, Response, jsonify, request

from step_envs.server import windows
from step_envs.server.activity import wait_idle, window_pids
from step_envs.server.damage import FolderStamp
from step_envs.server.screen import QUIET_S, ScreenGrabber, encode
from step_envs.server.worker import ActionWorker


def add_step_routes(app: Flask, worker: ActionWorker, grabber: ScreenGrabber) -> None:
    """Register the routes on ``app``: actions run in ``worker``, the screen comes from ``grabber``."""
    desktop = FolderStamp(os.path.join(os.path.expanduser("~"), "Desktop"))

    @app.post("/step/act")
    def act() -> Any:
        """Run pyautogui code in the persistent worker, then wait for the screen to settle (``settle``: ``damage``
        or ``grabs``, with ``quiet`` and ``still``: :meth:`ScreenGrabber.settle`). ``files_quiet``: the quiet
        window when the files the desktop shows (``~/Desktop``) changed since the last request, whose icons the
        desktop may still be redrawing (:class:`~step_envs.server.damage.FolderStamp`; a reset asks for it).

        With ``"observe": "raw" | "png" | "jpeg"`` the reply also carries the screen after the action (the settled
        frame itself, so no second grab or round trip): the body is the result's JSON (``X-Result-Length`` bytes)
        followed by the encoded frame, its size in ``X-Width`` / ``X-Height``. Without it the reply is the JSON.
        """
        data = request.get_json(force=True)
        try:
            mode = grabber.mark(str(data.get("settle", "damage")))
        except ValueError as exc:
            return jsonify({"status": "error", "error": str(exc)}), 400
        quiet = float(data.get("quiet", QUIET_S))
        if desktop.changed() and data.get("files_quiet") is not None:
            quiet = max(quiet, float(data["files_quiet"]))
        result = worker.run(str(data.get("code", "")), float(data.get("timeout", 10.0)))
        still = None if data.get("still") is None else float(data["still"])  # None: the mode's own
        result["settle"], frame = grabber.settle(float(data.get("settle_min", 0.0)), float(data.get("settle_max", 0.0)),
                                                 mode, still, quiet, rgb=data.get("observe") == "raw")
        result["quiet"] = quiet
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

    @app.post("/step/idle")
    def idle() -> Any:
        """``{"windows": ["0x...", ...], "seconds": S, "timeout": T}``: :func:`~step_envs.server.activity.wait_idle`
        on the processes that own those windows (none: the screen alone), answered with its result."""
        data = request.get_json(force=True)
        try:
            roots = window_pids(data.get("windows") or [])
            seconds, timeout = float(data.get("seconds", 0.2)), float(data.get("timeout", 30.0))
        except (TypeError, ValueError) as exc:
            return jsonify({"error": f"windows must be 0x... window ids, seconds and timeout numbers: {exc}"}), 400
        return jsonify(wait_idle(roots, seconds, timeout, lambda: grabber.grab().bgra))
