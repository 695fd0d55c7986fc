"""What a run trains and evaluates on, and where: the suite's tasks as the config restricts them, and the pool of
envs the `[env]` section describes. Training, SFT, evaluation and the experiment all start here."""

from __future__ import annotations

from typing import Any

from step_envs.tasks import Task
from step_train.config import EnvSettings, TrainConfig


def load_tasks(config: TrainConfig) -> list[Task]:
    """The suite's tasks, restricted to `env.tasks` when given."""
    from step_envs.tasks.suites import load_suite

    tasks = load_suite(config.env.suite)
    if config.env.tasks:
        by_id = {t.id: t for t in tasks}
        missing = [t for t in config.env.tasks if t not in by_id]
        if missing:
            raise ValueError(f"task(s) {', '.join(missing)} not in suite {config.env.suite!r}")
        tasks = [by_id[t] for t in config.env.tasks]
    if not tasks:
        raise ValueError(f"suite {config.env.suite!r} has no tasks")
    return tasks


def make_pool(env: EnvSettings) -> Any:
    """An `EnvPool` of `env.num_envs` envs as the `[env]` section describes them."""
    from step_envs.pool import EnvPool

    env_kwargs = {
        "action_space": env.action_space,
        "screen_size": tuple(env.screen_size),
        "max_steps": env.max_steps,
        **env.env_kwargs,
    }
    return EnvPool(env.num_envs, env.provider, env_kwargs=env_kwargs, provider_kwargs=dict(env.provider_kwargs),
                   max_retries=env.max_retries, batch_window=env.batch_window)
