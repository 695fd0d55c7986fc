"""AndroidEnv end to end on android-env's FakeSimulator (real android-env: coordinator, task manager, touch
path), with adb answered from recorded responses where a task needs device state."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import step_envs  # noqa: F401 - registers the ids
from step_envs.android.env import AndroidEnv
from step_envs.providers.adb import AdbError, ReplayAdbRunner

SIZE = (108, 240)
WIFI_ON = "shell settings get global wifi_on"
DUMP = ("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?><hierarchy rotation=\"0\">"
        '<node text="Wi-Fi" class="android.widget.Switch" clickable="true" checkable="true" bounds="[0,20][108,60]"/>'
        "</hierarchy>")


def fake_env(**kwargs: object) -> AndroidEnv:
    return gym.make("step_envs/Android-v0", simulator="fake", screen_size=SIZE, disable_env_checker=True,
                    **kwargs).unwrapped


def device_with_wifi(*values: str) -> ReplayAdbRunner:
    adb = ReplayAdbRunner()
    adb.record(WIFI_ON, *values)
    adb.record("exec-out cat /sdcard/window_dump.xml", DUMP)
    return adb


def test_passes_gymnasium_env_checker_on_the_fake_simulator() -> None:
    env = gym.make("step_envs/Android-v0", task="system-wifi", simulator="fake", screen_size=SIZE, max_steps=5,
                   disable_env_checker=True)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_episode_succeeds_only_after_the_agent_declares_completion() -> None:
    adb = device_with_wifi("1\n")
    env = fake_env(task="system-wifi/1", adb=adb)
    try:
        obs, info = env.reset(seed=0)
        assert info["task_id"] == "system-wifi/1" and info["params"] == {"state": "on"}
        assert env.observation_space.contains(obs)
        assert obs["instruction"] == "Turn Wi-Fi on." and obs["screenshot"].shape == (240, 108, 3)
        assert obs["ui_tree"] == '[0] Switch "Wi-Fi" center=(54,40) checkable clickable'
        assert "shell svc wifi disable" in adb.commands  # initialize put Wi-Fi in the opposite state
        obs, reward, terminated, truncated, info = env.step({"action_type": "click", "index": 0})
        assert (reward, terminated, truncated, info["action_error"]) == (0.0, False, False, None)
        assert info["adb_commands"] == ["shell input tap 54 40"]
        _, reward, terminated, truncated, info = env.step('{"action_type": "status", "goal_status": "complete"}')
        assert (reward, terminated, truncated) == (1.0, True, False) and info["reason"] == "Wi-Fi is on"
    finally:
        env.close()


def test_truncation_and_infeasible_score_zero_even_in_the_success_state() -> None:
    env = fake_env(task="system-wifi/1", adb=device_with_wifi("1\n"), max_steps=2, wait_seconds=0.0)
    try:
        env.reset()
        env.step({"action_type": "wait"})
        _, reward, terminated, truncated, info = env.step({"action_type": "navigate_home"})
        assert (reward, terminated, truncated) == (0.0, False, True) and "did not declare" in info["reason"]
        env.reset()
        _, reward, terminated, _, info = env.step({"action_type": "status", "goal_status": "infeasible"})
        assert (reward, terminated) == (0.0, True) and "infeasible" in info["reason"]
        _, reward, _, truncated, info = env.step({"action_type": "wait"})
        assert truncated and "call reset()" in info["action_error"]
    finally:
        env.close()


def test_answers_are_scored_when_the_agent_completes() -> None:
    adb = ReplayAdbRunner().record("shell getprop ro.build.version.release", "14\n")
    env = fake_env(task="system-android-version", adb=adb, wait_seconds=0.0)
    try:
        env.reset(seed=1)
        _, _, terminated, _, info = env.step({"action_type": "answer", "text": "14"})
        assert not terminated and info["answer"] == "14"
        _, reward, terminated, _, info = env.step({"action_type": "status", "goal_status": "complete"})
        assert (reward, terminated) == (1.0, True), info["reason"]
    finally:
        env.close()


def test_bad_actions_are_reported_in_info_and_count_as_steps() -> None:
    env = fake_env(task="system-wifi/1", adb=device_with_wifi("0\n"))
    try:
        env.reset()
        for number, action in enumerate(['{"action_type": "fly"}', {"action_type": "click", "index": 9}, 7,
                                         {"action_type": "click", "x": 500, "y": 5}], start=1):
            obs, reward, terminated, truncated, info = env.step(action)
            assert info["action_error"] and info["step"] == number and not (terminated or truncated)
            assert env.observation_space.contains(obs)
    finally:
        env.close()


def test_a_failing_device_is_an_env_error_not_a_task_failure() -> None:
    adb = ReplayAdbRunner(responses={"shell am force-stop com.android.settings": None})
    env = fake_env(task="system-wifi/1", adb=adb)
    try:
        obs, info = env.reset()
        assert "reset failed" in info["env_error"] and env.observation_space.contains(obs)
        _, reward, _, truncated, info = env.step({"action_type": "wait"})
        assert truncated and reward == 0.0 and info["env_error"]
        adb.responses.clear()
        adb.record(WIFI_ON, None)  # the check itself cannot read the device
        env.reset()
        _, reward, terminated, truncated, info = env.step({"action_type": "status", "goal_status": "complete"})
        assert "env_error" in info and reward == 0.0 and truncated and not terminated
    finally:
        env.close()


def test_touch_mode_sends_gestures_through_android_env_not_adb() -> None:
    adb = device_with_wifi("1\n")
    env = fake_env(task="system-wifi/1", adb=adb, input_mode="touch")
    try:
        env.reset()
        for action in ({"action_type": "click", "x": 50, "y": 100}, {"action_type": "swipe", "direction": "up"},
                       {"action_type": "long_press", "x": 1, "y": 1}):
            _, _, _, _, info = env.step(action)
            assert info["action_error"] is None and info["adb_commands"] == []
        assert env._touch_events(env_gesture(env, {"action_type": "double_tap", "x": 54, "y": 120})) == [
            (0.5, 0.5, True), (0.5, 0.5, False)] * 2
        _, _, _, _, info = env.step({"action_type": "navigate_back"})
        assert info["adb_commands"] == ["shell input keyevent KEYCODE_BACK"]
    finally:
        env.close()


def env_gesture(env: AndroidEnv, action: dict):
    from step_envs.android.actions import parse_action, plan

    return plan(parse_action(action), [], (env.width, env.height))[0]


def test_template_names_draw_params_from_the_reset_seed_and_options_switch_tasks() -> None:
    env = fake_env(task="files-create-folder", adb=ReplayAdbRunner())
    try:
        first = env.reset(seed=11)[1]["task_id"]
        assert first == env.reset(seed=11)[1]["task_id"] and first.startswith("files-create-folder/")
        _, info = env.reset(options={"task": "system-dark-theme/2"})
        assert info["task_id"] == "system-dark-theme/2" and env.task.goal.startswith("Turn dark theme")
    finally:
        env.close()


def test_missing_sdk_and_bad_settings_say_what_to_do(tmp_path) -> None:
    env = AndroidEnv(task="system-wifi/1", simulator="emulator", emulator={"avd_name": "pixel",
                                                                          "sdk_root": str(tmp_path)})
    try:
        _, info = env.reset()
        assert "not found" in info["env_error"] and "sdk_root" in info["env_error"]
    finally:
        env.close()
    with pytest.raises(ValueError, match="unknown emulator setting"):
        AndroidEnv(simulator="emulator", emulator={"avd": "x"})
    with pytest.raises(ValueError, match="simulator must be one of"):
        AndroidEnv(simulator="genymotion")


def test_default_adb_goes_through_android_env() -> None:
    env = fake_env(task="system-wifi/1")
    try:
        _, info = env.reset()
        assert "env_error" not in info and "ui_tree_error" in info  # the fake device prints "fake output"
        assert env.adb.run(["shell", "echo", "hi"]) == b"fake output"
        with pytest.raises(AdbError):
            type(env.adb)(None).run(["shell", "true"])
        assert env.render() is None  # render_mode None
    finally:
        env.close()


def test_importing_step_envs_does_not_import_android_env() -> None:
    code = "import sys, step_envs; assert 'android_env' not in sys.modules and 'step_envs.android' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
