"""Getters: read a piece of an env's state (or of the task's data) for a metric, with OSWorld's names and configs.

A getter whose output is missing (no such file, a command that could not run) returns None; a malformed config
raises ValueError naming the key (``evaluate`` turns both into a zero score with a reason). Transport failures of the
controller raise :class:`~step_envs.core.ProviderError` (an env failure). Commands run with a timeout cut to
the evaluation's time left; every controller call has the client's HTTP timeout.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from step_envs.checkers.registry import CheckContext, getter, short
from step_envs.core import ProviderError
from step_envs.server.fetch import DownloadError, cached_download

COMMAND_TIMEOUT_S = 30.0
"""Default timeout of a getter's command in the env (OSWorld's getters wait 30 s too); ``timeout`` overrides it."""


def text_of(config: dict[str, Any], key: str) -> str:
    """``config[key]`` when it is a non-empty string, else a ValueError naming the key."""
    if key not in config:
        raise ValueError(f"getter config has no {key!r}")
    value = config[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"getter config {key!r} must be a non-empty string, got {short(value)}")
    return value


def _texts(config: dict[str, Any], key: str) -> list[str]:
    values = config.get(key)
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"with 'multi', getter config {key!r} must be a list of strings, got {short(values)}")
    return values


def cache_path(ctx: CheckContext, dest: str) -> Path:
    """``cache_dir/dest``, refusing a ``dest`` that climbs out of the cache folder."""
    return path_in_cache(ctx.cache_dir, dest, "dest")


def path_in_cache(cache_dir: Path, name: str, what: str = "dest") -> Path:
    """``cache_dir/name`` with its folder made; ValueError for a ``name`` that climbs out of ``cache_dir``."""
    root = cache_dir.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"{what} {name!r} leaves the cache folder {root}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


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


def fetch_env_file(ctx: CheckContext, path: str, dest: str) -> str | None:
    """The env's file ``path`` saved as ``cache_dir/dest``, its local path; None when it is missing."""
    ctx.time_left(COMMAND_TIMEOUT_S)  # raises when the evaluation's budget is spent
    data = ctx.client.get_file(path)
    if data is None:
        return None
    local = cache_path(ctx, dest)
    local.write_bytes(data)
    return str(local)


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


def _execute(ctx: CheckContext, config: dict[str, Any], stream: str) -> str | None:
    command = config.get("command")
    valid = (isinstance(command, str) and command) or (
        isinstance(command, list) and command and all(isinstance(arg, str) for arg in command))
    if not valid:
        raise ValueError(f"getter config 'command' must be a string or a list of strings, got {short(command)}")
    timeout = ctx.time_left(float(config.get("timeout", COMMAND_TIMEOUT_S)))
    outcome = ctx.client.execute(command, shell=bool(config.get("shell", False)), timeout=timeout)
    return outcome.get(stream) if outcome.get("status") == "success" else None


def env_python(ctx: CheckContext, script: str) -> str | None:
    """stdout of a Python ``script`` run by the env's ``python3``; None when it failed."""
    outcome = ctx.client.execute(["python3", "-c", script], timeout=ctx.time_left(COMMAND_TIMEOUT_S))
    return outcome.get("output") if outcome.get("status") == "success" else None


def env_home_file(ctx: CheckContext, path: str) -> bytes | None:
    """The bytes of ``path`` (``~`` is the env user's home) in the env; None when it is missing."""
    expanded = env_python(ctx, f"import os; print(os.path.expanduser({path!r}))")
    return ctx.client.get_file(expanded.strip()) if expanded and expanded.strip() else None


