"""The Agent protocol: what the pool drives, shared with the benchmark runner and the trainer's policy.

An agent sees a batch of turns at a time (one per environment that is waiting for an action), so a policy can
batch its forward passes. Each turn carries a `key` unique to the episode in flight; an agent that keeps
per-episode state (history, a chat transcript) keys it by that and drops it in `reset` / `end`.

It lives with the pool, its driver, so that the agents (`step_envs.agents`, which re-exports these names)
import the pool's contract and never the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from step_envs.core import DEFAULT_SCREEN
from step_envs.tasks import Task


@dataclass
class Turn:
    """What an agent gets for one environment waiting for its next action."""

    key: str
    """Unique per episode attempt (task id, seed and attempt number): the handle for per-episode state."""
    task: Task
    observation: dict[str, Any]
    """The env observation: `screenshot` (H x W x 3 uint8), `instruction`, optional `a11y_tree` / `ui_tree`."""
    step: int
    """0 for the first action of the episode."""
    history: list[str] = field(default_factory=list)
    """The actions taken so far in this episode, oldest first."""
    action_space: str = "pyautogui"
    """What the env executes: ``pyautogui`` (code), ``computer_13`` (JSON actions), or ``android``
    (AndroidWorld's JSON actions, on an `AndroidEnv`)."""
    screen_size: tuple[int, int] = DEFAULT_SCREEN
    """(width, height) of the screen the actions address."""


@dataclass
class AgentAction:
    """An agent's answer for one turn. Agents may return a plain string instead: it becomes `AgentAction(text)`.

    `text` is the action executed (pyautogui code, computer_13 JSON, WAIT / DONE / FAIL). A policy that parsed
    it out of a model reply keeps the raw reply in `raw` and the tokens it generated with their log-probs, which
    the trainer needs; a reply that could not be parsed is a no-op step with `parse_error` set.
    """

    text: str
    raw: str | None = None
    logprobs: list[float] | None = None
    token_ids: list[int] | None = None
    parse_error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Agent(Protocol):
    """`reset(task, key)` when an episode starts; `act(turns)` for a batch of turns, one action per turn, in order;
    `end(key)` when that episode is over (scored, failed or abandoned)."""

    name: str

    def reset(self, task: Task, key: str) -> None: ...

    def act(self, turns: list[Turn]) -> list[AgentAction | str]: ...

    def end(self, key: str) -> None: ...


def as_action(answer: AgentAction | str) -> AgentAction:
    """Normalize what `Agent.act` returned for one turn."""
    if isinstance(answer, AgentAction):
        return answer
    if isinstance(answer, str):
        return AgentAction(text=answer)
    raise TypeError(f"Agent.act must return AgentAction or str per turn, got {type(answer).__name__}")
