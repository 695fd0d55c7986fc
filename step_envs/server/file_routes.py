"""OSWorld's routes about files in the session: ``/list_directory``, ``/file`` (read one), ``/setup/upload``,
``/setup/open_file`` and ``/setup/download_file``, with OSWorld's request and response shapes. Paths starting with
``~`` expand to the session's home."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request, send_file

from step_envs.server.commands import existing_path, expand
from step_envs.server.fetch import DownloadError, download

DOWNLOAD_SCHEMES = ("http://", "https://")


def directory_tree(directory: str) -> dict[str, Any]:
    """OSWorld's tree of a directory: ``{"type": "directory", "name", "children"}``, files as ``{"type": "file",
    "name"}``, symlinked directories not followed; ``{"error"}`` for one that cannot be listed."""
    tree: dict[str, Any] = {"type": "directory", "name": os.path.basename(directory), "children": []}
    try:
        for entry in sorted(os.listdir(directory)):
            full = os.path.join(directory, entry)
            if os.path.isdir(full) and not os.path.islink(full):
                tree["children"].append(directory_tree(full))
            else:
                tree["children"].append({"type": "file", "name": entry})
    except OSError as exc:
        tree = {"error": str(exc)}
    return tree


def add_file_routes(app: Flask) -> None:
    """Register the routes on ``app``."""

    @app.post("/list_directory")
    def list_directory() -> Any:
        data = request.get_json(force=True)
        if "path" not in data:
            return jsonify(error="Missing 'path' parameter"), 400
        path = expand(data["path"])
        if not os.path.isdir(path):
            return jsonify(error="The provided path is not a directory"), 400
        return jsonify(directory_tree=directory_tree(path))

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
