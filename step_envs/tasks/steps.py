"""The setup-step vocabulary of a task's ``config`` (and its evaluator's ``postconfig``): which step types exist,
and the load-time check of a task's steps. `step_envs.desktop.setup` runs them.

Step format is OSWorld's: ``{"type": "launch", "parameters": {...}}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

STEP_TYPES = ("launch", "open", "execute", "command", "sleep", "activate_window", "close_window",
              "upload_file", "download", "chrome_open_tabs", "chrome_close_tabs",
              "update_browse_history", "proxy")
WEB_SCHEMES = ("http", "https")
"""URL schemes a ``download`` step fetches into the host cache; any other URL names a file shipped with the task."""


def local_source(url: str, base_dir: Path | None) -> Path:
    """The host path of a file shipped with the task: ``url`` is a path (relative to ``base_dir``, the task file's
    folder) or a ``file://`` URL. ValueError for a network URL."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https", "ftp"):
        raise ValueError(f"{url} is a network URL; tasks must be self-contained: ship the file with the task "
                         "and give a path relative to the task file (or file://)")
    path = Path(unquote(parsed.path) if parsed.scheme == "file" else url)  # a file URL's path is %-encoded
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def validate_steps(steps: list[dict[str, Any]]) -> None:
    """Raise ValueError for an unknown step type or a download from a URL that is neither web nor local, at
    task-load time."""
    for index, step in enumerate(steps):
        kind = step.get("type") if isinstance(step, dict) else None
        if kind not in STEP_TYPES:
            raise ValueError(f"setup step {index}: unknown type {kind!r}; known: {', '.join(STEP_TYPES)}")
        if kind == "download":
            for item in step.get("parameters", {}).get("files", []):
                if urlparse(item["url"]).scheme not in WEB_SCHEMES:
                    local_source(item["url"], None)
