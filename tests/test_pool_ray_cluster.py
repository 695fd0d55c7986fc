"""EnvPool(provider="ray") on a two-node Ray cluster on loopback (`ray.cluster_utils.Cluster`): the envs spread
over both nodes by the ``step_env`` resource, and when one node is killed mid-run its episodes come back as
``env_error`` and are retried on the node that is left, each ending with the score it deserves."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pool_support import SolutionAgent, gone
from test_pool_ray import _loopback, _ray_listeners

from step_envs.episodes import Episode
from step_envs.pool import EnvPool
from step_envs.providers.ray import ENV_RESOURCE, LOOPBACK_ENV
from step_envs.tasks import Task
from step_envs.tasks.probes import WRITE_FILE

pytestmark = [pytest.mark.desktop, pytest.mark.timeout(300)]
SLOTS_PER_NODE = 2
"""Each node hosts up to two envs: a two-env pool takes one slot on each, and the survivor has room for both."""
DETECT_LOST_NODE_FAST = {"health_check_period_ms": 500, "health_check_timeout_ms": 500,
                         "health_check_failure_threshold": 3}
"""The head marks a silent node dead after 3 missed checks 0.5 s apart (Ray's default waits seconds longer)."""
# the probe's twin that its agent fails: it writes "no", the checker wants "yes", so its right score is 0
MISS = Task.from_dict({**WRITE_FILE.raw, "id": "probe-pool-write-no",
                       "solution": ["import subprocess\nsubprocess.run('echo no > ~/answer.txt', shell=True)", "DONE"]})


@pytest.fixture()
def cluster() -> Iterator[Any]:
    """A head and a worker node, both on 127.0.0.1 (clusters off: every Ray server binds to loopback)."""
    os.environ.setdefault(LOOPBACK_ENV, "0")
    from ray.cluster_utils import Cluster

    node = {"node_ip_address": "127.0.0.1", "num_cpus": 1, "resources": {ENV_RESOURCE: SLOTS_PER_NODE},
            "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "_system_config": DETECT_LOST_NODE_FAST})
    cluster.add_node(**node)
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        cluster.shutdown()


def test_ray_cluster_pool_spreads_over_both_nodes_and_retries_a_lost_nodes_episodes_on_the_other(cluster) -> None:
    (worker,) = cluster.worker_nodes
    head_id, worker_id = cluster.head_node.node_id, worker.node_id
    tasks = [(WRITE_FILE if i % 2 == 0 else MISS, i) for i in range(8)]
    lost: list[dict[str, Any]] = []
    done: list[Episode] = []

    with EnvPool(2, "ray", ray_address=cluster.address, env_kwargs={"max_steps": 4}, health_interval=0.5) as pool:
        import ray

        where = [pool.describe(i) for i in range(2)]
        assert {w["node_id"] for w in where} == {head_id, worker_id}, where
        deadline = time.monotonic() + 10  # the cluster's view of what is free lags the placements a little
        while ray.available_resources().get(ENV_RESOURCE) != 2 * SLOTS_PER_NODE - 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ray.available_resources().get(ENV_RESOURCE) == 2 * SLOTS_PER_NODE - 2  # one slot taken per env
        listeners = _ray_listeners()
        assert listeners and all(_loopback(ip) for _, ip in listeners), listeners

        def kill_worker_node(episode: Episode) -> None:
            """Once two episodes are done and one ends on the head node, the worker's env is mid-episode (the
            queue is not empty): kill its node then, without letting it shut down cleanly."""
            done.append(episode)
            if lost or len(done) < 2 or pool.describe(episode.info["env_index"]).get("node_id") != head_id:
                return
            lost.extend(w for w in where if w["node_id"] == worker_id)
            cluster.remove_node(worker, allow_graceful=False)

        t0 = time.monotonic()
        episodes = pool.run_episodes(SolutionAgent(), tasks, on_episode=kill_worker_node)
        seconds = time.monotonic() - t0

        assert lost, "no episode ended on the head node, so the worker node was never killed"
        assert [e.score for e in episodes] == [1.0 if i % 2 == 0 else 0.0 for i in range(8)]
        assert all(e.env_error is None for e in episodes)
        retried = [e for e in episodes if e.info["attempts"] > 1]
        assert retried, "the worker node's episode in flight was not retried"
        for episode in retried:
            assert len(episode.info["env_errors"]) == episode.info["attempts"] - 1
            assert any(worker_id in error for error in episode.info["env_errors"]), episode.info["env_errors"]
        assert pool.replacements >= 1
        deadline = time.monotonic() + 60
        while pool.live_envs() < 2 and time.monotonic() < deadline:  # the last replacement may still be starting
            time.sleep(0.2)
        nodes = [pool.describe(i).get("node_id") for i in range(2)]
        assert nodes == [head_id, head_id], nodes  # the replacement is on the survivor
        assert gone(lost[0])  # the lost node's desktop session went with it
        where += [pool.describe(i) for i in range(2)]
        print(f"\n{len(episodes)} episodes over 2 nodes, the worker node killed mid-run: {seconds:.1f} s, "
              f"{len(retried)} retried")
    assert not ray.is_initialized()  # the pool joined the cluster, so closing it left the cluster
    assert all(gone(w) for w in where)


def test_env_actors_take_a_step_env_slot_where_nodes_declare_them_and_a_short_cluster_warns(
        cluster, caplog: pytest.LogCaptureFixture) -> None:
    from step_envs.providers.ray import RaySession, actor_options

    session = RaySession.join(cluster.address)
    try:
        assert actor_options(None, 2 * SLOTS_PER_NODE)["resources"] == {ENV_RESOURCE: 1}
        assert not [r for r in caplog.records if r.name == "step_envs.providers.ray"]
        assert actor_options({"resources": {"desktop_box": 1}}, 1)["resources"] == {"desktop_box": 1}
        actor_options(None, 2 * SLOTS_PER_NODE + 1)
        assert f"declares {2 * SLOTS_PER_NODE} 'step_env' slots for a pool of {2 * SLOTS_PER_NODE + 1}" in caplog.text
    finally:
        session.leave()
