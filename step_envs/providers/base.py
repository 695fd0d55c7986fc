"""Where an environment's desktop lives. A provider knows nothing of tasks: it starts a place, hands out the
controller's address and token, restores the place to pristine, and stops it leaving nothing behind.

`Endpoint` (what `Provider.start` returns) and `ProviderError` (what a provider raises) live in `step_envs.core`,
where the layers below the providers (the controller's client, the checkers) reach them too; they are named here
as part of a provider's contract."""

from __future__ import annotations

from abc import ABC, abstractmethod

from step_envs.core import Endpoint, ProviderError

SESSION_PASSWORD = "password"
"""The session user's password where it may use sudo (a container started with ``sudo=True``): OSWorld's VM
password, which its tasks pipe to ``sudo -S`` as ``{CLIENT_PASSWORD}``."""


class Provider(ABC):
    """One machine-like place where an env lives (an X session, a container, an emulator): ``start`` it and get
    its controller's `Endpoint`, ``restore`` it to pristine between episodes, probe it with ``alive``, ``stop`` it
    leaving nothing behind. Failures raise `ProviderError`, which envs report as ``env_error``. ``name`` is its
    name in the provider registry.
    """

    name: str = "base"
    fixed_home: str | None = None
    """The session's home when it is a fixed path (a container's ``/home/user``, OSWorld's); None when each
    session gets its own."""
    sudo: bool = False
    """Whether the session user may use ``sudo`` (with :data:`SESSION_PASSWORD`), as OSWorld's VM user can."""

    @abstractmethod
    def start(self) -> Endpoint:
        """Start the place and return how to reach its controller once it answers."""

    @abstractmethod
    def restore(self) -> None:
        """Bring the place back to pristine between episodes (no state leaks from the previous task)."""

    @abstractmethod
    def alive(self) -> bool:
        """True while the place can still run actions."""

    @abstractmethod
    def stop(self) -> None:
        """Stop everything the provider started; safe to call twice."""

    def __enter__(self) -> Provider:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["Endpoint", "Provider", "ProviderError"]
