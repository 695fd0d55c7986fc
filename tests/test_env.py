"""DesktopEnv through gymnasium.make on a real X session: spaces, rewards, bad actions, timings."""

from __future__ import annotations

from collections.abc import Iterator

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import step_envs
from step_envs.desktop.env import DesktopEnv
from step_envs.tasks import Task, TaskError
from step_envs.tasks.probes import WRITE_FILE

pytestmark = pytest.mark.desktop

INFEASIBLE_TASK = Task.from_dict({"id": "probe-infeasible", "instruction": "Install a GPU.",
                                  "evaluator": {"func": "infeasible"}})


@pytest.fixture(scope="module")
def env() -> Iterator[DesktopEnv]:
    env = gym.make("step_envs/Desktop-v0", task=WRITE_FILE, max_steps=4).unwrapped
    yield env
    env.close()


def test_make_declares_real_spaces_and_reset_returns_them(env: DesktopEnv) -> None:
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert obs["screenshot"].shape == (720, 1280, 3) and obs["screenshot"].dtype == np.uint8
    assert obs["instruction"] == WRITE_FILE.instruction
    assert info["task_id"] == "probe-write-file"
    assert {"restore", "setup", "observe"} <= set(info["timings"])


def test_solution_scores_one_and_reward_arrives_only_at_the_end(env: DesktopEnv) -> None:
    env.reset(options={"task": WRITE_FILE})
    _, reward, terminated, truncated, info = env.step(WRITE_FILE.solution[0])
    assert (reward, terminated, truncated, info["action_error"]) == (0.0, False, False, None)
    assert {"action", "settle", "observe"} <= set(info["timings"])
    _, reward, terminated, truncated, info = env.step("DONE")
    assert (reward, terminated, truncated) == (1.0, True, False), info
    assert info["score"] == 1.0


def test_doing_nothing_scores_zero_with_a_reason(env: DesktopEnv) -> None:
    env.reset(options={"task": WRITE_FILE})
    _, reward, terminated, _, info = env.step("DONE")
    assert reward == 0.0 and terminated
    assert info["reason"]


def test_max_steps_truncates_and_scores(env: DesktopEnv) -> None:
    env.reset(options={"task": WRITE_FILE})
    for _ in range(3):
        _, _, terminated, truncated, _ = env.step("pyautogui.moveTo(10, 10)")
        assert not (terminated or truncated)
    _, reward, terminated, truncated, info = env.step(WRITE_FILE.solution[0])
    assert truncated and not terminated and reward == 1.0 and info["score"] == 1.0


def test_reset_gives_a_pristine_home(env: DesktopEnv) -> None:
    env.reset(options={"task": WRITE_FILE})
    env.step("import subprocess\nsubprocess.run('touch ~/leftover', shell=True)")
    env.reset(options={"task": WRITE_FILE})
    assert env.client.get_file("~/leftover") is None


def test_reset_puts_the_pointer_back_so_equal_seeds_give_equal_first_screens() -> None:
    from step_envs.tasks.templates.widgets import widget_task

    task = widget_task("widget-click-button/0")
    env = DesktopEnv(task=task, max_steps=3)
    try:
        first, _ = env.reset(seed=0)
        env.step(task.solution[0])  # the click leaves the pointer on the button, which hover-highlights it
        second, _ = env.reset(seed=0)
        assert np.array_equal(first["screenshot"], second["screenshot"])
    finally:
        env.close()


DESKTOP_FILE = Task.from_dict({
    "id": "probe-desktop-file", "instruction": "Open the note on the desktop.",
    "config": [{"type": "execute", "parameters": {"command": "echo hi > ~/Desktop/note.txt", "shell": True}}],
    "evaluator": {"func": "infeasible"}})
PANEL_ROWS = 30  # the top panel: its clock lays itself out once, up to ~1 s into a session (a first screen apart)


def test_a_reset_observes_the_desktop_redrawn_after_its_files_changed() -> None:
    """The desktop draws ~/Desktop's files as icons and re-reads the folder on its own time: a reset whose restore
    removed a file the episode put there, or whose setup put one there, observes the desktop redrawn (a reset that
    changed nothing there waits only a step's quiet: nothing redraws)."""
    env = DesktopEnv(task=WRITE_FILE, max_steps=3)
    try:
        env.reset()
        plain, _ = env.reset(options={"task": WRITE_FILE})
        with_note, _ = env.reset(options={"task": DESKTOP_FILE})
        assert not np.array_equal(plain["screenshot"], with_note["screenshot"]), "the note's icon is not drawn"
        for i in range(3):
            env.step(f"import subprocess\nsubprocess.run('touch ~/Desktop/left-{i}.txt', shell=True)")
            obs, _ = env.reset(options={"task": WRITE_FILE})
            assert np.array_equal(obs["screenshot"][PANEL_ROWS:], plain["screenshot"][PANEL_ROWS:]), \
                f"reset {i}: the icon of a file the restore removed is still on the first screen"
            obs, _ = env.reset(options={"task": DESKTOP_FILE})
            assert np.array_equal(obs["screenshot"][PANEL_ROWS:], with_note["screenshot"][PANEL_ROWS:]), \
                f"reset {i}: the setup's file is not on the first screen as it was before"
    finally:
        env.close()


