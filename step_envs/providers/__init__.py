"""Where environments live: ``local`` (an X session on this host), ``docker`` (one container per desktop),
``ray`` (a session run by a Ray actor; `EnvPool(provider="ray")` spreads whole envs over a Ray cluster),
``emulator`` (an Android emulator slot), ``fake-emulator`` (android-env's FakeSimulator in its place, for machines
with no emulator). The last two are Android devices (:data:`ANDROID_PROVIDERS`): an `EnvPool` on one runs
`AndroidEnv` instead of `DesktopEnv`.

Providers are imported when first used: the processes that run inside a session (controller server, action
worker, container supervisor) import this package too and should not pay for the Docker SDK or Ray.
"""

from __future__ import annotations

import importlib
from typing import Any

from step_envs.providers.base import Endpoint, Provider, ProviderError


class _ProviderRegistry(dict[str, str]):
    """Provider name -> ``module:Class``; indexing imports the class."""

    def __getitem__(self, name: str) -> type[Provider]:  # type: ignore[override]
        module, attr = super().__getitem__(name).split(":")
        return getattr(importlib.import_module(module), attr)


PROVIDERS = _ProviderRegistry({
    "local": "step_envs.providers.local:LocalProvider",
    "docker": "step_envs.providers.docker:DockerProvider",
    "ray": "step_envs.providers.ray:RayProvider",
    "emulator": "step_envs.providers.emulator:EmulatorProvider",
    "fake-emulator": "step_envs.providers.fake_emulator:FakeEmulatorProvider",
})
_CLASSES = {"LocalProvider": "local", "DockerProvider": "docker", "RayProvider": "ray",
            "EmulatorProvider": "emulator", "FakeEmulatorProvider": "fake-emulator"}
ANDROID_PROVIDERS = {"emulator": "emulator", "fake-emulator": "fake"}
"""The providers whose place is an Android device, and the android-env simulator (`AndroidEnv`'s ``simulator``)
that drives it."""


def make_provider(name: str, **kwargs: Any) -> Provider:
    if name not in PROVIDERS:
        raise ValueError(f"unknown provider {name!r}; known: {', '.join(sorted(PROVIDERS))}")
    return PROVIDERS[name](**kwargs)


def __getattr__(name: str) -> Any:
    if name in _CLASSES:
        return PROVIDERS[_CLASSES[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ANDROID_PROVIDERS", "PROVIDERS", "DockerProvider", "EmulatorProvider", "Endpoint", "FakeEmulatorProvider",
           "LocalProvider", "Provider", "ProviderError", "RayProvider", "make_provider"]
