"""Where environments live: ``local`` (an X session on this host), ``docker`` (one container per desktop),
``ray`` (a session run by a Ray actor; `EnvPool(provider="ray")` spreads whole envs over a Ray cluster)."""

from __future__ import annotations

from typing import Any

from step_envs.providers.base import Endpoint, Provider, ProviderError
from step_envs.providers.docker import DockerProvider
from step_envs.providers.local import LocalProvider

PROVIDERS: dict[str, type[Provider]] = {"local": LocalProvider, "docker": DockerProvider}


def make_provider(name: str, **kwargs: Any) -> Provider:
    if name not in PROVIDERS:
        raise ValueError(f"unknown provider {name!r}; known: {', '.join(sorted(PROVIDERS))}")
    return PROVIDERS[name](**kwargs)


# last: the Ray module builds on make_provider (its actors run a local or docker provider on their node);
# it imports Ray itself only when used
from step_envs.providers.ray import RayProvider  # noqa: E402

PROVIDERS["ray"] = RayProvider


__all__ = ["PROVIDERS", "DockerProvider", "RayProvider", "Endpoint", "LocalProvider", "Provider", "ProviderError", "make_provider"]
