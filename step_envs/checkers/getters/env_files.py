"""Getters of files: the env's (``vm_file``, a sheet's last row ``content_from_vm_file``, a folder's tree
``list_directory``), the task's own (``cloud_file``, ``local_file``) and the cache's (``cache_file``), with OSWorld's
configs (``getters/file.py``, ``getters/general.py``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from step_envs.checkers.getters.access import cache_path, fetch_env_file, text_of
from step_envs.checkers.metrics.spreadsheet import load_book
from step_envs.checkers.registry import CheckContext, getter, short
from step_envs.core import ProviderError
from step_envs.server.fetch import DownloadError, cached_download


def _texts(config: dict[str, Any], key: str) -> list[str]:
    values = config.get(key)
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"with 'multi', getter config {key!r} must be a list of strings, got {short(values)}")
    return values


def _each_file(config: dict[str, Any], fetch: Callable[[str, str], str | None]) -> str | list[str | None] | None:
    """OSWorld's file-getter convention: ``path``/``dest`` are one file, or lists when ``multi`` is true; every file
    is fetched, ``gives`` (default ``[0]``) picks which local paths the metric gets: one is given bare, more as a list."""
    if config.get("multi", False):
        paths, dests = _texts(config, "path"), _texts(config, "dest")
        if len(paths) != len(dests):
            raise ValueError(f"multi: {len(paths)} paths but {len(dests)} dests")
    else:
        paths = [text_of(config, "path")]
        dests = [text_of(config, "dest") if config.get("dest") is not None else Path(paths[0]).name]
    gives = config.get("gives", [0])
    if not isinstance(gives, list) or not all(isinstance(i, int) and 0 <= i < len(paths) for i in gives):
        raise ValueError(f"'gives' must list indices of the {len(paths)} files, got {short(gives)}")
    given = []
    for index, (path, dest) in enumerate(zip(paths, dests, strict=True)):
        local = fetch(path, dest)
        if index in gives:
            given.append(local)
    return given[0] if len(given) == 1 else given


def _local_source(location: str, task_dir: Path | None = None) -> Path:
    """A host path from a plain path or a ``file://`` URL; relative paths are relative to the task's folder.
    Other URL schemes are refused (nothing is downloaded)."""
    parsed = urlparse(location)
    if parsed.scheme in ("file", ""):
        path = Path(unquote(parsed.path) if parsed.scheme == "file" else location)
        return task_dir / path if task_dir is not None and not path.is_absolute() else path
    raise ValueError(f"{location!r}: only host paths and file:// URLs are fetched here; vendor remote files "
                     "with the task and point at them with file://")


@getter("vm_file")
def vm_file(ctx: CheckContext, config: dict[str, Any]) -> str | list[str | None] | None:
    """Fetch ``path`` from the env into ``cache_dir/dest`` (``multi``/``gives`` as OSWorld); a missing file gives None."""
    return _each_file(config, lambda path, dest: fetch_env_file(ctx, path, dest))


@getter("cloud_file")
def cloud_file(ctx: CheckContext, config: dict[str, Any]) -> str | list[str | None] | None:
    """Copy a task data file (host path, ``file://`` URL, or an ``http(s)://`` URL downloaded once into OSWorld's
    host cache, :func:`step_envs.server.fetch.cached_download`) into ``cache_dir/dest``, OSWorld's layout. A
    download that fails is the environment's failure, not the agent's: it raises :class:`ProviderError` naming the
    URL, which the env reports as ``env_error`` (offline, a task that fetches its reference at check time is never
    scored 0 as if the agent had failed)."""

    def fetch(location: str, dest: str) -> str | None:
        if urlparse(location).scheme in ("http", "https"):
            try:
                source = cached_download(location, dest)
            except DownloadError as exc:
                raise ProviderError(f"the checker could not fetch its reference file: {exc}") from exc
        else:
            source = _local_source(location, ctx.task_dir)
        if not source.is_file():
            return None
        local = cache_path(ctx, dest)
        shutil.copyfile(source, local)
        return str(local)

    return _each_file(config, fetch)


@getter("cache_file")
def cache_file(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """A file already in the cache folder (put there by setup), by ``path`` relative to it; None when absent."""
    path = cache_path(ctx, text_of(config, "path"))
    return str(path) if path.is_file() else None


@getter("local_file")
def local_file(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """A file on the host, by ``path`` (or ``file://`` URL), returned in place; None when absent."""
    path = _local_source(text_of(config, "path"), ctx.task_dir)
    return str(path) if path.is_file() else None


@getter("list_directory")
def list_directory(ctx: CheckContext, config: dict[str, Any]) -> dict[str, Any] | None:
    """The env's directory tree under ``path`` (``{"type", "name", "children"}``); None when it is not a directory."""
    return ctx.client.list_directory(text_of(config, "path"))


@getter("content_from_vm_file")
def content_from_vm_file(ctx: CheckContext, config: dict[str, Any]) -> list[str] | None:
    """A piece of a file in the env, fetched into the cache: ``file_type`` ``xlsx`` with ``file_content``
    ``last_row`` gives the first sheet's last non-empty row as texts (empty cells ``"nan"``, as pandas prints
    them); None when the file is missing."""
    path, kind, part = text_of(config, "path"), text_of(config, "file_type"), text_of(config, "file_content")
    if (kind, part) != ("xlsx", "last_row"):
        raise ValueError(f"content_from_vm_file reads file_type 'xlsx' with file_content 'last_row', got "
                         f"{kind!r}, {part!r}")
    local = fetch_env_file(ctx, path, Path(path).name)
    if local is None:
        return None
    rows = [row for row in next(iter(load_book(local).values()), []) if any(v is not None for v in row)]
    if len(rows) < 2:
        return None  # a header row alone has no data row
    return ["nan" if value is None else str(value) for value in rows[-1]]
