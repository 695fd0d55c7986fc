"""OSWorld compatibility beyond its task files: :class:`DesktopEnv`, a drop-in for OSWorld's own env class (in
:mod:`step_envs.osworld.env`, with its ``controller`` / ``setup_controller`` in :mod:`step_envs.osworld.controllers`),
and the setup steps that reach past the controller (downloads into a host cache, Chrome tabs through DevTools), in
:mod:`step_envs.osworld.steps`."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # imported on first use: the setup steps import this package too and need none of the env's machinery
    if name == "DesktopEnv":
        from step_envs.osworld.env import DesktopEnv

        return DesktopEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DesktopEnv"]
