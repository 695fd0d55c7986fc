"""Ray: joining a cluster, placing env actors on its nodes, and a desktop session run by an actor.

- `RaySession` and `actor_options`: this process's membership in a cluster and the options of each env actor,
  used by ``EnvPool(provider="ray")``, whose envs run whole in actors (`step_envs.pool.ray.RayEnvHandle`).
- `RayProvider` (``make_provider("ray")``, ``DesktopEnv(provider="ray")``): a desktop session started by an
  actor pinned to *this* node, since the controller answers on loopback only. To use other nodes, use the pool.

Ray is imported only here and in `step_envs.pool.ray`, and only when one of these is used: ``import step_envs``
stays light. Without an address (and no ``RAY_ADDRESS``), a one-node cluster is started on loopback only and
stopped when its last user leaves.

Placement: a node says how many envs it can host with the custom resource ``step_env`` (``ray start
--resources='{"step_env": 8}'``). Where the cluster advertises it, each env actor takes one unit of it, so a
node never gets more envs than it declared and a node without it (say, the trainer's GPU node) gets none; the
``SPREAD`` strategy deals the envs out across the nodes that have room. Where no node advertises it, the actors
reserve nothing and are only ``SPREAD`` (which Ray does not enforce for actors that reserve nothing).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

from step_envs.core import DEFAULT_SCREEN
from step_envs.providers import PROVIDERS, make_provider
from step_envs.providers.base import Endpoint, Provider, ProviderError

START_TIMEOUT_S = 180.0
CALL_TIMEOUT_S = 30.0
# Ray advertises (and binds its servers to) the host's routable address unless clusters are off: then loopback
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
DEFAULT_ACTOR_OPTIONS = {"num_cpus": 0, "scheduling_strategy": "SPREAD", "max_concurrency": 4}
ENV_RESOURCE = "step_env"
"""The custom resource a node advertises to say how many envs it hosts; each env actor takes one unit."""

logger = logging.getLogger(__name__)


class RaySession:
    """This process's membership in a Ray cluster; a cluster we started ourselves stops with its last user."""

    _lock = threading.Lock()
    _owned_users = 0

    def __init__(self, owned: bool) -> None:
        self.owned = owned
        self._left = False

    @classmethod
    def join(cls, address: str | None = None) -> RaySession:
        """Use the cluster this process joined, else join ``address`` (or ``$RAY_ADDRESS``), else start a
        one-node cluster bound to 127.0.0.1."""
        with cls._lock:
            local = address is None and not os.environ.get("RAY_ADDRESS")
            if local and "ray" not in sys.modules:
                os.environ.setdefault(LOOPBACK_ENV, "0")
            import ray

            if ray.is_initialized():
                if cls._owned_users == 0:
                    return cls(owned=False)
            elif local:
                if os.environ.get(LOOPBACK_ENV) != "0":
                    raise ProviderError(f"Ray was imported before the pool could keep it on loopback: set "
                                        f"{LOOPBACK_ENV}=0 before importing ray, or start a cluster and pass "
                                        "ray_address=")
                ray.init(num_cpus=os.cpu_count(), include_dashboard=False, _node_ip_address="127.0.0.1",
                         logging_level=logging.WARNING)
            else:
                ray.init(address=address, logging_level=logging.WARNING)
            cls._owned_users += 1
            return cls(owned=True)

    def leave(self) -> None:
        """Stop using the cluster; shuts Ray down in this process when we joined or started it last."""
        if self._left or not self.owned:
            return
        self._left = True
        with RaySession._lock:
            RaySession._owned_users -= 1
            if RaySession._owned_users == 0:
                import ray

                ray.shutdown()


