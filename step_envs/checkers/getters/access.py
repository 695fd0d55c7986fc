"""What every getter uses to reach the env: config keys read with a clear error, the host-side cache folder,
files and Python in the env, the accessibility tree.

A getter whose output is missing (no such file, a command that could not run) returns None; a malformed config
raises ValueError naming the key (``evaluate`` turns both into a zero score with a reason). Transport failures of the
controller raise :class:`~step_envs.core.ProviderError` (an env failure). Commands run with a timeout cut to
the evaluation's time left; every controller call has the client's HTTP timeout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from step_envs.checkers.registry import CheckContext, short

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


def fetch_env_file(ctx: CheckContext, path: str, dest: str) -> str | None:
    """The env's file ``path`` saved as ``cache_dir/dest``, its local path; None when it is missing."""
    ctx.time_left(COMMAND_TIMEOUT_S)  # raises when the evaluation's budget is spent
    data = ctx.client.get_file(path)
    if data is None:
        return None
    local = cache_path(ctx, dest)
    local.write_bytes(data)
    return str(local)


def save_to_cache(ctx: CheckContext, config: dict[str, Any], data: bytes | None) -> str | None:
    """``data`` written to ``cache_dir/dest`` (the config's ``dest``), its path; None for no data."""
    if data is None:
        return None
    local = cache_path(ctx, text_of(config, "dest"))
    local.write_bytes(data)
    return str(local)


def env_python(ctx: CheckContext, script: str) -> str | None:
    """stdout of a Python ``script`` run by the env's ``python3``; None when it failed."""
    outcome = ctx.client.execute(["python3", "-c", script], timeout=ctx.time_left(COMMAND_TIMEOUT_S))
    return outcome.get("output") if outcome.get("status") == "success" else None


def env_home_file(ctx: CheckContext, path: str) -> bytes | None:
    """The bytes of ``path`` (``~`` is the env user's home) in the env; None when it is missing."""
    expanded = env_python(ctx, f"import os; print(os.path.expanduser({path!r}))")
    return ctx.client.get_file(expanded.strip()) if expanded and expanded.strip() else None


A11Y_CHECK_TIMEOUT_S = 60.0
"""How long a check's walk of the accessibility tree may take (the observations' walk stops at 10 s). OSWorld's walk
has no limit; LibreOffice's two menu bars (hundreds of items, walked before its panes) alone take longer than 10 s
on a loaded machine, and a tree cut short there lacks the slide pane Impress's ``check_left_panel`` looks for."""


def check_tree(ctx: CheckContext) -> str:
    """The env's whole accessibility tree for a check, walked for up to :data:`A11Y_CHECK_TIMEOUT_S` seconds (cut to
    the evaluation's budget); raises ``A11yError`` when it cannot be read."""
    return ctx.client.accessibility_tree(timeout=ctx.time_left(A11Y_CHECK_TIMEOUT_S))
