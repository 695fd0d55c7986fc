"""OSWorld's routes about the screen: ``/screenshot`` (PNG), ``/screen_size``, ``/cursor_position``, and
``/start_recording`` / ``/end_recording`` (an mp4 of the whole screen, :mod:`step_envs.server.recording`), with
OSWorld's request and response shapes."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request, send_file

from step_envs.server.recording import DEFAULT_FRAMERATE, RecordingError, ScreenRecorder
from step_envs.server.screen import ScreenGrabber, encode
from step_envs.server.worker import ActionWorker


def add_screen_routes(app: Flask, grabber: ScreenGrabber, worker: ActionWorker) -> None:
    """Register the routes on ``app``: ``grabber`` grabs the screen and gives its size (recordings' too), ``worker``
    reads the pointer's position through pyautogui."""
    recorder = ScreenRecorder()

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
