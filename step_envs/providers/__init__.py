"""Where environments live: ``local`` (an X session on this host), ``docker`` (one container per desktop)."""

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


__all__ = ["PROVIDERS", "DockerProvider", "Endpoint", "LocalProvider", "Provider", "ProviderError", "make_provider"]
