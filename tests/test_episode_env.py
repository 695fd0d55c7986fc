"""The episode core (`EpisodeEnv`) on a fake machine, no X and no device: the step budget and Gymnasium's
``max_episode_steps`` truncate with the checker run, the agent's last word terminates, a failing machine is an
``env_error`` (from a reset, a step or the scoring) and the next reset knows it, template names draw their instance
from the reset's seed, and no two calls hand out the same arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec
from gymnasium.utils.env_checker import check_env
from gymnasium.wrappers import TimeLimit

from step_envs.checkers import Score
from step_envs.core import ProviderError, ResetError
from step_envs.episode_env import EPISODE_OVER, EpisodeEnv
from step_envs.spaces import TextSpace


class MachineError(ProviderError):
    """The fake machine broke."""


@dataclass
class CountTask:
    """Count to ``target`` with ``+``, then say DONE."""

    id: str
    target: int


@dataclass
class Machine:
    """What the env drives: a counter, and switches that make it fail."""

    count: int = 0
    begins: list[bool] = field(default_factory=list)  # after_env_error of each begin
    fail_begin: bool = False
    fail_act: bool = False
    fail_score: bool = False


class CounterEnv(EpisodeEnv):
    """Press ``+`` until the counter reaches the task's target, then say ``DONE`` (or ``FAIL``)."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, task: Any = None, max_steps: int = 3, render_mode: str | None = None,
                 raises_reset_errors: bool = True) -> None:
        super().__init__(task, max_steps, render_mode)
        self.machine, self.raises_reset_errors, self.endings = Machine(), raises_reset_errors, []
        self.observation_space = spaces.Dict({"screenshot": spaces.Box(0, 255, (4, 4, 3), np.uint8),
                                              "instruction": TextSpace(64)})
        self.action_space = TextSpace(8)

    def _is_template(self, spec: Any) -> bool:
        return spec == "count"

    def _load_task(self, spec: Any, seed: int | None = None) -> CountTask:
        if isinstance(spec, CountTask):
            return spec
        name, _, number = str(spec if seed is None else f"{spec}/{seed}").partition("/")
        if name != "count" or not number.isdigit():
            raise ValueError(f"unknown task {spec!r}")
        return CountTask(f"count/{number}", int(number) % 3 + 1)

    def _screen(self) -> dict[str, Any]:
        return {"screenshot": np.full((4, 4, 3), self.machine.count, np.uint8),
                "instruction": f"count to {self.task.target}"}

    def _begin(self, info: dict[str, Any], *, seed: int | None, after_env_error: bool) -> dict[str, Any]:
        self.machine.begins.append(after_env_error)
        if self.machine.fail_begin:
            raise MachineError("the machine did not start")
        self.machine.count = 0
        info["timings"]["setup"] = 0.0
        return self._screen()

    def _act(self, action: Any, info: dict[str, Any]) -> str | None:
        if self.machine.fail_act:
            raise MachineError("the machine stopped answering")
        if action in ("DONE", "FAIL"):
            return action
        if action == "+":
            self.machine.count += 1
        else:
            info["action_error"] = f"the counter takes '+', DONE or FAIL, got {action!r}"
        self._obs = self._screen()
        return None

    def _score(self, ending: str | None) -> Score:
        self.endings.append(ending)
        if self.machine.fail_score:
            raise MachineError("the checker cannot read the machine")
        done = ending == "DONE" and self.machine.count == self.task.target
        return Score(float(done), f"counted {self.machine.count} of {self.task.target}, said {ending}")

    def _blank_obs(self) -> dict[str, Any]:
        return {"screenshot": np.zeros((4, 4, 3), np.uint8), "instruction": ""}


def test_the_last_word_terminates_and_only_the_last_step_is_scored() -> None:
    env = CounterEnv("count/1")  # target 2
    obs, info = env.reset(seed=0)
    assert info["task_id"] == "count/1" and set(info) == {"task_id", "timings"} and obs["screenshot"].max() == 0
    for expected_count in (1, 2):
        obs, reward, terminated, truncated, info = env.step("+")
        assert (reward, terminated, truncated) == (0.0, False, False) and "score" not in info
        assert info["step"] == expected_count and info["action_error"] is None and info["task_id"] == "count/1"
    _, reward, terminated, truncated, info = env.step("DONE")
    assert (reward, terminated, truncated) == (1.0, True, False) and env.endings == ["DONE"]
    assert info["score"] == 1.0 and info["reason"] == "counted 2 of 2, said DONE" and "evaluate" in info["timings"]
    _, reward, terminated, truncated, info = env.step("+")  # after the end: nothing runs
    assert (reward, terminated, truncated) == (0.0, False, True) and info["action_error"] == EPISODE_OVER
    assert env.machine.count == 2 and "step" not in info and "env_error" not in info


def test_the_budget_truncates_on_its_last_step_with_the_checker_run_and_bad_actions_count() -> None:
    env = CounterEnv("count/0", max_steps=3)  # target 1
    env.reset(seed=0)
    assert env.step_limit == 3 and env.episode_step_cap is None
    _, _, _, truncated, info = env.step("jump")
    assert not truncated and "got 'jump'" in info["action_error"] and info["step"] == 1
    env.step("+")
    _, reward, terminated, truncated, info = env.step("+")
    assert (terminated, truncated, reward) == (False, True, 0.0) and env.endings == [None]
    assert info["reason"] == "counted 2 of 1, said None"


