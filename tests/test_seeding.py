"""``reset(seed=...)`` means one thing for every env, as in Gymnasium: it seeds the env's ``np_random``, and an env
whose task is a bare template name runs the instance drawn from it (`draw_instance_seed`): equal seeds, equal
instances; an instance id or a fixed task is run as given, whatever the seed."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import step_envs  # noqa: F401 - registers the ids
from step_envs.desktop.env import DesktopEnv
from step_envs.providers.adb import ReplayAdbRunner
from step_envs.tasks import TaskError
from step_envs.tasks.model import draw_instance_seed


def drawn(template: str, seed: int) -> str:
    """The instance id an env given ``template`` runs after ``reset(seed=seed)``."""
    return f"{template}/{draw_instance_seed(np.random.default_rng(seed))}"


def test_the_drawn_instance_seed_depends_only_on_the_reset_seed() -> None:
    assert drawn("t", 7) == drawn("t", 7) != drawn("t", 8)
    assert len({drawn("t", seed) for seed in range(20)}) == 20


def test_an_android_env_runs_the_instance_its_reset_seed_draws() -> None:
    env = gym.make("step_envs/Android-v0", task="files-create-folder", simulator="fake", screen_size=(108, 240),
                   adb=ReplayAdbRunner(), disable_env_checker=True).unwrapped
    try:
        for seed in (0, 11, 11, 12):
            assert env.reset(seed=seed)[1]["task_id"] == drawn("files-create-folder", seed)
        _, info = env.reset(seed=11, options={"task": "files-create-folder/3"})
        assert info["task_id"] == "files-create-folder/3"  # an instance id is run as given
    finally:
        env.close()


@pytest.mark.desktop
def test_a_desktop_env_runs_the_instance_its_reset_seed_draws() -> None:
    env = DesktopEnv(task="terminal-count-lines", max_steps=1)
    try:
        assert env.task is None  # nothing is drawn before the first reset
        for seed in (5, 5, 6):
            _, info = env.reset(seed=seed)
            assert "env_error" not in info, info
            assert info["task_id"] == drawn("terminal-count-lines", seed) == env.task.id
            assert env.task.template == "terminal-count-lines"
        _, info = env.reset(seed=5, options={"task": "terminal-count-lines/0"})
        assert info["task_id"] == "terminal-count-lines/0"
        assert env.reset(seed=6)[1]["task_id"] == "terminal-count-lines/0"  # the instance stays until changed
    finally:
        env.close()


def test_a_desktop_env_refuses_an_unknown_task_when_made() -> None:
    with pytest.raises(TaskError, match="unknown task 'terminal-count-line'"):
        DesktopEnv(task="terminal-count-line")
