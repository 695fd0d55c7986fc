"""Gymnasium spaces shared by the desktop and Android envs (a module at the bottom: of step_envs it imports only
`step_envs.actions.env_actions`, which imports nothing of it, and that only when a computer_13 action is
checked).

`TextSpace` is Gymnasium's `Text` over `CHARSET` (printable ASCII, whitespace and the Basic Multilingual Plane up
to CJK, ~12,000 characters) whose `repr` names the range instead of listing it, so `print(env.action_space)`
or `print(envs.single_observation_space)` reads like any other space. `Computer13Space` holds OSWorld's
structured actions as users write them (dicts with a string `action_type`), which a `Dict` of integer spaces
could not.
"""

from __future__ import annotations

import string
from copy import deepcopy

from gymnasium import spaces
from gymnasium.vector.utils import batch_space

CHARSET = frozenset(string.printable) | frozenset(chr(c) for c in range(0xA0, 0x3000))
"""What text observations and actions may hold: membership is checked character by character."""
CHARSET_NAME = "printable ASCII + U+00A0-U+2FFF"
MAX_INSTRUCTION_CHARS = 4096


class TextSpace(spaces.Text):
    """`spaces.Text(max_length, min_length=0, charset=CHARSET)` with a short `repr`."""

    def __init__(self, max_length: int, *, min_length: int = 0, seed: int | None = None) -> None:
        super().__init__(max_length, min_length=min_length, charset=CHARSET, seed=seed)

    def __repr__(self) -> str:
        return f"Text({self.min_length}, {self.max_length}, charset={CHARSET_NAME})"


class Computer13Space(spaces.Space[dict]):
    """OSWorld's `computer_13` actions as they are written: a dict such as ``{"action_type": "CLICK", "x": 640,
    "y": 360}`` (its JSON text too) or ``"WAIT"`` / ``"DONE"`` / ``"FAIL"``. `contains` is the env's own
    validation (`step_envs.actions.env_actions.parse_computer13`: known type, its parameters, points on the
    screen); `sample` draws a valid action of a random type."""

    def __init__(self, width: int, height: int, seed: int | None = None) -> None:
        super().__init__(None, None, seed)
        self.width, self.height = int(width), int(height)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: object) -> bool:
        from step_envs.actions.env_actions import parse_computer13

        return isinstance(x, dict | str) and parse_computer13(x, self.width, self.height).kind != "invalid"

    def sample(self, mask: None = None, probability: None = None) -> dict:
        from step_envs.actions.env_actions import ACTION_TYPES, BUTTONS

        rng = self.np_random
        kind = str(rng.choice(ACTION_TYPES))
        action: dict = {"action_type": kind}
        if kind in ("MOVE_TO", "CLICK", "RIGHT_CLICK", "DOUBLE_CLICK", "DRAG_TO"):
            action.update(x=int(rng.integers(self.width)), y=int(rng.integers(self.height)))
        if kind in ("CLICK", "MOUSE_DOWN", "MOUSE_UP"):
            action["button"] = str(rng.choice(BUTTONS))
        if kind == "SCROLL":
            action.update(dx=int(rng.integers(-5, 6)), dy=int(rng.integers(-5, 6)))
        if kind == "TYPING":
            action["text"] = "".join(rng.choice(list("abcdefghij ")) for _ in range(int(rng.integers(1, 9))))
        if kind in ("PRESS", "KEY_DOWN", "KEY_UP"):
            action["key"] = str(rng.choice(["enter", "tab", "esc", "a", "1"]))
        if kind == "HOTKEY":
            action["keys"] = ["ctrl", str(rng.choice(["a", "c", "v", "s"]))]
        return action

    def __repr__(self) -> str:
        return f"Computer13({self.width}x{self.height})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Computer13Space) and (other.width, other.height) == (self.width, self.height)

    def __hash__(self) -> int:
        return hash(("Computer13", self.width, self.height))


@batch_space.register(TextSpace)
@batch_space.register(Computer13Space)
def _batch(space: spaces.Space, n: int = 1) -> spaces.Tuple:
    """A vector env's actions: one per env, as Gymnasium batches its own `Text` space."""
    return spaces.Tuple(tuple(deepcopy(space) for _ in range(n)))
