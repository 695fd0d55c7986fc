"""An env of the pool that lives in a Ray actor: ``EnvPool(provider="ray")``.

The actor runs a whole `DesktopEnv` on its node, on that node's ``local`` session or ``docker`` container, so the
controller's HTTP stays on the node's loopback and only actions and observations cross the network (observations
through Ray's object store). Joining the cluster and placing the actors is `step_envs.providers.ray`.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from step_envs.core import ProviderError
from step_envs.pool.handles import EnvHandle, ProviderEnvHandle, StepResult
from step_envs.providers.ray import CALL_TIMEOUT_S, DEFAULT_ACTOR_OPTIONS, START_TIMEOUT_S, remote_class
from step_envs.tasks import Task


def _node() -> dict[str, Any]:
    import ray

    return {"node_id": ray.get_runtime_context().get_node_id(), "hostname": socket.gethostname(),
            "actor_pid": os.getpid()}


class _EnvWorker:
    """Runs inside the actor: one `DesktopEnv` on a provider of the actor's node."""

    def __init__(self, node_provider: str, env_kwargs: dict[str, Any], provider_kwargs: dict[str, Any]) -> None:
        self.handle = ProviderEnvHandle(node_provider, env_kwargs, provider_kwargs)

    def start(self) -> dict[str, Any]:
        self.handle.start()
        return self.describe()

    def reset(self, task: Task, seed: int | None, max_steps: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.handle.reset(task, seed, max_steps)

    def step(self, action: Any) -> StepResult:
        return self.handle.step(action)

    def alive(self) -> bool:
        return self.handle.alive()

    def describe(self) -> dict[str, Any]:
        return {**self.handle.describe(), **_node()}

    def close(self) -> None:
        self.handle.close()


class RayEnvHandle(EnvHandle):
    """An env of the pool that lives in a Ray actor (on whichever node Ray places it)."""

    def __init__(self, env_kwargs: dict[str, Any], provider_kwargs: dict[str, Any], node_provider: str = "local",
                 actor_options: dict[str, Any] | None = None) -> None:
        self.env_kwargs, self.provider_kwargs = env_kwargs, provider_kwargs
        self.node_provider = node_provider
        self.actor_options = {**DEFAULT_ACTOR_OPTIONS, **(actor_options or {})}
        self.actor: Any = None
        self.where: dict[str, Any] = {}

    def start(self) -> None:
        self.actor = remote_class(_EnvWorker).options(**self.actor_options).remote(
            self.node_provider, self.env_kwargs, self.provider_kwargs)
        where = self._get(self.actor.start.remote(), START_TIMEOUT_S)
        self.where = {**where, "provider": "ray", "node_provider": where.get("provider")}

    def _get(self, ref: Any, timeout: float | None = None) -> Any:
        """``ray.get``; an actor that is gone (its process or its whole node died), or a result lost with its
        node, becomes a `ProviderError` naming the node, which the pool turns into an ``env_error`` and a
        replacement on a node still up."""
        import ray

        try:
            return ray.get(ref, timeout=timeout)
        except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as exc:
            node = f"node {self.where['node_id']} ({self.where['hostname']})" if self.where else "its node"
            summary = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ProviderError(f"the env's Ray actor on {node} is gone: {type(exc).__name__}: {summary}") from exc

    def reset(self, task: Task, seed: int | None, max_steps: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
        return self._get(self.actor.reset.remote(task, seed, max_steps))

    def step(self, action: Any) -> StepResult:
        return self._get(self.actor.step.remote(action))

    def alive(self) -> bool:
        return self.actor is not None and bool(self._get(self.actor.alive.remote(), CALL_TIMEOUT_S))

    def kill(self) -> None:
        import ray

        if self.actor is not None:
            ray.kill(self.actor, no_restart=True)  # the session's reaper sees the actor go and ends the session

    def close(self) -> None:
        import ray

        if self.actor is None:
            return
        try:
            ray.get(self.actor.close.remote(), timeout=CALL_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - a dead or hung actor is killed below all the same
            pass
        ray.kill(self.actor, no_restart=True)
        self.actor = None

    def describe(self) -> dict[str, Any]:
        return dict(self.where)