@getter("vm_command_line")
def vm_command_line(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """stdout of ``command`` (list, or string split unless ``shell``) run in the env; None when it could not run."""
    return _execute(ctx, config, "output")


@getter("vm_command_error")
def vm_command_error(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """stderr of ``command`` run in the env; None when it could not run."""
    return _execute(ctx, config, "error")


def _home_paths(value: Any, home: Callable[[], str]) -> Any:
    """``value`` with every string ``~`` or ``~/...`` in it (nested in lists and dicts too) under ``home()``."""
    if isinstance(value, str) and (value == "~" or value.startswith("~/")):
        return home() + value[1:]
    if isinstance(value, list):
        return [_home_paths(item, home) for item in value]
    if isinstance(value, dict):
        return {key: _home_paths(item, home) for key, item in value.items()}
    return value


@getter("rule")
def rule(ctx: CheckContext, config: dict[str, Any]) -> Any:
    """``config["rules"]``: the expected side of most metrics. Paths in it that start with ``~`` (OSWorld's
    ``/home/user`` moved to the env's home when the task loaded) are expanded to the env user's home, so they
    compare with the absolute paths apps save."""
    found: list[str] = []

    def home() -> str:
        if not found:
            expanded = env_python(ctx, "import os; print(os.path.expanduser('~'))")
            if not expanded or not expanded.strip():
                raise ValueError("the env's home folder could not be read to expand '~' in the rules")
            found.append(expanded.strip())
        return found[0]

    return _home_paths(config["rules"], home)


@getter("list_directory")
def list_directory(ctx: CheckContext, config: dict[str, Any]) -> dict[str, Any] | None:
    """The env's directory tree under ``path`` (``{"type", "name", "children"}``); None when it is not a directory."""
    return ctx.client.list_directory(text_of(config, "path"))


A11Y_CHECK_TIMEOUT_S = 60.0
"""How long a check's walk of the accessibility tree may take (the observations' walk stops at 10 s). OSWorld's walk
has no limit; LibreOffice's two menu bars (hundreds of items, walked before its panes) alone take longer than 10 s
on a loaded machine, and a tree cut short there lacks the slide pane Impress's ``check_left_panel`` looks for."""


def check_tree(ctx: CheckContext) -> str:
    """The env's whole accessibility tree for a check, walked for up to :data:`A11Y_CHECK_TIMEOUT_S` seconds (cut to
    the evaluation's budget); raises ``A11yError`` when it cannot be read."""
    return ctx.client.accessibility_tree(timeout=ctx.time_left(A11Y_CHECK_TIMEOUT_S))


@getter("accessibility_tree")
def accessibility_tree(ctx: CheckContext, config: dict[str, Any]) -> str:
    """The env's accessibility tree as XML text (:func:`check_tree`)."""
    return check_tree(ctx)


@getter("vm_screen_size")
def vm_screen_size(ctx: CheckContext, config: dict[str, Any]) -> dict[str, int]:
    """``{"width", "height"}`` of the env's screen, measured on a screenshot."""
    height, width = ctx.client.screenshot().shape[:2]
    return {"width": int(width), "height": int(height)}


def save_to_cache(ctx: CheckContext, config: dict[str, Any], data: bytes | None) -> str | None:
    """``data`` written to ``cache_dir/dest`` (the config's ``dest``), its path; None for no data."""
    if data is None:
        return None
    local = cache_path(ctx, text_of(config, "dest"))
    local.write_bytes(data)
    return str(local)


@getter("vm_window_size")
def vm_window_size(ctx: CheckContext, config: dict[str, Any]) -> dict[str, int] | None:
    """``{"width", "height"}`` of the env's first window whose WM_CLASS is ``app_class_name``; None when none is."""
    return ctx.client.window_size(text_of(config, "app_class_name"))


@getter("vm_wallpaper")
def vm_wallpaper(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """The env's current wallpaper, saved as ``cache_dir/dest``; None when the desktop shows no picture."""
    return save_to_cache(ctx, config, ctx.client.wallpaper())


@getter("vm_terminal_output")
def vm_terminal_output(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """The text of the focused terminal when a terminal is the active window (read through the accessibility
    tree, as OSWorld reads gnome-terminal's); None when no terminal is active or the session has no ``a11y``."""
    return ctx.client.terminal_output()
