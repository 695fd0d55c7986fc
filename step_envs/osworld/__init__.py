"""OSWorld compatibility beyond its task files: :class:`DesktopEnv`, a drop-in for OSWorld's own env class (in
:mod:`step_envs.osworld.env`, with its ``controller`` / ``setup_controller`` in :mod:`step_envs.osworld.controllers`).
The setup steps that reach past the controller live below the envs: downloads into a host cache in
:mod:`step_envs.server.fetch`, Chrome tabs through DevTools in :mod:`step_envs.desktop.chrome`."""

from __future__ import annotations

from typing import Any

OSWORLD_SCREEN = (1920, 1080)
"""OSWorld's screen: its ``DesktopEnv``'s default (without ``$SCREEN_WIDTH`` / ``$SCREEN_HEIGHT``), the one the
project's solutions to its tasks are written for and the audit runs them on."""


def __getattr__(name: str) -> Any:
    # imported on first use: `step_envs.osworld.controllers` alone needs none of the env's machinery
    if name == "DesktopEnv":
        from step_envs.osworld.env import DesktopEnv

        return DesktopEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["OSWORLD_SCREEN", "DesktopEnv"]
