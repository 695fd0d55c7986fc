"""One environment of the pool, as the pool's worker thread drives it.

An :class:`EnvHandle` hides where the env runs: :class:`ProviderEnvHandle` keeps a `DesktopEnv` in this process
on a provider of this host (``local``, ``docker``, or any registered one); the Ray handle
(`step_envs.pool.ray.RayEnvHandle`) keeps it inside a Ray actor on some node. Every method but `kill` is
called from the env's own worker thread; `kill` comes from the health monitor, to make a hung call fail now.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any

from step_envs.core import ResetError
from step_envs.kinds import kind_of_provider
from step_envs.providers.base import Provider, ProviderError
from step_envs.tasks import Task

StepResult = tuple[dict[str, Any], float, bool, bool, dict[str, Any]]


class EnvHandle(ABC):
    """One env of the pool as its slot drives it, wherever it runs (this process, a Ray actor): start,
    reset onto a task, step, a liveness probe, and kill / close.
    """

    @abstractmethod
    def start(self) -> None:
        """Bring the environment's desktop up (blocking); raises `ProviderError` when it cannot."""

    @abstractmethod
    def reset(self, task: Task, seed: int | None, max_steps: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """`DesktopEnv.reset` with this task; ``max_steps=None`` keeps the env's own limit."""

    @abstractmethod
    def step(self, action: Any) -> StepResult:
        """`DesktopEnv.step`."""

    @abstractmethod
    def alive(self) -> bool:
        """True while the desktop can still run actions (called by the health monitor, concurrently)."""

    @abstractmethod
    def kill(self) -> None:
        """Stop the desktop now, from any thread: a call in flight fails instead of hanging."""

    @abstractmethod
    def close(self) -> None:
        """Stop everything; safe after `kill` and twice."""

    def describe(self) -> dict[str, Any]:
        """Where the env lives (provider, session id, container, node): for logs and fault-injection tests."""
        return {}

    def fork(self) -> EnvHandle:
        """A second handle on a copy of this env at its current state (see `EnvPool.fork`)."""
        raise ProviderError("this pool's envs cannot fork: only desktop envs in this process on the local provider "
                            "with reset_mode='snapshot' can (provider_kwargs={'reset_mode': 'snapshot'})")


def screen_size_of(env_kwargs: dict[str, Any], provider: str = "local") -> tuple[int, int]:
    """(width, height) of the envs made with ``env_kwargs`` on ``provider``: their ``screen_size``, else the
    default of the kind of env that runs there (:mod:`step_envs.kinds`)."""
    return kind_of_provider(provider).screen(env_kwargs)


class ProviderEnvHandle(EnvHandle):
    """An env in this process on a provider of this host, of the kind that provider runs (:mod:`step_envs.kinds`):
    a `DesktopEnv`, an `AndroidEnv` on an Android device, or a registered kind's env."""

    def __init__(self, provider: str, env_kwargs: dict[str, Any], provider_kwargs: dict[str, Any]) -> None:
        self.provider_name = provider
        self.env_kwargs, self.provider_kwargs = dict(env_kwargs), dict(provider_kwargs)
        self.provider: Provider | None = None
        self.env: Any = None
        self._default_max_steps = 0
        self._teardown = threading.Lock()  # kill (monitor thread) and close (worker thread) never overlap

    def start(self) -> None:
        kind = kind_of_provider(self.provider_name)
        width, height = kind.screen(self.env_kwargs)
        # what the env would ask of a provider it made itself (a desktop with a11y_tree: AT-SPI on)
        kwargs = {**kind.provider_options(self.env_kwargs), **self.provider_kwargs}
        provider = kind.make_provider(self.provider_name, width, height, **kwargs)
        self.provider = provider
        provider.start()  # up front, so a replacement is warm before the next reset needs it
        self.env = kind.make_env(provider, self.provider_name, self.env_kwargs)
        self._default_max_steps = self.env.max_steps

    def reset(self, task: Task, seed: int | None, max_steps: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
        self.env.max_steps = max_steps or self._default_max_steps
        try:
            return self.env.reset(seed=seed, options={"task": task})
        except ResetError as exc:  # one env's failed reset is its episode's env_error, never the pool's crash
            return exc.observation or {}, exc.info

    def step(self, action: Any) -> StepResult:
        return self.env.step(action)

    def alive(self) -> bool:
        return self.provider is not None and self.provider.alive()

    def kill(self) -> None:
        with self._teardown:
            if self.provider is not None:
                self.provider.stop()

    def close(self) -> None:
        with self._teardown:
            if self.env is not None:
                self.env.close()
                self.env = None
            if self.provider is not None:
                self.provider.stop()  # the env only adopts it at its first reset
                self.provider = None

    def fork(self) -> ProviderEnvHandle:
        if not hasattr(self.env, "fork") or getattr(self.provider, "reset_mode", "restart") != "snapshot":
            return super().fork()  # type: ignore[return-value]
        twin = self.env.fork()
        handle = ProviderEnvHandle(self.provider_name, self.env_kwargs, self.provider_kwargs)
        handle.provider, handle.env, handle._default_max_steps = twin.provider, twin, self._default_max_steps
        return handle

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"provider": self.provider_name}
        for attr in ("session_id", "display"):
            value = getattr(self.provider, attr, None)
            if value is not None:
                info[attr] = value
        container = getattr(self.provider, "container", None)
        if container is not None:
            info["container"] = container.name
        return info
