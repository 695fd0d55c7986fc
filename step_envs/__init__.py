"""step_envs: Gymnasium environments for computer-use agents.

``import step_envs`` registers ``step_envs/Desktop-v0`` (pass ``task=``), ``step_envs/Android-v0`` (pass
``task=`` and ``simulator=``) and one id per built-in desktop task,
``step_envs/<task-id>-v0``; ``step_envs.registered_ids()`` lists them.
"""

from __future__ import annotations

import os

__version__ = "0.1.0"
NAMESPACE = "step_envs"
DESKTOP_ENTRY_POINT = "step_envs.desktop.env:DesktopEnv"
DESKTOP_VECTOR_ENTRY_POINT = "step_envs.pool.vector:DesktopVectorEnv"  # gymnasium.make_vec runs an EnvPool
ANDROID_ENTRY_POINT = "step_envs.android.env:AndroidEnv"


def _register(env_id: str, **kwargs: object) -> None:
    import gymnasium as gym

    if env_id not in gym.registry:
        # nondeterministic: real apps and a real X server (timing, animations, clocks) decide the next screen
        gym.register(id=env_id, entry_point=DESKTOP_ENTRY_POINT, vector_entry_point=DESKTOP_VECTOR_ENTRY_POINT,
                     nondeterministic=True, kwargs=kwargs)


def __getattr__(name: str) -> object:
    """``step_envs.EnvPool`` loads the pool (and its providers) on first use, keeping ``import step_envs`` light;
    the task names load on first use too (they pull in the checkers), and so do ``Episode`` / ``StepRecord``
    (numpy: the processes inside a session import this package and need none of them)."""
    if name in ("Episode", "StepRecord"):
        import step_envs.episodes

        return getattr(step_envs.episodes, name)
    if name == "EnvPool":
        from step_envs.pool import EnvPool

        return EnvPool
    if name in ("Task", "builtin_tasks", "load_task"):
        import step_envs.tasks

        return getattr(step_envs.tasks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def registered_ids() -> list[str]:
    """Every Gymnasium id this package registers."""
    import gymnasium as gym

    return sorted(env_id for env_id in gym.registry if env_id.startswith(f"{NAMESPACE}/"))


def _register_all() -> None:
    import gymnasium as gym

    from step_envs.tasks import builtin_tasks

    _register(f"{NAMESPACE}/Desktop-v0")
    if f"{NAMESPACE}/Android-v0" not in gym.registry:
        # android_env is imported only when the env is made; a real device is not deterministic (clock, animations)
        gym.register(id=f"{NAMESPACE}/Android-v0", entry_point=ANDROID_ENTRY_POINT, nondeterministic=True)
    for task_id in builtin_tasks():
        _register(f"{NAMESPACE}/{task_id}-v0", task=task_id)


# The processes inside a session (server, action worker, supervisor) set STEP_ENVS_REGISTER=0: they need none of
# the ids, and registering loads every task and checker (~60 MB and 0.5 s per process).
if os.environ.get("STEP_ENVS_REGISTER", "1") != "0":
    _register_all()

__all__ = ["EnvPool", "Episode", "StepRecord", "Task", "builtin_tasks", "load_task", "registered_ids"]
