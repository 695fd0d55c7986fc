"""EnvPool(provider="ray") on a one-node Ray cluster the pool starts on loopback: same API, same recovery."""

from __future__ import annotations

import ipaddress
import sys

import psutil
import pytest
from pool_support import SolutionAgent, gone, kill_env

from step_envs.desktop.env import DesktopEnv
from step_envs.pool import EnvPool
from step_envs.tasks.probes import WRITE_FILE

pytestmark = [pytest.mark.desktop, pytest.mark.timeout(300)]
RAY_PROCESSES = ("gcs_server", "raylet", "ray::", "plasma", "dashboard", "log_monitor", "runtime_env")


def _ray_listeners() -> list[tuple[str, str]]:
    """(process, address) of every listening socket that belongs to a Ray process."""
    found = []
    for conn in psutil.net_connections(kind="inet"):
        if conn.status != psutil.CONN_LISTEN or conn.pid is None:
            continue
        try:
            name = " ".join(psutil.Process(conn.pid).cmdline())[:200]
        except psutil.Error:
            continue
        if any(marker in name for marker in RAY_PROCESSES):
            found.append((name, conn.laddr.ip))
    return found


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback  # ::ffff:127.0.0.1 too


def test_ray_pool_runs_episodes_recovers_from_a_kill_and_stays_on_loopback() -> None:
    with EnvPool(2, "ray", env_kwargs={"max_steps": 4}, health_interval=0.5) as pool:
        import ray

        assert ray.is_initialized()
        where = [pool.describe(i) for i in range(2)]
        assert all(w["provider"] == "ray" and w["session_id"] and w["actor_pid"] for w in where)
        listeners = _ray_listeners()
        assert listeners and all(_loopback(ip) for _, ip in listeners), listeners

        episodes = pool.run_episodes(SolutionAgent(), [WRITE_FILE, (WRITE_FILE, 1)])
        assert [e.score for e in episodes] == [1.0, 1.0]

        assert kill_env(where[0], "xvfb")  # the actor's session, on this node
        episodes = pool.run_episodes(SolutionAgent(), [(WRITE_FILE, s) for s in range(4)])
        assert [e.score for e in episodes] == [1.0] * 4
        assert sum(e.info["attempts"] for e in episodes) >= 4 and pool.replacements >= 1
        assert pool.live_envs() == 2
        where += [pool.describe(i) for i in range(2)]
    assert not ray.is_initialized()  # the pool started Ray, so closing it stopped Ray
    assert all(gone(w) for w in where)
    assert not _ray_listeners()


def test_desktop_env_on_the_ray_provider() -> None:
    env = DesktopEnv(WRITE_FILE, provider="ray", max_steps=3)
    try:
        env.reset()
        env.step(WRITE_FILE.solution[0])
        _, reward, terminated, _, info = env.step("DONE")
        assert terminated and reward == 1.0, info
        assert "ray" in sys.modules
    finally:
        env.close()
    import ray

    assert not ray.is_initialized()
