"""Agents without a model: `solution` replays a task's own solution, `random` acts at random within the screen.

`solution` proves the environment and the checkers (it should score 1.0 on every feasible task); `random` is the
floor a learned agent has to beat and a fuzzer of the pool.
"""

from __future__ import annotations

import json
import random
import string
from typing import Any

from step_envs.actions.core import computer13_to_code
from step_envs.agents.base import AgentAction, Turn
from step_envs.tasks import Task


def _as_text(action: Any) -> str:
    """Solutions hold pyautogui strings or computer_13 dicts; actions travel as text."""
    return action if isinstance(action, str) else json.dumps(action)


class SolutionAgent:
    """Replays `task.solution` step by step, then says DONE (FAIL for an infeasible task with no solution)."""

    name = "solution"

    def __init__(self) -> None:
        self._solutions: dict[str, list[Any]] = {}

    def reset(self, task: Task, key: str) -> None:
        self._solutions[key] = list(task.solution) or (["FAIL"] if task.infeasible else ["DONE"])

    def act(self, turns: list[Turn]) -> list[AgentAction | str]:
        answers: list[AgentAction | str] = []
        for turn in turns:
            solution = self._solutions.get(turn.key)
            if solution is None:  # a pool that did not call reset: read the task from the turn
                self.reset(turn.task, turn.key)
                solution = self._solutions[turn.key]
            answers.append(_as_text(solution[turn.step]) if turn.step < len(solution) else "DONE")
        return answers

    def end(self, key: str) -> None:
        self._solutions.pop(key, None)


_KEYS = ("enter", "tab", "esc", "backspace", "up", "down", "left", "right", "space", "home", "end")
_POINT_ACTIONS = ("CLICK", "DOUBLE_CLICK", "RIGHT_CLICK", "MOVE_TO")


class RandomAgent:
    """Uniformly random valid actions inside the screen, in either action space; says DONE with `p_done`.

    Each episode draws from its own generator seeded by (`seed`, task id), so a run is reproducible whatever
    order the pool serves the environments in.
    """

    name = "random"

    def __init__(self, seed: int = 0, p_done: float = 0.1) -> None:
        if not 0.0 <= p_done <= 1.0:
            raise ValueError(f"p_done must be in [0, 1], got {p_done}")
        self.seed, self.p_done = int(seed), float(p_done)
        self._rngs: dict[str, random.Random] = {}

    def reset(self, task: Task, key: str) -> None:
        self._rngs[key] = random.Random(f"{self.seed}:{task.id}")

    def act(self, turns: list[Turn]) -> list[AgentAction | str]:
        answers: list[AgentAction | str] = []
        for turn in turns:
            if turn.key not in self._rngs:
                self.reset(turn.task, turn.key)
            action = self.sample(self._rngs[turn.key], turn.screen_size)
            if isinstance(action, str):
                answers.append(action)
            elif turn.action_space == "computer_13":
                answers.append(json.dumps(action))
            else:
                answers.append(computer13_to_code(action, *turn.screen_size))
        return answers

    def end(self, key: str) -> None:
        self._rngs.pop(key, None)

    def sample(self, rng: random.Random, screen_size: tuple[int, int]) -> str | dict[str, Any]:
        """One random action: ``DONE`` / ``WAIT``, or a computer_13 dict."""
        if rng.random() < self.p_done:
            return "DONE"
        width, height = screen_size
        kind = rng.choice(_POINT_ACTIONS + ("SCROLL", "TYPING", "PRESS", "WAIT"))
        if kind == "WAIT":
            return "WAIT"
        if kind in _POINT_ACTIONS:
            action: dict[str, Any] = {"action_type": kind, "x": rng.randrange(width), "y": rng.randrange(height)}
        elif kind == "SCROLL":
            action = {"action_type": kind, "dx": 0, "dy": rng.choice([-5, -3, -1, 1, 3, 5])}
        elif kind == "TYPING":
            action = {"action_type": kind, "text": "".join(rng.choices(string.ascii_lowercase, k=rng.randint(1, 8)))}
        else:
            action = {"action_type": kind, "key": rng.choice(_KEYS)}
        return action
