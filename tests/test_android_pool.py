"""Android through the pool and the benchmark runner, end to end on android-env's FakeSimulator (the
``fake-emulator`` provider): a pool of AndroidEnvs runs Android task episodes, in lockstep or whole, and
`step-envs bench --suite android-smoke` writes its results and report. Device state comes from recorded adb
answers where a test needs a task to pass."""

from __future__ import annotations

import json
from typing import Any

import pytest

from step_envs.agents import make_agent
from step_envs.android.actions import ACTION_SPACE, parse_action
from step_envs.android.tasks import SMOKE, android_suite, android_tasks, make_task
from step_envs.bench import ResultsDir
from step_envs.pool import EnvPool
from step_envs.pool.agent import Turn
from step_envs.providers.adb import ReplayAdbRunner
from step_envs.tasks import Task, TaskError, builtin_tasks

SIZE = (108, 240)
DUMP = ("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?><hierarchy rotation=\"0\">"
        '<node text="Wi-Fi" class="android.widget.Switch" clickable="true" checkable="true" bounds="[0,20][108,60]"/>'
        "</hierarchy>")
WIFI_ON, WIFI_OFF = ("system-wifi/1", "system-wifi/2", "system-wifi/3", "system-wifi/4", "system-wifi/6"), \
    ("system-wifi/0", "system-wifi/5", "system-wifi/7")


def device_with_wifi_on() -> ReplayAdbRunner:
    """A device whose Wi-Fi reads on and whose screen shows one switch, whatever is done to it."""
    return (ReplayAdbRunner().record("shell settings get global wifi_on", "1\n")
            .record("exec-out cat /sdcard/window_dump.xml", DUMP))


class TapThenComplete:
    """Taps the first element of the UI tree, then declares the task complete; keeps every turn it saw."""

    name = "tap-then-complete"

    def __init__(self) -> None:
        self.turns: list[Turn] = []

    def reset(self, task: Task, key: str) -> None:
        assert task.domain == "android", task

    def act(self, turns: list[Turn]) -> list[str]:
        self.turns += turns
        return [json.dumps({"action_type": "click", "index": 0}) if turn.step == 0 else
                json.dumps({"action_type": "status", "goal_status": "complete"}) for turn in turns]

    def end(self, key: str) -> None:
        pass


def test_a_four_env_android_pool_runs_task_episodes_and_scores_them_from_the_device() -> None:
    adb = device_with_wifi_on()
    agent = TapThenComplete()
    with EnvPool(4, "fake-emulator", env_kwargs={"screen_size": SIZE, "adb": adb}) as pool:
        assert pool.android and (pool.width, pool.height) == SIZE
        episodes = pool.run_episodes(agent, [*WIFI_ON, *WIFI_OFF])
    assert [episode.task_id for episode in episodes] == [*WIFI_ON, *WIFI_OFF]
    assert {episode.info["env_index"] for episode in episodes} == {0, 1, 2, 3}
    assert all(episode.env_error is None and len(episode.steps) == 2 for episode in episodes)
    assert [episode.score for episode in episodes] == [1.0] * len(WIFI_ON) + [0.0] * len(WIFI_OFF)
    assert episodes[0].reason == "Wi-Fi is on" and episodes[-1].reason == "Wi-Fi is still on ('1')"
    assert episodes[0].instruction == "Turn Wi-Fi on." and episodes[-1].instruction == "Turn Wi-Fi off."
    first = agent.turns[0]
    assert (first.action_space, first.screen_size) == (ACTION_SPACE, SIZE)
    assert first.observation["screenshot"].shape == (SIZE[1], SIZE[0], 3)
    assert first.observation["ui_tree"] == '[0] Switch "Wi-Fi" center=(54,40) checkable clickable'
    # each task's setup ran on the device (the switch put opposite to the goal) and the tap went through adb
    assert {"shell svc wifi disable", "shell svc wifi enable", "shell input tap 54 40"} <= set(adb.commands)


def test_an_android_pool_steps_in_lockstep_and_reports_a_bad_action_as_a_step() -> None:
    with EnvPool(2, "fake-emulator", env_kwargs={"screen_size": SIZE, "adb": device_with_wifi_on()}) as pool:
        observations, infos = pool.reset(["system-wifi/1", "system-dark-theme/2"])
        assert [info["task_id"] for info in infos] == ["system-wifi/1", "system-dark-theme/2"]
        assert observations[1]["instruction"] == make_task("system-dark-theme/2").goal
        _, rewards, terminated, truncated, infos = pool.step(
            ['{"action_type": "status", "goal_status": "complete"}', "pyautogui.click(1, 2)"])
    assert list(rewards) == [1.0, 0.0] and list(terminated) == [True, False] and not truncated.any()
    assert "env_error" not in infos[1] and "JSON" in infos[1]["action_error"]


