"""Gymnasium's contract at its edges: spaces that print like spaces, ids marked nondeterministic, a vector env
that honours `max_episode_steps` (the truncating step runs the checker) and refuses options it does not know."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import step_envs
from step_envs.desktop.env import DesktopEnv
from step_envs.pool import DesktopVectorEnv
from step_envs.spaces import CHARSET, TextSpace
from step_envs.tasks.probes import WRITE_FILE


def test_text_spaces_print_their_range_not_their_charset() -> None:
    env = DesktopEnv(task=WRITE_FILE)
    try:
        shown = f"{env.action_space} {env.observation_space}"
    finally:
        env.close()
    assert len(shown) < 400, shown
    assert "charset=printable ASCII + U+00A0-U+2FFF)" in shown
    space = TextSpace(16)
    assert space.contains("naïve Ωμέγα") and not space.contains("東京") and len(CHARSET) > 10_000


def test_desktop_ids_are_marked_nondeterministic() -> None:
    for env_id in ("step_envs/Desktop-v0", "step_envs/os-create-folder-v0", "step_envs/Android-v0"):
        assert gym.spec(env_id).nondeterministic, env_id
    assert all(gym.spec(env_id).nondeterministic for env_id in step_envs.registered_ids())


def test_the_vector_env_refuses_unknown_pool_options_and_bad_limits() -> None:
    with pytest.raises(ValueError, match=r"unknown pool_kwargs \['hard_timout'\]; known: max_retries, hard_timeout"):
        DesktopVectorEnv(1, task=WRITE_FILE, pool_kwargs={"hard_timout": 5})
    with pytest.raises(ValueError, match="max_episode_steps must be >= 1"):
        DesktopVectorEnv(1, task=WRITE_FILE, max_episode_steps=0)


@pytest.mark.desktop
def test_make_vec_max_episode_steps_truncates_and_runs_the_checker() -> None:
    envs = gym.make_vec("step_envs/Desktop-v0", num_envs=1, vectorization_mode="vector_entry_point", task=WRITE_FILE,
                        max_episode_steps=2)
    try:
        assert envs.unwrapped.pool.env_kwargs["max_steps"] == 2
        envs.reset(seed=0)
        _, _, terminated, truncated, _ = envs.step(["WAIT"])
        assert not terminated[0] and not truncated[0]
        _, rewards, terminated, truncated, infos = envs.step(["WAIT"])
        assert truncated[0] and not terminated[0] and rewards[0] == 0.0
        assert infos["reason"][0], infos  # the checker ran and said why the task is not done
    finally:
        envs.close()


@pytest.mark.desktop
def test_make_max_episode_steps_truncates_and_runs_the_checker() -> None:
    env = gym.make("step_envs/Desktop-v0", task=WRITE_FILE, max_episode_steps=2)
    try:
        env.reset(seed=0)
        assert env.unwrapped.episode_step_cap == 2
        _, _, terminated, truncated, _ = env.step("WAIT")
        assert not terminated and not truncated
        _, reward, terminated, truncated, info = env.step("WAIT")
        assert truncated and not terminated and reward == 0.0
        assert info["reason"], info  # the checker ran and said why the task is not done
    finally:
        env.close()


def test_make_android_max_episode_steps_truncates_with_the_checker_run() -> None:
    env = gym.make("step_envs/Android-v0", task="system-wifi/1", simulator="fake", screen_size=(108, 240),
                   max_steps=5, max_episode_steps=1, disable_env_checker=True)
    try:
        env.reset(seed=0)
        assert env.unwrapped.episode_step_cap == 1
        _, _, terminated, truncated, info = env.step({"action_type": "wait"})
        assert truncated and not terminated
        assert "reason" in info and info["reason"], info  # scored, not cut short by TimeLimit alone
    finally:
        env.close()
    bare = gym.make("step_envs/Android-v0", task="system-wifi/1", simulator="fake", screen_size=(108, 240),
                    max_episode_steps=-1, disable_env_checker=True)
    try:
        bare.reset(seed=0)
        assert bare.unwrapped.episode_step_cap is None
    finally:
        bare.close()


def test_the_computer13_space_holds_the_documented_actions() -> None:
    env = DesktopEnv(task=WRITE_FILE, action_space="computer_13")
    try:
        space = env.action_space
    finally:
        env.close()
    assert repr(space) == "Computer13(1280x720)"
    for action in ({"action_type": "CLICK", "x": 640, "y": 360}, {"action_type": "TYPING", "text": "hello"},
                   {"action_type": "HOTKEY", "keys": ["ctrl", "s"]}, '{"action_type": "PRESS", "key": "enter"}',
                   "DONE", "WAIT"):
        assert space.contains(action), action
    for action in ({"action_type": "CLICK", "x": 5000, "y": 1}, {"action_type": "JUMP"}, {"x": 1}, "click", 3):
        assert not space.contains(action), action
    space.seed(0)
    assert all(space.contains(space.sample()) for _ in range(200))
    batched = gym.vector.utils.batch_space(space, 3)
    assert len(batched) == 3 and batched.contains(({"action_type": "DONE"}, "WAIT", "FAIL"))


def test_timings_are_seconds_everywhere_and_equal_when_they_measured_the_same_phases() -> None:
    from step_envs.core import Timings

    timings, other = Timings(), Timings()
    timings["action"], timings["observe"] = 0.0123, 0.5
    other["action"], other["observe"] = 9.0, 1.0
    assert dict(timings) == {"action": 0.0123, "observe": 0.5} and timings == other
    assert repr(timings) == "Timings(action=0.0123s, observe=0.5000s)"  # the unit docs/envs.md states


BROKEN = {"id": "broken-setup", "instruction": "never starts", "domain": "os",
          "config": [{"type": "launch", "parameters": {"command": ["step-gym-no-such-program"]}}],
          "evaluator": {"func": "infeasible"}}


@pytest.mark.desktop
def test_a_reset_that_fails_raises_saying_what_failed_and_a_pool_reports_it_as_env_error() -> None:
    from step_envs.agents import make_agent
    from step_envs.core import ResetError
    from step_envs.pool import EnvPool
    from step_envs.tasks import Task

    broken = Task.from_dict(BROKEN)
    env = DesktopEnv(task=broken)
    try:
        with pytest.raises(ResetError, match=r"(?s)reset failed: setup step 0 \(launch\).*step-gym-no-such-program.*"
                                             r"call reset\(\) again") as failed:
            env.reset(seed=0)
        assert failed.value.info["env_error"].startswith("reset failed") and "screenshot" in failed.value.observation
        _, info = env.reset(seed=0, options={"task": WRITE_FILE})  # the same env, its task fixed: usable again
        assert "env_error" not in info
    finally:
        env.close()
    with pytest.raises(ResetError):
        gym.make("step_envs/Desktop-v0", task=broken).reset(seed=0)
    env = gym.make("step_envs/Desktop-v0", task=WRITE_FILE)  # Gymnasium's passive checker compares what calls return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # its "share an object" warning would fail here
            obs, info = env.reset(seed=0)
            step_obs, *_ = env.step("pyautogui.moveTo(10, 10)")
            moved_obs, *_ = env.step("pyautogui.moveTo(20, 10)")
            end_obs, *_ = env.step("DONE")
            after, _, _, truncated, info = env.step("WAIT")  # after the end: the last observation, as a copy
        assert truncated and info["action_error"] == "the episode is over; call reset()"
        observations = [obs, step_obs, moved_obs, end_obs, after]
        for i, a in enumerate(observations):  # no two calls hand out the same object
            for b in observations[i + 1:]:
                assert a is not b and not np.shares_memory(a["screenshot"], b["screenshot"])
    finally:
        env.close()
    with EnvPool(1, "local") as pool:  # a pool keeps going: the episode is an env_error, never a crash
        [episode] = pool.run_episodes(make_agent("solution"), [broken])
    assert episode.env_error and "step-gym-no-such-program" in episode.env_error and episode.score is None