def actor_options(options: dict[str, Any] | None, num_envs: int) -> dict[str, Any]:
    """The Ray options of each env actor of a pool of ``num_envs``, on the cluster this process joined.

    `DEFAULT_ACTOR_OPTIONS`, plus ``resources={"step_env": 1}`` where some node advertises `ENV_RESOURCE`, then
    ``options`` on top (a ``resources`` of the caller's replaces that default). Logs a warning when the cluster
    declares fewer ``step_env`` slots than the pool has envs: the envs past them wait for a node with room.
    """
    import ray

    merged = dict(DEFAULT_ACTOR_OPTIONS)
    capacity = ray.cluster_resources().get(ENV_RESOURCE, 0)
    if capacity and "resources" not in (options or {}):
        merged["resources"] = {ENV_RESOURCE: 1}
        if capacity < num_envs:
            logger.warning("the Ray cluster declares %g %r slots for a pool of %d envs: the others wait for room "
                           "(add nodes, or raise a node's --resources='{\"%s\": N}')", capacity, ENV_RESOURCE,
                           num_envs, ENV_RESOURCE)
    merged.update(options or {})
    return merged


class _SessionWorker:
    """Runs inside the actor: one provider (a desktop session) of the actor's node."""

    def __init__(self, node_provider: str, kwargs: dict[str, Any]) -> None:
        self.provider = make_provider(node_provider, **kwargs)

    def start(self) -> Endpoint:
        return self.provider.start()

    def restore(self) -> None:
        self.provider.restore()

    def alive(self) -> bool:
        return self.provider.alive()

    def stop(self) -> None:
        self.provider.stop()


_remote_classes: dict[type, Any] = {}


def remote_class(cls: type) -> Any:
    """``ray.remote(cls)``, made once per class."""
    import ray

    if cls not in _remote_classes:
        _remote_classes[cls] = ray.remote(cls)
    return _remote_classes[cls]


class RayProvider(Provider):
    """A desktop session run by a Ray actor on this node (its controller answers on this node's loopback)."""

    name = "ray"

    def __init__(self, width: int = DEFAULT_SCREEN[0], height: int = DEFAULT_SCREEN[1],
                 node_provider: str = "local", ray_address: str | None = None, **provider_kwargs: Any) -> None:
        self.node_provider = node_provider
        self.kwargs = {"width": width, "height": height, **provider_kwargs}
        # what the node's session gives a task: a container's fixed home, sudo when asked for
        self.fixed_home = provider_kwargs.get("home") or PROVIDERS[node_provider].fixed_home
        self.sudo = bool(provider_kwargs.get("sudo"))
        self.ray_address = ray_address
        self.session: RaySession | None = None
        self.actor: Any = None
        self.endpoint: Endpoint | None = None

    def start(self) -> Endpoint:
        if self.endpoint is not None:
            return self.endpoint
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.session = RaySession.join(self.ray_address)
        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        self.actor = remote_class(_SessionWorker).options(num_cpus=0, max_concurrency=4, scheduling_strategy=here).remote(
            self.node_provider, self.kwargs)
        try:
            self.endpoint = ray.get(self.actor.start.remote(), timeout=START_TIMEOUT_S)
        except Exception as exc:
            self.stop()
            raise ProviderError(f"the Ray actor could not start a {self.node_provider} session: {exc}") from exc
        return self.endpoint

    def _call(self, method: str) -> Any:
        import ray

        if self.actor is None:
            raise ProviderError("session not started")
        try:
            return ray.get(getattr(self.actor, method).remote(), timeout=CALL_TIMEOUT_S)
        except Exception as exc:
            raise ProviderError(f"the session's Ray actor failed in {method}: {exc}") from exc

    def restore(self) -> None:
        self._call("restore")

    def alive(self) -> bool:
        try:
            return self.endpoint is not None and bool(self._call("alive"))
        except ProviderError:
            return False

    def stop(self) -> None:
        if self.actor is not None:
            import ray

            try:
                ray.get(self.actor.stop.remote(), timeout=CALL_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - killed below all the same
                pass
            ray.kill(self.actor, no_restart=True)
            self.actor = None
        if self.session is not None:
            self.session.leave()
            self.session = None
        self.endpoint = None