def test_an_android_pool_refuses_a_desktop_task_naming_the_android_ones() -> None:
    with EnvPool(1, "fake-emulator", env_kwargs={"screen_size": SIZE}) as pool:
        with pytest.raises(TaskError, match=r"unknown Android task 'terminal-chmod'; known: calendar-add-event, "):
            pool.send_reset(0, "terminal-chmod/0")
        with pytest.raises(TaskError, match=r"'os-create-folder' is a desktop task \(domain 'os'\); an Android env "
                                            r"runs the Android tasks: calendar-add-event, "):
            pool.send_reset(0, builtin_tasks()["os-create-folder"])
        assert pool.load_task("system-wifi") == make_task("system-wifi/0").as_task()


@pytest.mark.desktop
def test_a_desktop_pool_refuses_an_android_task_naming_the_android_providers() -> None:
    with EnvPool(1, "local", wait=False) as pool:
        with pytest.raises(TaskError, match=r"'system-wifi/1' is an android task; run it on a pool of provider "
                                            r"'emulator' or 'fake-emulator', not on a desktop one"):
            pool.send_reset(0, make_task("system-wifi/1").as_task())


def test_android_tasks_travel_as_tasks_and_come_back_the_same() -> None:
    for task in android_tasks(3):
        carried = task.as_task()
        assert (carried.id, carried.instruction, carried.template, carried.seed, carried.difficulty) == \
            (task.id, task.goal, task.name, 3, task.difficulty)
        assert carried.domain == "android" and carried.related_apps == [task.app] and carried.feasible
        back = make_task(carried)
        assert (type(back), back.id, back.params, back.goal) == (type(task), task.id, task.params, task.goal)
    assert [task.id for task in android_suite("android-smoke")] == list(SMOKE)
    core = android_suite("android-core")
    assert len(core) == 4 * len(android_tasks()) and len({task.id for task in core}) == len(core)
    with pytest.raises(TaskError, match="unknown Android suite 'android-al'; known: android-smoke, android-core"):
        android_suite("android-al")


def test_the_random_agent_speaks_android_json_actions_on_an_android_env() -> None:
    agent = make_agent("random", {"p_done": 0.2})
    task = make_task("system-wifi/1").as_task()
    agent.reset(task, "k")
    replies = [agent.act([Turn(key="k", task=task, observation={}, step=step, action_space=ACTION_SPACE,
                               screen_size=SIZE)])[0] for step in range(200)]
    actions = [parse_action(reply) for reply in replies]  # raises on anything but a valid action
    kinds = {action.action_type for action in actions}
    assert {"status", "click", "scroll", "input_text", "navigate_back"} <= kinds
    assert all(0 <= action.x < SIZE[0] and 0 <= action.y < SIZE[1] for action in actions if action.x is not None)


def test_bench_cli_runs_the_android_smoke_suite_on_the_fake_emulator_and_writes_a_report(tmp_path: Any) -> None:
    from step_envs.cli.main import main

    out = tmp_path / "android"
    argv = ["bench", "--suite", "android-smoke", "--provider", "fake-emulator", "--agent", "random",
            "--agent-arg", "p_done=0.5", "--env-arg", f"screen_size={list(SIZE)}", "--env-arg", "wait_seconds=0",
            "--envs", "4", "--max-steps", "3", "--out", str(out)]
    assert main(argv) == 0
    rows = ResultsDir.open(out).rows
    assert sorted(row["task"] for row in rows) == sorted(SMOKE)
    assert all(row["env_error"] is None and row["score"] in (0.0, 1.0) and row["domain"] == "android"
               for row in rows)
    assert {row["template"] for row in rows} == {spec.split("/")[0] for spec in SMOKE}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["episodes"] == len(SMOKE) and summary["meta"]["action_space"] == ACTION_SPACE
    steps = json.loads((out / rows[0]["dir"] / "steps.json").read_text())
    assert len(steps) == rows[0]["steps"] and (out / rows[0]["dir"] / steps[0]["screenshot"]).is_file()
    assert "system-wifi/0" in (out / "report.html").read_text()
    assert main(argv) == 0  # the same command again resumes: everything is already scored
    assert len(ResultsDir.open(out).rows) == len(SMOKE)
