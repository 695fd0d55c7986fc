"""Agents without a model: `solution` replays a task's own solution, `random` acts at random within the screen,
`random-widget` clicks a random widget of the kind the solution clicks.

`solution` proves the environment and the checkers (it should score 1.0 on every feasible task); `random` is the
floor a learned agent has to beat and a fuzzer of the pool; `random-widget` is the chance level of an agent that
knows what kind of widget to act on but not which one (the baseline a learned agent must beat on widget tasks).
"""

from __future__ import annotations

import json
import random
import string
from typing import Any

from step_envs.actions import action_points
from step_envs.actions.env_actions import computer13_to_code
from step_envs.agents.a11y import a11y_rows
from step_envs.android.actions import ACTION_SPACE as ANDROID_ACTION_SPACE
from step_envs.android.actions import DIRECTIONS, POINTER_ACTIONS
from step_envs.pool.agent import AgentAction, Turn
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


class NoopAgent:
    """Does nothing and says ``answer`` (default ``DONE``) at the first step: what a task's checker gives an agent
    that claims success without acting. A feasible task should score 0 (a task author's first check); ``FAIL`` is
    the right answer of an infeasible one."""

    name = "noop"

    def __init__(self, answer: str = "DONE") -> None:
        if answer not in ("DONE", "FAIL"):
            raise ValueError(f"noop's answer is DONE or FAIL, got {answer!r}")
        self.answer = answer

    def reset(self, task: Task, key: str) -> None:
        pass

    def act(self, turns: list[Turn]) -> list[AgentAction | str]:
        return [self.answer for _ in turns]

    def end(self, key: str) -> None:
        pass


class ReplayAgent:
    """Plays the same ``actions`` on every task, then says ``DONE``: your own actions (``--agent-arg
    file=my-actions.json``, a JSON list; or ``actions=[...]``) through the real env, checker included."""

    name = "replay"

    def __init__(self, actions: list[Any] | None = None, file: str | None = None) -> None:
        if (actions is None) == (file is None):
            raise ValueError("replay takes actions=[...] or file=PATH (a JSON list of actions), one of them")
        if file is not None:
            try:
                with open(file) as handle:
                    actions = json.load(handle)
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(f"replay: cannot read the actions in {file}: {exc}") from exc
        if not isinstance(actions, list):
            raise ValueError(f"replay's actions must be a list (pyautogui code, computer_13 dicts, WAIT), got "
                             f"{type(actions).__name__}" + (f" in {file}" if file else ""))
        self.actions = [_as_text(action) for action in actions]

    def reset(self, task: Task, key: str) -> None:
        pass

    def act(self, turns: list[Turn]) -> list[AgentAction | str]:
        return [self.actions[turn.step] if turn.step < len(self.actions) else "DONE" for turn in turns]

    def end(self, key: str) -> None:
        pass


_KEYS = ("enter", "tab", "esc", "backspace", "up", "down", "left", "right", "space", "home", "end")
_POINT_ACTIONS = ("CLICK", "DOUBLE_CLICK", "RIGHT_CLICK", "MOVE_TO")
_ANDROID_KINDS = (*POINTER_ACTIONS, "scroll", "swipe", "input_text", "navigate_back", "navigate_home",
                  "keyboard_enter", "wait")


class RandomAgent:
    """Uniformly random valid actions inside the screen, in the turn's action space (``pyautogui``,
    ``computer_13``, or ``android``: AndroidWorld's JSON actions); ends the episode with `p_done` (``DONE``, or
    ``status`` ``complete`` on Android).

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
            if turn.action_space == ANDROID_ACTION_SPACE:
                answers.append(json.dumps(self.sample_android(self._rngs[turn.key], turn.screen_size)))
                continue
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

    def sample_android(self, rng: random.Random, screen_size: tuple[int, int]) -> dict[str, Any]:
        """One random AndroidWorld action: ``status`` ``complete`` with `p_done`, else a touch at a random
        point, a scroll or swipe, a word typed, a navigation key, or a wait."""
        if rng.random() < self.p_done:
            return {"action_type": "status", "goal_status": "complete"}
        width, height = screen_size
        kind = rng.choice(_ANDROID_KINDS)
        if kind in POINTER_ACTIONS:
            return {"action_type": kind, "x": rng.randrange(width), "y": rng.randrange(height)}
        if kind in ("scroll", "swipe"):
            return {"action_type": kind, "direction": rng.choice(DIRECTIONS)}
        if kind == "input_text":
            return {"action_type": kind, "text": "".join(rng.choices(string.ascii_lowercase, k=rng.randint(1, 8)))}
        return {"action_type": kind}


class RandomWidgetAgent:
    """The task's solution with every click moved to a random on-screen element of the same accessibility role
    as the element the solution clicks (a button for a button, a radio button for a radio button); typing, keys
    and DONE are the solution's. Needs the env's `a11y_tree=True`. Seeded by (`seed`, task id).

    A click whose target the tree does not show, or a solution step in computer_13 form, is replayed as is.
    """

    name = "random-widget"
    observation = "a11y"
    """What it reads of the screen: the bench then runs the envs with `a11y_tree=True`."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self._solution = SolutionAgent()
        self._rngs: dict[str, random.Random] = {}

    def reset(self, task: Task, key: str) -> None:
        self._solution.reset(task, key)
        self._rngs[key] = random.Random(f"{self.seed}:{task.id}")

    def act(self, turns: list[Turn]) -> list[AgentAction | str]:
        answers: list[AgentAction | str] = []
        for turn, action in zip(turns, self._solution.act(turns), strict=True):
            if turn.key not in self._rngs:
                self.reset(turn.task, turn.key)
            answers.append(self._retarget(str(action), turn, self._rngs[turn.key]))
        return answers

    def _retarget(self, action: str, turn: Turn, rng: random.Random) -> str:
        if "a11y_tree" not in turn.observation:
            raise ValueError("random-widget reads the accessibility tree: run the env with a11y_tree=True")
        points = action_points(action)
        if points is None or len(points) != 1 or points[0].type != "CLICK" or points[0].x is None:
            return action
        rows = a11y_rows(turn.observation["a11y_tree"], turn.screen_size, "active")  # the app's, not the panel's
        x, y = points[0].x, points[0].y
        hit = [row for row in rows if _contains(row[3], row[4], x, y)]
        if not hit:
            return action
        role = min(hit, key=lambda row: row[4][0] * row[4][1])[0]  # the innermost element under the click
        cx, cy = rng.choice([row[3] for row in rows if row[0] == role])
        return f"pyautogui.click({round(cx)}, {round(cy)})"

    def end(self, key: str) -> None:
        self._solution.end(key)
        self._rngs.pop(key, None)


def _contains(center: tuple[float, float], size: tuple[int, int], x: float, y: float) -> bool:
    return abs(x - center[0]) <= size[0] / 2 and abs(y - center[1]) <= size[1] / 2
