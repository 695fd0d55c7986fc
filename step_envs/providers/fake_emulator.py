"""The ``fake-emulator`` provider: android-env's ``FakeSimulator`` where an emulator slot would be.

An `AndroidEnv` on it runs the fake device in this process: random pixels for screens, ``fake output`` for every adb
command (or what the env's own ``adb`` runner answers). There is no process to start and no snapshot to load, so
the provider only keeps the state the pool's health checks read: it is alive from ``start`` to ``stop``. It lets a
pool, the benchmark runner and their tests run Android episodes end to end on a machine with no emulator; the
scores mean nothing there. On a real device, use ``emulator`` (`step_envs.providers.emulator`).
"""

from __future__ import annotations

from step_envs.providers.base import Endpoint, Provider, ProviderError
from step_envs.providers.emulator import EmulatorSettings

DEFAULT_SIZE = (1080, 2400)


class FakeEmulatorProvider(Provider):
    """A stand-in for one emulator slot, for android-env's ``FakeSimulator`` (this module's docstring).

    ``width`` / ``height`` (what ``make_provider(name, width=..., height=...)`` passes) are the screen the
    endpoint reports; the env makes the fake device that size.
    """

    name = "fake-emulator"

    def __init__(self, width: int = DEFAULT_SIZE[0], height: int = DEFAULT_SIZE[1]) -> None:
        self.width, self.height = width, height
        self.endpoint: Endpoint | None = None

    def start(self) -> Endpoint:
        if self.endpoint is None:
            self.endpoint = Endpoint(url="fake://android", token=None, width=self.width, height=self.height)
        return self.endpoint

    def attach_settings(self) -> EmulatorSettings:
        """What the env hands android-env: nothing to launch or attach to (the fake device needs no settings)."""
        if self.endpoint is None:
            raise ProviderError("the fake emulator is not started")
        return EmulatorSettings()

    def restore(self) -> None:
        """Nothing to restore: each task's ``initialize`` sets its start state over adb, as on a device."""
        if self.endpoint is None:
            raise ProviderError("the fake emulator is not started")

    def alive(self) -> bool:
        return self.endpoint is not None

    def stop(self) -> None:
        self.endpoint = None
