"""Kinds of environment: a new kind is one package plus one registration, and the pool, the benchmark runner and
the command line run it unchanged. Here a toy kind (a counter with no X, no device) runs through `EnvPool` and
`step-envs bench`."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from step_envs.checkers import Score
from step_envs.cli.main import main
from step_envs.core import EnvKind, ProviderError
from step_envs.episode_env import EpisodeEnv
from step_envs.kinds import kind_of_provider, kind_of_suite, kinds, register, task_for, unregister
from step_envs.pool import EnvPool
from step_envs.tasks import Task, TaskError

SCREEN = (64, 48)


class ToyProvider:
    """Where a toy env lives: nothing to start."""

    def __init__(self, width: int, height: int, **kwargs: Any) -> None:
        self.up, self.kwargs = False, kwargs

    def start(self) -> None:
        self.up = True

    def alive(self) -> bool:
        return self.up

    def stop(self) -> None:
        self.up = False


class ToyEnv(EpisodeEnv):
    """Press ``+`` until the counter reaches the task's target, then say DONE. The episode's bookkeeping (steps,
    budget, termination, ``env_error``, template draws) is :class:`~step_envs.episode_env.EpisodeEnv`'s: a kind
    supplies only what its machine does."""

    def __init__(self, provider: ToyProvider, max_steps: int = 10, task: Any = None) -> None:
        self.provider, self.count = provider, 0
        super().__init__(task, max_steps, None)

    def _is_template(self, spec: Any) -> bool:
        return spec == "count"

    def _load_task(self, spec: Any, seed: int | None = None) -> Task:
        return toy_task(spec if seed is None else f"{spec}/{seed}")

    def _screen(self) -> dict[str, Any]:
        screen = np.full((SCREEN[1], SCREEN[0], 3), self.count * 20, np.uint8)
        return {"screenshot": screen, "instruction": self.task.instruction if self.task else ""}

    def _begin(self, info: dict[str, Any], *, seed: int | None, after_env_error: bool) -> dict[str, Any]:
        if not self.provider.alive():
            raise ProviderError("the toy provider is down")
        self.count = 0
        return self._screen()

    def _act(self, action: Any, info: dict[str, Any]) -> str | None:
        if action == "+":
            self.count += 1
        elif action != "DONE":
            info["action_error"] = f"the toy takes '+' or DONE, got {action!r}"
        self._obs = self._screen()
        return "DONE" if action == "DONE" else None

    def _score(self, ending: str | None) -> Score:
        target = self.task.params["target"]
        return Score(float(ending == "DONE" and self.count == target), f"counted {self.count} of {target}")

    def _blank_obs(self) -> dict[str, Any]:
        self.count = 0
        return self._screen()


def toy_task(spec: Any) -> Task:
    if isinstance(spec, Task):
        return spec
    name, _, seed = str(spec).partition("/")
    if name != "count" or not seed.isdigit():
        raise TaskError(f"unknown toy task {spec!r}; toy tasks are count/<target>")
    target = int(seed) % 4 + 1
    return Task(id=f"count/{seed}", instruction=f"count to {target}", domain="toy", template="count",
                seed=int(seed), params={"target": target}, solution=["+"] * target + ["DONE"])


TOY = EnvKind(name="toy", providers=("toy",), make_provider=lambda name, w, h, **kw: ToyProvider(w, h, **kw),
              make_env=lambda provider, name, env_kwargs: ToyEnv(provider, **env_kwargs), load_task=toy_task,
              suites={"toy-all": lambda: [toy_task(f"count/{i}") for i in range(6)]}, default_screen=SCREEN,
              action_space="toy")


@pytest.fixture
def toy():
    register(TOY)  # the one registration line a new kind needs
    yield TOY
    unregister("toy")


def test_the_built_in_kinds_are_desktop_and_android_and_know_their_providers_and_suites() -> None:
    assert list(kinds())[:2] == ["desktop", "android"]
    assert kind_of_provider("docker").name == "desktop" and kind_of_provider("fake-emulator").name == "android"
    assert kind_of_suite("widgets").name == "desktop" and kind_of_suite("android-core").name == "android"
    assert kind_of_suite("some/folder") is None
    assert kind_of_provider("emulator").actions({"action_space": "computer_13"}) == "android"
    assert kind_of_provider("local").actions({"action_space": "computer_13"}) == "computer_13"
    assert kind_of_provider("local").screen({}) == (1280, 720)
    with pytest.raises(ValueError, match=r"unknown provider 'nope'; known: local \(desktop\), .*fake-emulator"):
        kind_of_provider("nope")
    android_task = task_for(kind_of_provider("emulator"), "system-wifi/1")
    with pytest.raises(TaskError, match="is an android task; run it on a pool of provider 'emulator' or"):
        task_for(kind_of_provider("local"), android_task)


def test_a_kind_may_not_take_another_kind_s_provider(toy) -> None:
    with pytest.raises(ValueError, match="provider\\(s\\) local already run kind 'desktop'"):
        register(EnvKind(name="thief", providers=("local",), make_provider=print, make_env=print,
                         load_task=print))


def test_a_registered_kind_runs_through_the_pool_unchanged(toy) -> None:
    with EnvPool(2, "toy") as pool:
        assert pool.kind is TOY and (pool.width, pool.height) == SCREEN and pool.action_space == "toy"
        from step_envs.agents import make_agent

        episodes = pool.run_episodes(make_agent("solution"), ["count/1", "count/2", ("count/3", 7)])
        assert [(e.task_id, e.score, len(e.steps)) for e in episodes] == [
            ("count/1", 1.0, 3), ("count/2", 1.0, 4), ("count/3", 1.0, 5)]
        with pytest.raises(TaskError, match="unknown toy task 'os-create-folder'"):
            pool.load_task("os-create-folder")


def test_a_registered_kind_runs_through_step_envs_bench_unchanged(toy, tmp_path, capsys) -> None:
    out = tmp_path / "toy"
    assert main(["bench", "--suite", "toy-all", "--provider", "toy", "--agent", "solution", "--envs", "2",
                 "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["solved"] == 6 and summary["meta"]["action_space"] == "toy"
    assert main(["bench", "--suite", "toy-all", "--provider", "toy", "--agent", "noop", "--out",
                 str(tmp_path / "noop")]) == 0
    assert json.loads((tmp_path / "noop" / "summary.json").read_text())["overall"]["success_rate"] == 0.0
    assert main(["bench", "--suite", "toy-all", "--provider", "toy", "--action-space", "computer_13",
                 "--out", str(tmp_path / "x")]) == 2
    assert "the 'toy' provider runs toy envs, which take toy actions" in capsys.readouterr().out
