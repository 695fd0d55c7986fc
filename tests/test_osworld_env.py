"""`step_envs.osworld.DesktopEnv`, OSWorld's env interface: driven by an OSWorld-style runner loop (reset with the
task dict, step with a pause, record, evaluate) on a real local session."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from step_envs.osworld import DesktopEnv
from step_envs.tasks import tasks_root

WRITE_FILE = tasks_root() / "desktop" / "os" / "os-write-file.json"
SCREEN = (1024, 640)


def write_file_task(**extra: Any) -> dict[str, Any]:
    """The built-in task `os-write-file` as OSWorld's runner passes a task: its JSON, loaded."""
    return {**json.loads(WRITE_FILE.read_text()), **extra}


def run_episode(env: DesktopEnv, task: dict[str, Any], actions: list[Any], video: Path) -> tuple[float, list]:
    """OSWorld's `run_single_example`, without its fixed sleeps: reset, record, step until done, evaluate."""
    observations = [env.reset(task_config=task)]
    env.controller.start_recording()
    infos = []
    for action in actions:
        obs, reward, done, info = env.step(action, pause=0)
        assert reward == 0
        observations.append(obs)
        infos.append(info)
        if done:
            break
    score = env.evaluate()
    env.controller.end_recording(str(video))
    return score, list(zip(observations[1:], infos, strict=True))


def test_osworld_vm_providers_unknown_spaces_and_other_systems_are_refused_with_what_is_valid():
    with pytest.raises(ValueError, match="OSWorld's VM providers.*local, docker, ray"):
        DesktopEnv(provider_name="vmware")
    with pytest.raises(ValueError, match="pyautogui, claude_computer_use, computer_13"):
        DesktopEnv(action_space="autoglm_computer_use")
    with pytest.raises(ValueError, match="Ubuntu"):
        DesktopEnv(os_type="Windows")


def test_reset_refuses_a_missing_task_and_lists_why_a_task_cannot_run_before_starting_a_desktop():
    env = DesktopEnv(screen_size=SCREEN)
    with pytest.raises(ValueError, match="needs task_config"):
        env.reset()
    with pytest.raises(ValueError, match="cannot run here: account googledrive"):
        env.reset(task_config=write_file_task(config=[{"type": "googledrive", "parameters": {}}]))
    with pytest.raises(RuntimeError, match="call reset"):
        env.controller.get_screenshot()
    assert env.env.provider is None


@pytest.mark.desktop
def test_the_solution_scores_one_and_a_no_op_zero_with_osworld_observations(tmp_path):
    env = DesktopEnv(screen_size=SCREEN, require_a11y_tree=True, require_terminal=True)
    try:
        task = write_file_task(proxy=True)
        score, steps = run_episode(env, task, task["solution"], tmp_path / "solved.mp4")
        assert score == 1.0
        (obs, info), (last_obs, last_info) = steps
        assert set(obs) == {"screenshot", "accessibility_tree", "terminal", "instruction"}
        assert obs["instruction"] == task["instruction"]
        assert Image.open(io.BytesIO(obs["screenshot"])).format == "PNG"
        assert Image.open(io.BytesIO(obs["screenshot"])).size == SCREEN
        assert obs["accessibility_tree"].lstrip().startswith("<")
        assert "Hello, world!" in obs["terminal"]
        assert "direct" in info["proxy"] and last_info["done"] is True
        assert (tmp_path / "solved.mp4").read_bytes()[4:8] == b"ftyp"  # an mp4 container
        assert env.vm_ip == "127.0.0.1" and env.vm_screen_size == {"width": SCREEN[0], "height": SCREEN[1]}

        score, steps = run_episode(env, write_file_task(), ["WAIT", "DONE"], tmp_path / "noop.mp4")
        assert score == 0.0 and steps[-1][1] == {"done": True}
        score, _ = run_episode(env, write_file_task(), [*task["solution"][:-1], "FAIL"], tmp_path / "gave-up.mp4")
        assert score == 0.0  # solved, but the agent said FAIL on a feasible task
    finally:
        env.close()


@pytest.mark.desktop
def test_computer_13_dicts_drive_the_desktop_and_setup_controller_runs_osworld_steps(tmp_path):
    env = DesktopEnv(screen_size=SCREEN, action_space="computer_13", require_a11y_tree=False)
    try:
        typing = {"action_type": "TYPING", "text": "echo 'Hello, world!' > ~/hello.txt\n"}
        score, steps = run_episode(env, write_file_task(), [typing, {"action_type": "DONE"}], tmp_path / "v.mp4")
        assert score == 1.0
        obs, info = steps[0]
        assert obs["accessibility_tree"] is None and obs["terminal"] is None and info == {}
        _, _, done, info = env.step({"action_type": "CLICK", "x": 5000, "y": 1}, pause=0)
        assert not done and "outside the 1024x640 screen" in info["action_error"]
        assert env.setup_controller.setup([{"type": "execute", "parameters": {
            "command": ["touch", "/home/user/from-setup"]}}])  # OSWorld's home, moved to the env's
        assert env.controller.get_file("~/from-setup") == b""
        assert not env.setup_controller.setup([{"type": "close_window", "parameters": {"window_name": "none-such"}}])
    finally:
        env.close()
