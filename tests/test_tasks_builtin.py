"""Every built-in desktop task, on real apps: its solution scores 1.0, doing nothing scores 0.0."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import gymnasium as gym
import pytest

import step_envs
from step_envs.cli.main import run_solution
from step_envs.desktop.env import DesktopEnv
from step_envs.tasks import DIFFICULTIES, builtin_tasks

pytestmark = pytest.mark.desktop
TASKS = builtin_tasks()


@pytest.fixture(scope="module")
def env() -> Iterator[DesktopEnv]:
    env = DesktopEnv(max_steps=30)
    yield env
    env.close()


def test_suite_covers_five_apps_with_solutions_and_difficulties() -> None:
    domains = Counter(task.domain for task in TASKS.values())
    assert len(TASKS) >= 20
    assert set(domains) >= {"os", "text_editor", "file_manager", "calc", "writer"}
    assert min(domains.values()) >= 4
    for task in TASKS.values():
        assert task.solution and task.difficulty in DIFFICULTIES, task.id
    assert any(task.infeasible for task in TASKS.values())


@pytest.mark.parametrize("task_id", sorted(TASKS))
def test_solution_scores_one(env: DesktopEnv, task_id: str) -> None:
    row = run_solution(env, TASKS[task_id])
    assert row["env_error"] is None, row
    assert row["score"] == 1.0, f"{task_id}: {row['reason']}"


@pytest.mark.parametrize("task_id", sorted(TASKS))
def test_doing_nothing_then_done_scores_zero(env: DesktopEnv, task_id: str) -> None:
    _, info = env.reset(options={"task": task_id})
    assert "env_error" not in info, info
    _, reward, terminated, _, info = env.step("DONE")
    assert terminated and reward == 0.0, f"{task_id}: {info['reason']}"


def test_every_task_has_its_own_gymnasium_id() -> None:
    ids = step_envs.registered_ids()
    for task_id in TASKS:
        assert f"step_envs/{task_id}-v0" in ids
    env = gym.make("step_envs/os-create-folder-v0")
    try:
        obs, info = env.reset()
        assert info["task_id"] == "os-create-folder" and obs["instruction"] == TASKS["os-create-folder"].instruction
        assert env.step("DONE")[1] == 0.0
    finally:
        env.close()


def test_reset_closes_windows_an_app_daemon_kept_open(env: DesktopEnv) -> None:
    env.reset(options={"task": "files-create-folder"})
    assert any("Thunar" in w["wm_class"] for w in env.client.windows())
    env.reset(options={"task": "os-create-folder"})
    windows = env.client.windows()
    assert not any("Thunar" in w["wm_class"] for w in windows), windows
