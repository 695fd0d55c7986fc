"""EnvPool: many environments in parallel, async per-env stepping, health checks and replacement, Ray.

The names load on first use: `step_envs.pool.agent` (the Agent protocol the pool drives) and `step_envs.pool.ray`
(the Ray handle) are imported on their own, and importing them must not pull in the whole pool. Nothing here
imports Ray; the Ray side loads only for ``provider="ray"``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {"EnvPool": "step_envs.pool.pool", "Ready": "step_envs.pool.slot",
            "DesktopVectorEnv": "step_envs.pool.vector", "episode_key": "step_envs.pool.runner",
            "observation_hash": "step_envs.pool.runner"}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
