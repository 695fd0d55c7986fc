"""step_envs: Gymnasium environments for computer-use agents.

``import step_envs`` registers ``step_envs/Desktop-v0`` (pass ``task=``), ``step_envs/Android-v0`` (pass
``task=`` and ``simulator=``) and one id per built-in desktop task,
``step_envs/<task-id>-v0``; ``step_envs.registered_ids()`` lists them.
"""

from __future__ import annotations

import gymnasium as gym

from step_envs.episodes import Episode, StepRecord
from step_envs.tasks import Task, builtin_tasks, load_task

__version__ = "0.1.0"
NAMESPACE = "step_envs"
DESKTOP_ENTRY_POINT = "step_envs.desktop.env:DesktopEnv"
DESKTOP_VECTOR_ENTRY_POINT = "step_envs.pool.vector:DesktopVectorEnv"  # gymnasium.make_vec runs an EnvPool
ANDROID_ENTRY_POINT = "step_envs.android.env:AndroidEnv"


def _register(env_id: str, **kwargs: object) -> None:
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=DESKTOP_ENTRY_POINT, vector_entry_point=DESKTOP_VECTOR_ENTRY_POINT,
                     kwargs=kwargs)


def __getattr__(name: str) -> object:
    """``step_envs.EnvPool`` loads the pool (and its providers) on first use, keeping ``import step_envs`` light."""
    if name == "EnvPool":
        from step_envs.pool import EnvPool

        return EnvPool
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def registered_ids() -> list[str]:
    """Every Gymnasium id this package registers."""
    return sorted(env_id for env_id in gym.registry if env_id.startswith(f"{NAMESPACE}/"))


_register(f"{NAMESPACE}/Desktop-v0")
if f"{NAMESPACE}/Android-v0" not in gym.registry:
    # android_env is imported only when the env is made; a real device is not deterministic (clock, animations)
    gym.register(id=f"{NAMESPACE}/Android-v0", entry_point=ANDROID_ENTRY_POINT, nondeterministic=True)
for _task_id in builtin_tasks():
    _register(f"{NAMESPACE}/{_task_id}-v0", task=_task_id)

__all__ = ["EnvPool", "Episode", "StepRecord", "Task", "builtin_tasks", "load_task", "registered_ids"]
