"""The small shared core every layer may import: how to reach an environment, how one fails, what a step timed.

It imports nothing of step_envs, and nothing heavy: the processes inside a session import it too.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass


class ProviderError(RuntimeError):
    """The environment itself failed (did not start, died, stopped answering): never a task failure."""


@dataclass(frozen=True)
class Endpoint:
    """How to reach an environment's controller: its base URL, the token it wants (None: none) and its screen."""

    url: str
    token: str | None
    width: int
    height: int


class Timings(Mapping[str, float]):
    """Seconds spent per phase (``action``, ``settle``, ``observe``, ...), read like a dict.

    Timings are measurements, not outcomes: two Timings are equal when they measured the same phases, so
    Gymnasium's determinism checks compare what the env did, not how long the machine took.
    ``dict(timings)`` gives a plain dict (for JSON).
    """

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}

    def __setitem__(self, phase: str, seconds: float) -> None:
        self._seconds[phase] = float(seconds)

    def __getitem__(self, phase: str) -> float:
        return self._seconds[phase]

    def __iter__(self) -> Iterator[str]:
        return iter(self._seconds)

    def __len__(self) -> int:
        return len(self._seconds)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Timings) and self._seconds.keys() == other._seconds.keys()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Timings(" + ", ".join(f"{k}={v:.4f}s" for k, v in self._seconds.items()) + ")"  # seconds, as stored


def time_limit_over(env: object) -> int | None:
    """The step limit of the Gymnasium ``TimeLimit`` wrapping ``env`` whose ``reset`` is running now, or None.

    ``gymnasium.make(..., max_episode_steps=N)`` puts a ``TimeLimit`` around the env and never tells it ``N``, so the
    env would not know that step ``N`` ends the episode and could not run its checker there (and Gymnasium refuses a
    registered wrapper on ids that have a vector entry point). Called from the env's ``reset``, this looks up the
    call stack for the ``TimeLimit`` whose ``reset`` led here and whose innermost env is ``env``: a few frames, no
    state kept. Its private ``_max_episode_steps`` is Gymnasium's (1.x) name for ``N``."""
    frame = sys._getframe(1)
    while frame is not None:
        caller = frame.f_locals.get("self")
        if type(caller).__name__ == "TimeLimit" and getattr(caller, "unwrapped", None) is env:
            limit = getattr(caller, "_max_episode_steps", None)
            return limit if isinstance(limit, int) else None
        frame = frame.f_back
    return None
