"""Whole-file HTTP(S) downloads with retries: the controller's ``/setup/download_file`` (into the session) and the
host's OSWorld download cache (`step_envs.osworld.steps.cached_download`) both use it."""

from __future__ import annotations

import os
from pathlib import Path

import requests

DOWNLOAD_TRIES = 3
DOWNLOAD_TIMEOUT_S = 300.0


class DownloadError(RuntimeError):
    """Every try failed; the message names the URL, the tries and the last error (`error`)."""

    def __init__(self, url: str, tries: int, error: Exception | None) -> None:
        super().__init__(f"could not download {url} ({tries} tries): {error}")
        self.error = error


def download(url: str, path: Path, tries: int = DOWNLOAD_TRIES, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Fetch ``url`` into ``path``, written whole or not at all (a ``.part`` file per process, then a rename), trying
    ``tries`` times."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    error: Exception | None = None
    for _ in range(tries):
        try:
            with requests.get(url, stream=True, timeout=timeout) as response:
                response.raise_for_status()
                with partial.open("wb") as handle:
                    for chunk in response.iter_content(chunk_size=1 << 16):
                        handle.write(chunk)
            os.replace(partial, path)
            return
        except (requests.RequestException, OSError) as exc:
            error = exc
            partial.unlink(missing_ok=True)
    raise DownloadError(url, tries, error)
