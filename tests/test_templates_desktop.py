"""Template instances on the real desktop: solutions score 1.0, doing nothing scores 0.0 (every smoke instance and a
deterministic sample of the rest), and every template's "almost right" actions score 0."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from step_envs.desktop.env import DesktopEnv
from step_envs.tasks import Task, load_suite
from step_envs.tasks.suites import SMOKE
from step_envs.tasks.templates import TEMPLATES, get_template, instance

pytestmark = pytest.mark.desktop
SAMPLE_SIZE = 8
NEAR_MISS_SEED = 1


def _sample() -> list[str]:
    """``SAMPLE_SIZE`` instances outside smoke, the same on every run: the lowest sha256 of their ids."""
    rest = [f"{tid}/{seed}" for tid, template in TEMPLATES.items() for seed in range(template.seeds)]
    rest = [task_id for task_id in rest if task_id not in SMOKE]
    return sorted(rest, key=lambda task_id: hashlib.sha256(task_id.encode()).hexdigest())[:SAMPLE_SIZE]


CHECKED = [*SMOKE, *_sample()]


@pytest.fixture(scope="module")
def env() -> Iterator[DesktopEnv]:
    env = DesktopEnv(max_steps=40)
    yield env
    env.close()


def play(env: DesktopEnv, task: Task, actions: list[str]) -> tuple[float, str]:
    """Reset to ``task``, run ``actions`` (then DONE unless they ended the episode); the reward and the reason."""
    _, info = env.reset(options={"task": task})
    assert "env_error" not in info, info
    reward, info, done = 0.0, {}, False
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        assert "env_error" not in info, info
        done = terminated or truncated
        if done:
            break
    if not done:
        _, reward, _, _, info = env.step("DONE")
    return reward, info.get("reason", "")


def test_smoke_suite_is_the_listed_instances() -> None:
    assert [task.id for task in load_suite("smoke")] == list(SMOKE)


@pytest.mark.parametrize("task_id", CHECKED)
def test_solution_scores_one(env: DesktopEnv, task_id: str) -> None:
    task = instance(task_id)
    reward, reason = play(env, task, task.solution)
    assert reward == 1.0, f"{task_id}: {reason}"


@pytest.mark.parametrize("task_id", CHECKED)
def test_doing_nothing_scores_zero(env: DesktopEnv, task_id: str) -> None:
    reward, reason = play(env, instance(task_id), ["DONE"])
    assert reward == 0.0, f"{task_id}: {reason}"


@pytest.mark.parametrize("template_id", sorted(TEMPLATES))
def test_almost_right_scores_zero(env: DesktopEnv, template_id: str) -> None:
    template = get_template(template_id)
    reward, reason = play(env, template.instance(NEAR_MISS_SEED), template.draft(NEAR_MISS_SEED).near_miss)
    assert reward == 0.0, f"{template_id}/{NEAR_MISS_SEED}: {reason}"
