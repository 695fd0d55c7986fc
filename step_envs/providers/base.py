"""Where an environment's desktop lives. A provider knows nothing of tasks: it starts a place, hands out the
controller's address and token, restores the place to pristine, and stops it leaving nothing behind."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

SESSION_PASSWORD = "password"
"""The session user's password where it may use sudo (a container started with ``sudo=True``): OSWorld's VM
password, which its tasks pipe to ``sudo -S`` as ``{CLIENT_PASSWORD}``."""


class ProviderError(RuntimeError):
    """The environment itself failed (did not start, died, stopped answering): never a task failure."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    token: str | None
    width: int
    height: int


class Provider(ABC):
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
