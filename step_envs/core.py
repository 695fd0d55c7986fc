"""The small shared core every layer may import: how to reach an environment, how one fails, what a step timed,
what a kind of environment is (`EnvKind`; the registry is :mod:`step_envs.kinds`).

It imports nothing of step_envs, and nothing heavy: the processes inside a session import it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SCREEN = (1280, 720)
"""(width, height) of a desktop's screen when nothing says otherwise: the default of the desktop env and its kind,
the providers, the action parsers, the agents' turns and the trainer's env config. Android's kind and OSWorld's
drop-in have screens of their own."""


class ProviderError(RuntimeError):
    """The environment itself failed (did not start, died, stopped answering): never a task failure."""


class ResetError(ProviderError):
    """``reset()`` could not bring the env to its task's start (the desktop did not start, the task's setup failed,
    the provider refuses the task): what a Gymnasium user of one env gets, raised, with the message saying what
    failed and what to do. ``observation`` and ``info`` (``info["env_error"]``) are what ``reset`` would have
    returned: a pool catches the error and reports them, so one env's failure never stops a batch. The env can be
    reset again."""

    def __init__(self, message: str, observation: dict | None = None, info: dict | None = None) -> None:
        super().__init__(message)
        self.observation, self.info = observation, info if info is not None else {"env_error": message}


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


def _no_options(env_kwargs: dict[str, Any]) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class EnvKind:
    """One kind of environment.

    ``make_provider(provider_name, width, height, **provider_kwargs)`` makes the place an env lives (started by
    the pool before the env adopts it); ``make_env(provider, provider_name, env_kwargs)`` the Gymnasium env on it.
    ``load_task(spec)`` turns a task spec (an id, a template instance, a file, a `Task`) into the `Task` the pool
    sends to ``reset(options={"task": ...})``, raising `TaskError` for a task of another kind. ``suites`` maps suite
    names to the functions that list their tasks. ``action_space``: the one action set its envs take (None: the
    ``action_space`` env option, default ``pyautogui``). ``observation_keys(env_kwargs)``: keys of an observation
    beyond ``screenshot`` and ``instruction`` (a blank one stands in when an env fails). ``provider_options
    (env_kwargs)``: provider options the env options imply. ``records``: episodes can be filmed."""

    name: str
    providers: tuple[str, ...]
    make_provider: Callable[..., Any]
    make_env: Callable[[Any, str, dict[str, Any]], Any]
    load_task: Callable[[Any], Any]
    suites: Mapping[str, Callable[[], list[Any]]] = field(default_factory=dict)
    default_screen: tuple[int, int] = DEFAULT_SCREEN
    action_space: str | None = None
    observation_keys: Callable[[dict[str, Any]], tuple[str, ...]] = lambda env_kwargs: ()
    provider_options: Callable[[dict[str, Any]], dict[str, Any]] = _no_options
    records: bool = False

    def actions(self, env_kwargs: dict[str, Any]) -> str:
        """The action set the kind's envs made with ``env_kwargs`` take."""
        return self.action_space or env_kwargs.get("action_space", "pyautogui")

    def screen(self, env_kwargs: dict[str, Any]) -> tuple[int, int]:
        """(width, height) of the kind's envs made with ``env_kwargs``."""
        width, height = env_kwargs.get("screen_size", self.default_screen)
        return int(width), int(height)
