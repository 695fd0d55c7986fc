"""Whole-file HTTP(S) downloads with retries (:func:`download`), used by the controller's ``/setup/download_file``
(into the session) and by the host's OSWorld download cache (:func:`cached_download`), which setup steps and
checkers read task files from.

The cache is ``$STEP_ENVS_CACHE_DIR/osworld`` (default ``~/.cache/step-gym/osworld``), each file named
``<uuid5(url)>_<file name>`` as OSWorld names them; a download is written to a ``.part`` file and renamed into
place, so the cache holds whole files only, and a cached file is never fetched again.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import requests

DOWNLOAD_TRIES = 3
DOWNLOAD_TIMEOUT_S = 300.0


class DownloadError(RuntimeError):
    """Every try failed; the message names the URL, the tries and the last error (`error`)."""

    def __init__(self, url: str, tries: int, error: Exception | None, advice: str = "") -> None:
        super().__init__(f"could not download {url} ({tries} tries): {error}" + (f"; {advice}" if advice else ""))
        self.url, self.tries, self.error = url, tries, error


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


def osworld_cache_dir() -> Path:
    """``$STEP_ENVS_CACHE_DIR/osworld``, or ``~/.cache/step-gym/osworld``."""
    root = os.environ.get("STEP_ENVS_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "step-gym") / "osworld"


def cached_download(url: str, name: str, cache_dir: Path | None = None) -> Path:
    """The host path of ``url``'s bytes, downloaded on first use into the cache as ``<uuid5(url)>_<name>``.

    Raises :class:`DownloadError` naming the URL, and where to put the file instead, when every try failed
    (offline, an HTTP error status)."""
    folder = cache_dir or osworld_cache_dir()
    path = folder / f"{uuid.uuid5(uuid.NAMESPACE_URL, url)}_{Path(name).name or 'file'}"
    if path.is_file():
        return path
    try:
        download(url, path)
    except DownloadError as exc:
        raise DownloadError(url, exc.tries, exc.error, f"without network, put the file at {path} or load the task "
                                                        "with a file_cache mirror") from None
    return path