@pytest.mark.parametrize("action, fragment", [
    ("pyautogui.click(", "syntax error"),
    ("pyautogui.click(5000, 10)", "outside the 1280x720 screen"),
    ("x" * 1_000_000, "the limit is"),
    (42, "string of Python code"),
    ("", "empty action"),
    ("while True:\n    pass", "timed out"),
    ("import os\nos._exit(0)", "killed the worker"),
])
def test_bad_actions_are_reported_in_info_and_count_as_steps(env: DesktopEnv, action: object, fragment: str) -> None:
    env.action_timeout = 1.0
    try:
        env.reset(options={"task": WRITE_FILE})
        obs, reward, terminated, truncated, info = env.step(action)
    finally:
        env.action_timeout = 10.0
    assert fragment in info["action_error"]
    assert info["step"] == 1 and not terminated and not truncated and reward == 0.0
    assert env.observation_space.contains(obs)
    _, _, _, _, info = env.step("pyautogui.moveTo(5, 5)")
    assert info["action_error"] is None


def test_infeasible_task_scores_one_only_for_fail(env: DesktopEnv) -> None:
    env.reset(options={"task": INFEASIBLE_TASK})
    assert env.step("FAIL")[1] == 1.0
    env.reset(options={"task": INFEASIBLE_TASK})
    assert env.step("DONE")[1] == 0.0
    env.reset(options={"task": WRITE_FILE})
    _, reward, _, _, info = env.step("FAIL")
    assert reward == 0.0 and "FAIL" in info["reason"]


def test_step_after_the_end_reports_an_error_instead_of_raising(env: DesktopEnv) -> None:
    env.reset(options={"task": WRITE_FILE})
    env.step("DONE")
    _, reward, _, truncated, info = env.step("DONE")
    assert reward == 0.0 and truncated and "call reset()" in info["action_error"]


def test_computer_13_action_space() -> None:
    env = DesktopEnv(task=WRITE_FILE, action_space="computer_13", max_steps=5)
    try:
        env.reset()
        _, _, _, _, info = env.step({"action_type": "CLICK", "x": 640, "y": 400, "button": "left"})
        assert info["action_error"] is None
        _, _, _, _, info = env.step({"action_type": "HOTKEY", "keys": ["ctrl", "nosuchkey"]})
        assert "unknown key" in info["action_error"]
        _, _, _, _, info = env.step('{"action_type": "TELEPORT"}')
        assert "unknown action_type" in info["action_error"]
        _, _, _, _, info = env.step({"action_type": "CLICK", "x": -1, "y": 3})
        assert "outside" in info["action_error"]
        _, reward, terminated, _, _ = env.step({"action_type": "DONE"})
        assert terminated and reward == 0.0
    finally:
        env.close()


def test_passes_gymnasium_env_checker() -> None:
    env = gym.make("step_envs/Desktop-v0", task=WRITE_FILE, max_steps=3, action_timeout=2.0,
                   disable_env_checker=True)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_unknown_checker_names_fail_at_load_time_with_the_known_names() -> None:
    bad = dict(WRITE_FILE.raw, evaluator={"func": "no_such_metric", "result": {"type": "vm_file", "path": "x"}})
    with pytest.raises(TaskError, match="no_such_metric.*known: .*exact_match"):
        Task.from_dict(bad)
    bad = dict(WRITE_FILE.raw, config=[{"type": "teleport"}])
    with pytest.raises(TaskError, match="unknown type 'teleport'"):
        Task.from_dict(bad)
    bad = dict(WRITE_FILE.raw, config=[{"type": "download", "parameters": {
        "files": [{"url": "ftp://example.invalid/a.xlsx", "path": "~/a.xlsx"}]}}])
    with pytest.raises(TaskError, match="self-contained"):
        Task.from_dict(bad)


def test_desktop_id_is_registered_and_listed() -> None:
    assert "step_envs/Desktop-v0" in step_envs.registered_ids()


def test_a_dead_desktop_is_an_env_error_and_the_next_reset_replaces_it() -> None:
    env = DesktopEnv(task=WRITE_FILE, max_steps=5)
    try:
        env.reset()
        env.provider._procs["xvfb"].kill()  # the X server dies under the agent
        _, reward, terminated, truncated, info = env.step("pyautogui.moveTo(10, 10)")
        assert info["env_error"] and reward == 0.0 and truncated and not terminated
        obs, info = env.reset()
        assert "env_error" not in info and env.provider.alive()
        assert env.observation_space.contains(obs)
        assert env.step("DONE")[4]["reason"]  # scored normally again
    finally:
        env.close()


def test_execute_until_repeats_the_command_until_it_holds(env: DesktopEnv) -> None:
    task = Task.from_dict(dict(WRITE_FILE.raw, id="probe-until", config=[
        {"type": "execute", "parameters": {"command": "rm -f ~/n; echo x >> ~/n", "shell": True}},
        {"type": "execute", "parameters": {"command": "echo x >> ~/n; wc -l < ~/n", "shell": True,
                                           "until": {"stdout": "3"}}}]))
    _, info = env.reset(options={"task": task})
    assert "env_error" not in info
    assert env.client.get_file("~/n") == b"x\nx\nx\n"