@pytest.mark.parametrize("through_make", [False, True])
def test_gymnasium_max_episode_steps_truncates_on_the_same_step_with_the_checker_run(through_make: bool) -> None:
    if through_make:
        spec = EnvSpec("step_envs_test/Counter-v0", entry_point=CounterEnv, kwargs={"task": "count/2"})
        env = gym.make(spec, max_episode_steps=2, max_steps=5, disable_env_checker=True)
    else:
        env = TimeLimit(CounterEnv("count/2", max_steps=5), max_episode_steps=2)
    env.reset(seed=0)
    assert env.unwrapped.episode_step_cap == 2 and env.unwrapped.step_limit == 2
    env.step("+")
    _, reward, terminated, truncated, info = env.step("+")
    assert truncated and not terminated and info["reason"] == "counted 2 of 3, said None"  # scored, not cut
    bare = CounterEnv("count/2", max_steps=5)
    bare.reset(seed=0)
    assert bare.episode_step_cap is None and bare.step_limit == 5
    looser = TimeLimit(CounterEnv("count/2", max_steps=2), max_episode_steps=9)  # the smaller limit wins
    looser.reset(seed=0)
    assert looser.unwrapped.step_limit == 2


def test_a_machine_failing_in_a_step_or_the_scoring_is_an_env_error_and_the_next_reset_knows() -> None:
    env = CounterEnv("count/0")
    env.reset(seed=0)
    env.step("+")
    env.machine.fail_act = True
    obs, reward, terminated, truncated, info = env.step("+")
    assert (reward, terminated, truncated) == (0.0, False, True)
    assert info["env_error"] == "step 2 failed: the machine stopped answering" and "score" not in info
    assert obs["screenshot"].max() == 1  # the last observation stands
    _, _, _, truncated, info = env.step("+")
    assert truncated and info["action_error"] == EPISODE_OVER and info["env_error"].startswith("step 2 failed")
    env.machine.fail_act = False
    _, info = env.reset(seed=0)
    assert "env_error" not in info and env.machine.begins == [False, True]
    env.machine.fail_score = True
    _, reward, terminated, truncated, info = env.step("DONE")
    assert (reward, terminated, truncated) == (0.0, False, True)
    assert info["env_error"] == "evaluation failed: the checker cannot read the machine" and "score" not in info


def test_a_failed_reset_raises_reset_error_with_what_reset_would_return_and_the_env_stays_usable() -> None:
    env = CounterEnv("count/0")
    env.machine.fail_begin = True
    with pytest.raises(ResetError, match=r"reset failed: the machine did not start \(the env is usable") as failed:
        env.reset(seed=0)
    assert failed.value.info["env_error"] == "reset failed: the machine did not start"
    assert failed.value.info["task_id"] == "count/0" and failed.value.observation["screenshot"].shape == (4, 4, 3)
    _, _, _, truncated, info = env.step("+")
    assert truncated and info["action_error"] == EPISODE_OVER and info["env_error"].startswith("reset failed")
    env.machine.fail_begin = False
    _, info = env.reset(seed=0)
    assert "env_error" not in info and env.machine.begins == [False, True]
    quiet = CounterEnv("count/0", raises_reset_errors=False)
    quiet.machine.fail_begin = True
    obs, info = quiet.reset(seed=0)
    assert info["env_error"] == "reset failed: the machine did not start" and quiet.observation_space.contains(obs)


def test_templates_draw_their_instance_from_the_seed_and_the_option_task_is_kept() -> None:
    env = CounterEnv("count")
    assert env.task is None  # a template waits for the reset's seed
    first = env.reset(seed=11)[1]["task_id"]
    assert first.startswith("count/") and env.reset(seed=11)[1]["task_id"] == first
    assert len({env.reset(seed=seed)[1]["task_id"] for seed in range(8)}) > 1
    assert env.reset(options={"task": "count/7"})[1]["task_id"] == "count/7"
    assert env.reset(seed=3)[1]["task_id"] == "count/7"  # kept, and a fixed task runs as given
    assert CounterEnv("count/4").task == CountTask("count/4", 2)  # loaded at once
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        CounterEnv("nope")  # an unknown task fails when it is given, not at the next reset
    with pytest.raises(ValueError, match="no task: pass task="):
        CounterEnv().reset()


def test_every_call_hands_out_its_own_arrays_and_the_checker_of_gymnasium_passes() -> None:
    env = CounterEnv("count/2", max_steps=5, render_mode="rgb_array")
    observations = [env.reset(seed=0)[0], env.step("+")[0], env.step("DONE")[0], env.step("+")[0]]
    for i, a in enumerate(observations):
        for b in observations[i + 1:]:
            assert not np.shares_memory(a["screenshot"], b["screenshot"])
    frame = env.render()
    assert frame is not None and not np.shares_memory(frame, env.render())
    check_env(CounterEnv("count", max_steps=5), skip_render_check=True)
