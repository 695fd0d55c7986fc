"""EnvPool on real desktops: episodes in request order, async per-env stepping, lockstep, the VectorEnv, close."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import gymnasium as gym
import numpy as np
import pytest
from pool_support import SolutionAgent, gone, provider_kwargs, provider_params

from step_envs.agents import AgentAction
from step_envs.episodes import StepRecord
from step_envs.pool import DesktopVectorEnv, EnvPool, observation_hash
from step_envs.tasks.probes import WRITE_FILE

pytestmark = [pytest.mark.desktop, pytest.mark.timeout(240)]


@pytest.fixture(scope="module", params=provider_params())
def pool(request: pytest.FixtureRequest) -> Iterator[EnvPool]:
    with EnvPool(2, request.param, env_kwargs={"max_steps": 4, "action_timeout": 5.0},
                 provider_kwargs=provider_kwargs(request.param)) as pool:
        yield pool


def test_run_episodes_returns_one_scored_episode_per_task_in_request_order(pool: EnvPool) -> None:
    tasks = ["os-create-folder", (WRITE_FILE, 7), WRITE_FILE, ("os-create-folder", 3)]
    seen_steps: list[tuple[str, int, StepRecord]] = []
    finished: list[str] = []
    agent = SolutionAgent()
    episodes = pool.run_episodes(agent, tasks, on_episode=lambda e: finished.append(e.info["key"]),
                                 on_step=lambda key, t, obs, rec: seen_steps.append((key, t, rec)), batch_window=10)
    assert [e.task_id for e in episodes] == ["os-create-folder", WRITE_FILE.id, WRITE_FILE.id, "os-create-folder"]
    assert [e.seed for e in episodes] == [None, 7, None, 3]
    for episode in episodes:
        assert episode.valid and episode.score == 1.0, (episode.reason, episode.env_error)
        assert episode.info["attempts"] == 1 and episode.info["elapsed"] > 0
        assert [s.action for s in episode.steps][-1] == "DONE"
        assert all(s.logprobs == [-0.5] and s.token_ids == [7] for s in episode.steps)
        assert all(len(s.obs_hash or "") == 16 and "env" in s.timings for s in episode.steps)
        assert episode.steps[0].observation_ref == f"{episode.info['key']}/step0"
    assert sorted(finished) == sorted(e.info["key"] for e in episodes)
    assert len(seen_steps) == sum(len(e.steps) for e in episodes)
    assert agent.started == agent.ended == set(finished)
    assert agent.batches[0] == 2  # the batch window waited for both envs: one batch for the policy


def test_step_hash_is_the_hash_of_the_observation_the_action_was_chosen_from(pool: EnvPool) -> None:
    observations: dict[int, np.ndarray] = {}

    def keep(key: str, t: int, observation: dict, record: StepRecord) -> None:
        observations[t] = observation["screenshot"].copy()

    [episode] = pool.run_episodes(SolutionAgent(), [WRITE_FILE], on_step=keep)
    assert [s.obs_hash for s in episode.steps] == [observation_hash({"screenshot": observations[t]})
                                                  for t in range(len(episode.steps))]


def test_a_parse_error_is_the_steps_action_error_and_runs_wait(pool: EnvPool) -> None:
    agent = SolutionAgent()
    agent.inject = {key: [AgentAction("WAIT", raw="click the thing", parse_error="no action found")]
                    for key in [f"{WRITE_FILE.id}|seed=None|req=0|try=1"]}
    [episode] = pool.run_episodes(agent, [WRITE_FILE])
    assert episode.steps[0].action == "WAIT" and episode.steps[0].action_error == "no action found"
    assert episode.score == 1.0 and len(episode.steps) == 3


def test_max_steps_truncates_and_still_scores(pool: EnvPool) -> None:
    agent = SolutionAgent({f"{WRITE_FILE.id}|seed=None|req=0|try=1": ["pyautogui.moveTo(5, 5)"] * 3})
    [episode] = pool.run_episodes(agent, [WRITE_FILE], max_steps=2)
    assert len(episode.steps) == 2 and episode.info["truncated"] and episode.score == 0.0
    assert episode.reason and episode.env_error is None


def test_a_slow_env_does_not_hold_up_the_other(pool: EnvPool) -> None:
    pool.send_reset(0, WRITE_FILE)
    pool.send_reset(1, WRITE_FILE)
    assert sorted(r.env_index for r in pool.drain()) == [0, 1]
    t0 = time.monotonic()
    pool.send(0, "import time\ntime.sleep(2.5)")
    pool.send(1, "pyautogui.moveTo(20, 20)")
    first = pool.recv()
    assert [r.env_index for r in first] == [1] and time.monotonic() - t0 < 2.0
    assert first[0].info["action_error"] is None and first[0].info["elapsed"] < 2.0
    assert pool.in_flight() == [0]
    with pytest.raises(RuntimeError, match="in flight"):
        pool.send(0, "WAIT")
    [second] = pool.recv(timeout=30)
    assert second.env_index == 0 and second.info["elapsed"] >= 2.5
    with pytest.raises(RuntimeError, match="nothing in flight"):
        pool.recv()
    assert pool.in_flight() == []


def test_recv_times_out_with_an_empty_list(pool: EnvPool) -> None:
    pool.send_reset(0, WRITE_FILE)
    pool.drain()
    pool.send(0, "import time\ntime.sleep(1.5)")
    assert pool.recv(timeout=0.2) == []
    assert [r.env_index for r in pool.drain()] == [0]


def test_lockstep_reset_and_step(pool: EnvPool) -> None:
    observations, infos = pool.reset([WRITE_FILE, "os-create-folder"], seeds=5)
    assert len(observations) == 2 and observations[0]["screenshot"].shape == (720, 1280, 3)
    assert [i["reset"] for i in infos] == [True, True]
    _, rewards, terminated, truncated, infos = pool.step([WRITE_FILE.solution[0], "DONE"])
    assert rewards.tolist() == [0.0, 0.0] and terminated.tolist() == [False, True]
    assert not truncated.any() and infos[1]["score"] == 0.0
    with pytest.raises(ValueError, match="one action per env"):
        pool.step(["DONE"])
    _, rewards, terminated, _, _ = pool.step(["DONE", "DONE"])
    assert rewards[0] == 1.0 and terminated[0]


def test_bad_arguments_say_what_is_wrong(pool: EnvPool) -> None:
    with pytest.raises(IndexError, match="out of range"):
        pool.send(5, "WAIT")
    with pytest.raises(ValueError, match=r"\(task, seed\)"):
        pool.run_episodes(SolutionAgent(), [(WRITE_FILE, 1, 2)])
    with pytest.raises(ValueError, match="unknown provider"):
        EnvPool(1, "nowhere")


def test_make_vec_runs_on_the_pool_with_next_step_autoreset() -> None:
    envs = gym.make_vec("step_envs/Desktop-v0", num_envs=2, vectorization_mode="vector_entry_point",
                        task=WRITE_FILE, max_steps=3)
    try:
        assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
        assert envs.observation_space["screenshot"].shape == (2, 720, 1280, 3)
        observations, infos = envs.reset(seed=0)
        assert observations["screenshot"].shape == (2, 720, 1280, 3) and infos["reset"].all()
        _, rewards, terminated, _, _ = envs.step([WRITE_FILE.solution[0], "DONE"])
        assert rewards.tolist() == [0.0, 0.0] and terminated.tolist() == [False, True]
        _, rewards, terminated, _, infos = envs.step(["DONE", "this action is ignored"])
        assert rewards.tolist() == [1.0, 0.0] and terminated.tolist() == [True, False]
        assert infos["_reset"].tolist() == [False, True]  # env 1 autoreset: its action was not run
        _, rewards, terminated, truncated, infos = envs.step(["ignored too", "DONE"])
        assert infos["_reset"].tolist() == [True, False] and terminated.tolist() == [False, True]
        pool = envs.unwrapped.pool
        sessions = [pool.describe(i) for i in range(2)]
    finally:
        envs.close()
    assert all(gone(where) for where in sessions)


def test_same_step_autoreset_returns_the_final_observation_in_info() -> None:
    envs = DesktopVectorEnv(1, tasks=[WRITE_FILE], autoreset_mode="SameStep", max_steps=3)
    try:
        envs.reset()
        _, rewards, terminated, _, infos = envs.step(["DONE"])
        assert terminated[0] and rewards[0] == 0.0
        assert infos["_final_info"][0] and infos["final_info"]["score"][0] == 0.0  # Gymnasium's vector info layout
        assert infos["final_obs"][0]["screenshot"].shape == (720, 1280, 3)
        assert infos["reset"][0]  # the observation returned is already the next episode's first
    finally:
        envs.close()


def test_close_leaves_nothing_running() -> None:
    pool = EnvPool(2, env_kwargs={"max_steps": 2})
    places = [pool.describe(i) for i in range(2)]
    assert pool.live_envs() == 2
    pool.send_reset(0, WRITE_FILE)  # a call in flight at close is killed, not waited for
    pool.close()
    pool.close()
    assert all(gone(where, 10) for where in places)
    with pytest.raises(RuntimeError, match="closed"):
        pool.send(0, "WAIT")


def test_importing_the_package_and_the_pool_loads_no_ray() -> None:
    code = ("import sys, step_envs, step_envs.pool.pool, step_envs.pool.vector, step_envs.pool.ray\n"
            "import step_envs.providers.ray\n"
            "print('ray' in sys.modules, step_envs.EnvPool.__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "EnvPool"]
