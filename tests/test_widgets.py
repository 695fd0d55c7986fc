"""The widget suite: seeded instances, and on the real widget app in a real X session, for every template, the
solution scores 1, doing nothing scores 0 and the near miss scores 0."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import pytest

import step_envs  # noqa: F401 - registers the gymnasium ids
from step_envs.desktop.env import DesktopEnv
from step_envs.tasks import DIFFICULTIES, Task, TaskError
from step_envs.tasks.templates.base import CONTROL_ACTIONS
from step_envs.tasks.templates.widgets import WIDGET_TEMPLATES, near_miss, widget_task, widget_tasks
from step_envs.widgets.form import STATE_PATH

SEEDS = (0, 1)
STATE_KEY = re.compile(r"clicks|(field|check|select|radio|slider|counter):")
"""A reason naming a widget's state key: the app ran and its state was compared (not a missing file)."""
CASES = [f"{template}/{seed}" for template in sorted(WIDGET_TEMPLATES) for seed in SEEDS]


def actions_of(solution: list[str]) -> int:
    return sum(action not in CONTROL_ACTIONS for action in solution)


# --- instances (no desktop) ----------------------------------------------------------------------------


def test_suite_has_eight_or_more_templates_of_one_to_six_actions_across_difficulties() -> None:
    tasks = widget_tasks(6)
    assert len(WIDGET_TEMPLATES) >= 8 and len(tasks) == 6 * len(WIDGET_TEMPLATES)
    for task in tasks:
        assert task.id == f"{task.template}/{task.seed}" and task.domain == "widgets", task.id
        assert 1 <= actions_of(task.solution) <= 6 and task.solution[-1] == "DONE", task.id
        assert task.difficulty in DIFFICULTIES and task.feasible
        assert near_miss(task) != task.solution
    assert {task.difficulty for task in tasks} == set(DIFFICULTIES)


def test_same_seed_gives_the_same_instance_and_seeds_differ() -> None:
    for template in WIDGET_TEMPLATES:
        first, again, other = (widget_task(f"{template}/{seed}") for seed in (3, 3, 4))
        assert first.raw == again.raw and first.params == again.params
        assert (first.instruction, first.config) != (other.instruction, other.config), template


def test_radio_options_come_in_a_seeded_order_so_position_does_not_tell_the_answer() -> None:
    orders: dict[str, set[tuple[str, ...]]] = {}
    places: set[int] = set()
    for seed in range(30):
        task = widget_task(f"widget-choose-radio/{seed}")
        spec = json.loads(task.config[0]["parameters"]["command"][-2])
        groups: dict[str, list[str]] = {}
        for widget in spec["widgets"]:
            if widget["kind"] == "radio":
                groups.setdefault(widget["key"], []).append(widget["value"])
        for key, values in groups.items():
            orders.setdefault(key, set()).add(tuple(values))
        places.add(groups[f"radio:{task.params['group']}"].index(task.params["value"]))
    assert all(len(seen) > 1 for seen in orders.values()), orders
    assert places == {0, 1, 2, 3}, places


def test_instance_does_not_depend_on_the_process_hash_seed() -> None:
    code = ("import json; from step_envs.tasks.templates.widgets import widget_tasks; "
            "print(json.dumps([t.raw for t in widget_tasks(2)], sort_keys=True))")
    here = json.dumps([task.raw for task in widget_tasks(2)], sort_keys=True)
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"}).stdout
    assert there.strip() == here


def test_unknown_ids_are_refused_with_the_known_names() -> None:
    with pytest.raises(TaskError, match="widget-click-button"):
        widget_task("widget-nope/1")
    with pytest.raises(TaskError, match="<template>/<seed>"):
        widget_task("widget-click-button")
    with pytest.raises(TaskError, match="not a widget task"):
        near_miss(Task(id="x", instruction="x"))


