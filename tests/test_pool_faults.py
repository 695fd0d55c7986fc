"""EnvPool fault tolerance on real desktops: envs killed from outside mid-run, hostile actions from inside,
hung and frozen envs. Nothing is lost, nothing is counted twice, the pool ends at full strength."""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest
from pool_support import (
    KILL_OWN_X,
    SolutionAgent,
    gone,
    is_server,
    kill_env,
    provider_kwargs,
    provider_params,
)

from step_envs.episodes import Episode
from step_envs.pool import EnvPool
from step_envs.pool.runner import episode_key
from step_envs.providers.procs import session_pids
from step_envs.tasks.probes import WRITE_FILE

pytestmark = [pytest.mark.desktop, pytest.mark.timeout(300)]


def _wait_live(pool: EnvPool, seconds: float = 60.0) -> int:
    deadline = time.monotonic() + seconds
    while (live := pool.live_envs()) < pool.num_envs and time.monotonic() < deadline:
        time.sleep(0.5)
    return live


@pytest.mark.parametrize("provider", provider_params())
def test_killing_envs_mid_run_loses_no_episode_and_counts_none_twice(provider: str) -> None:
    episodes_wanted, num_envs, kills_wanted = 64, 4, 7  # ~10 % of the episodes see their env killed
    rng = random.Random(5)
    tasks = [(WRITE_FILE, seed) for seed in range(episodes_wanted)]
    done: list[Episode] = []
    kills: list[dict] = []
    places: list[dict] = []
    stop = threading.Event()

    # kill points spread over the run by progress (not by clock: a fast machine finishes 64 episodes in seconds),
    # each a random moment shortly after that many episodes are done
    thresholds = [4 + i * (episodes_wanted - 12) // kills_wanted for i in range(kills_wanted)]

    def killer(pool: EnvPool) -> None:
        while not stop.is_set() and len(kills) < kills_wanted:
            while len(done) < thresholds[len(kills)]:
                if stop.wait(0.02):
                    return
            if stop.wait(rng.uniform(0.0, 0.3)):
                return
            index = rng.randrange(num_envs)
            where = pool.describe(index)
            if where and kill_env(where, rng.choice(["xvfb", "server"])):
                kills.append(where)

    with EnvPool(num_envs, provider, env_kwargs={"max_steps": 4}, provider_kwargs=provider_kwargs(provider),
                 health_interval=0.5) as pool:
        places += [pool.describe(i) for i in range(num_envs)]
        thread = threading.Thread(target=killer, args=(pool,), daemon=True)
        thread.start()
        try:
            episodes = pool.run_episodes(SolutionAgent(), tasks, on_episode=done.append)
        finally:
            stop.set()
            thread.join()
        assert _wait_live(pool) == num_envs
        assert pool.replacements >= len(kills)
        places += [pool.describe(i) for i in range(num_envs)]

    assert len(kills) >= 5, "the run ended before the killer got going"
    assert len(episodes) == len(done) == episodes_wanted
    assert [e.seed for e in episodes] == list(range(episodes_wanted))
    assert sorted(id(e) for e in done) == sorted(id(e) for e in episodes)  # each delivered exactly once
    retried = [e for e in episodes if e.info["attempts"] > 1]
    assert retried, "no kill hit an episode in flight"
    for episode in episodes:
        if episode.env_error is None:
            assert episode.score == 1.0, f"a kill was scored as a task failure: {episode.reason}"
            assert len(episode.info["env_errors"]) == episode.info["attempts"] - 1
        else:
            assert episode.score is None and episode.info["attempts"] == 3
    assert all(gone(where) for where in kills + places)


FUZZ = {
    "syntax error": ("pyautogui.click(", "syntax error"),
    "infinite loop": ("while True:\n    pass", "timed out"),
    "1 MB of text": ("x" * 1_000_000, "the limit is"),
    "1 MB string literal": (f"s = '{'a' * 1_000_000}'", "the limit is"),
    "NUL bytes": ("\0\0\0", "null"),
    "exit the interpreter": ("import os; os._exit(1)", "killed the worker"),
    "kill the whole process group": ("import os, signal; os.killpg(0, signal.SIGKILL)", ""),
    "kill the X server from inside": (KILL_OWN_X, None),
    "kill the controller from inside": ("import os, signal; os.kill(os.getppid(), signal.SIGKILL)", None),
}


@pytest.mark.parametrize("provider", provider_params())
def test_fuzzed_actions_never_crash_the_pool_and_the_env_recovers(provider: str) -> None:
    """Each hostile action runs as the first step of the first attempt; then the solution. Survivable ones
    are an action error in a scored episode; fatal ones are an env_error, and the retry on a fresh env scores."""
    names = list(FUZZ)
    inject = {episode_key(WRITE_FILE, None, i, 1): [FUZZ[name][0]] for i, name in enumerate(names)}
    with EnvPool(2, provider, env_kwargs={"max_steps": 5, "action_timeout": 2.0},
                 provider_kwargs=provider_kwargs(provider), health_interval=0.5) as pool:
        episodes = pool.run_episodes(SolutionAgent(inject), [WRITE_FILE] * len(names))
        assert _wait_live(pool) == 2
        # an agent that breaks the protocol gets a clear error; the pool stays usable
        with pytest.raises(TypeError, match="AgentAction or str"):
            pool.run_episodes(SolutionAgent({episode_key(WRITE_FILE, None, 0, 1): [12345]}), [WRITE_FILE])
        pool.send_reset(1, WRITE_FILE)
        pool.drain()
        pool.send(1, 12345)  # through the raw API, a non-string reaches the env and is an action error
        [ready] = pool.recv(timeout=30)
        assert "string" in ready.info["action_error"] and not ready.info.get("env_error")
    for name, episode in zip(names, episodes, strict=True):
        expected = FUZZ[name][1]
        assert episode.score == 1.0, (name, episode.reason, episode.env_error, episode.info["env_errors"])
        if expected is None:  # fatal to the env: retried on a replacement
            assert episode.info["attempts"] == 2 and episode.info["env_errors"], name
        else:
            first = episode.steps[0]
            assert episode.info["attempts"] == 1 and first.action_error, (name, episode.info)
            assert expected.lower() in first.action_error.lower(), (name, first.action_error)


def test_a_call_past_the_hard_timeout_is_killed_and_the_env_replaced() -> None:
    hang = "import time\ntime.sleep(60)"
    with EnvPool(1, env_kwargs={"max_steps": 3, "action_timeout": 120.0}, hard_timeout=2.0,
                 health_interval=0.5) as pool:
        before = pool.describe(0)
        t0 = time.monotonic()
        [episode] = pool.run_episodes(SolutionAgent({episode_key(WRITE_FILE, None, 0, 1): [hang]}), [WRITE_FILE])
        assert time.monotonic() - t0 < 30
        assert episode.score == 1.0 and episode.info["attempts"] == 2
        assert "hard timeout" in episode.info["env_errors"][0]
        assert pool.describe(0)["session_id"] != before["session_id"] and pool.live_envs() == 1
    assert gone(before)


def test_an_idle_env_that_stops_answering_is_replaced_and_its_episode_lost_not_scored() -> None:
    with EnvPool(1, env_kwargs={"max_steps": 3}, health_interval=0.3, unhealthy_after=2) as pool:
        pool.send_reset(0, WRITE_FILE)
        pool.drain()
        before = pool.describe(0)
        server = next(pid for pid in session_pids(before["session_id"]) if is_server(pid))
        os.kill(server, signal.SIGSTOP)  # frozen, not dead: only the health check can tell
        deadline = time.monotonic() + 30
        while pool.describe(0).get("session_id") in (None, before["session_id"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pool.describe(0)["session_id"] != before["session_id"] and pool.monitor.condemned == 1
        pool.send(0, WRITE_FILE.solution[0])
        [ready] = pool.recv(timeout=30)
        assert ready.truncated and "replaced mid-episode" in ready.info["env_error"]
        assert "stopped answering" in ready.info["env_error"]
        pool.send_reset(0, WRITE_FILE)
        [ready] = pool.recv(timeout=30)
        assert not ready.info.get("env_error") and pool.live_envs() == 1
    assert gone(before)