def test_app_without_a_display_exits_with_the_error(tmp_path: Path) -> None:
    """The launch command as setup runs it, here without PYTHONPATH (the package is found through site-packages)
    and without a display: exit status 1 and the app's error, no state file."""
    command = widget_task("widget-click-button/0").config[0]["parameters"]["command"]
    state = tmp_path / "state.json"
    proc = subprocess.run([sys.executable, *command[1:-1], str(state)], capture_output=True, text=True,
                          timeout=30, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert proc.returncode == 1 and "display" in proc.stderr.lower(), proc.stderr
    assert not state.exists()


# --- on the desktop ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env() -> Iterator[DesktopEnv]:
    env = DesktopEnv(max_steps=10)
    yield env
    env.close()


def play(env: DesktopEnv, task: Task, actions: list[str]) -> tuple[float, str]:
    """Reset to ``task``, run ``actions`` (ending with DONE); the reward and the checker's reason."""
    _, info = env.reset(options={"task": task})
    assert "env_error" not in info, info
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        assert info["action_error"] is None and "env_error" not in info, info
        if terminated or truncated:
            return reward, info["reason"]
    raise AssertionError(f"{task.id}: the actions did not end the episode")


@pytest.mark.desktop
@pytest.mark.parametrize("task_id", CASES)
def test_solution_scores_one(env: DesktopEnv, task_id: str) -> None:
    task = widget_task(task_id)
    reward, reason = play(env, task, task.solution)
    assert reward == 1.0, f"{task_id}: {reason}"


@pytest.mark.desktop
@pytest.mark.parametrize("task_id", CASES)
def test_doing_nothing_scores_zero(env: DesktopEnv, task_id: str) -> None:
    reward, reason = play(env, widget_task(task_id), ["DONE"])
    assert reward == 0.0 and STATE_KEY.search(reason), f"{task_id}: {reason}"


@pytest.mark.desktop
@pytest.mark.parametrize("task_id", CASES)
def test_near_miss_scores_zero(env: DesktopEnv, task_id: str) -> None:
    task = widget_task(task_id)
    reward, reason = play(env, task, near_miss(task))
    assert reward == 0.0 and STATE_KEY.search(reason), f"{task_id}: {reason}"


@pytest.mark.desktop
def test_a_dropdown_row_clicked_before_the_app_redrew_is_chosen() -> None:
    """Steps that do not wait for the screen (``settle_max=0``): the click on a row reaches the app before it
    drew the list the previous click opened (the race a loaded machine hits with any settle wait)."""
    env = DesktopEnv(max_steps=10, settle_max=0.0)
    try:
        for seed in range(4):
            task = widget_task(f"widget-select-option/{seed}")
            reward, reason = play(env, task, task.solution)
            assert reward == 1.0, f"seed {seed}: {reason}"
    finally:
        env.close()


def app_pids(env: DesktopEnv) -> set[str]:
    """The widget app's processes of this session (its command line names this session's state file)."""
    state_file = str(env.provider.home / STATE_PATH.removeprefix("~/"))
    return set(env.client.execute(["pgrep", "-f", state_file])["output"].split())


@pytest.mark.desktop
def test_state_file_follows_the_widgets_and_reset_restarts_the_app(env: DesktopEnv) -> None:
    task = widget_task("widget-login/0")
    env.reset(options={"task": task})
    assert [w["title"] for w in env.client.windows()].count("Widget task") == 1
    first = app_pids(env)
    for action in task.solution[:2]:
        env.step(action)
    state = json.loads(env.client.execute(["cat", STATE_PATH])["output"])
    assert state["field:Username"] == task.params["username"] and state["clicks"] == []
    env.reset(options={"task": task})
    assert [w["title"] for w in env.client.windows()].count("Widget task") == 1
    second = app_pids(env)
    assert len(first) == len(second) == 1 and first != second
    assert json.loads(env.client.execute(["cat", STATE_PATH])["output"])["field:Username"] == ""


@pytest.mark.desktop
def test_app_refuses_a_screen_smaller_than_its_layout(env: DesktopEnv) -> None:
    env.reset(options={"task": widget_task("widget-click-button/0")})
    command = list(widget_task("widget-click-button/0").config[0]["parameters"]["command"])
    spec = json.loads(command[-2])
    command[-2] = json.dumps({**spec, "min_screen": [4000, 3000]})
    result = env.client.execute(command)
    assert result["returncode"] == 1 and "at least 4000x3000" in result["error"], result


@pytest.mark.desktop
def test_gymnasium_make_runs_a_widget_task() -> None:
    task = widget_task("widget-type-text/2")
    env = gym.make("step_envs/Desktop-v0", task=task)
    try:
        obs, info = env.reset()
        assert obs["instruction"] == task.instruction and info["task_id"] == "widget-type-text/2"
        for action in task.solution:
            _, reward, terminated, _, info = env.step(action)
        assert terminated and reward == 1.0, info["reason"]
    finally:
        env.close()
