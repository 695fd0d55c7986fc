"""Agreement between two actions, for step-level GRPO augmentation: a small parser of what the score needs.

Understands pyautogui code (`pyautogui.click(100, 200)`, `pyautogui.typewrite('hi')`, `pyautogui.hotkey('ctrl', 's')`,
several calls in one snippet), computer_13 JSON (`{"action_type": "CLICK", "x": 100, "y": 200}`, parameters flat or
under `"parameters"`, one object or a list) and the bare `WAIT` / `DONE` / `FAIL`. Candidates and the reference come
from the same policy, hence the same action space: types are compared as written in that space.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from step_envs.agents.parsing import computer13_params, pyautogui_calls
from step_envs.desktop.actions import CONTROL_TOKENS

SPECIAL_ACTIONS = CONTROL_TOKENS

_PYAUTOGUI_TYPES = {
    "click": "CLICK",
    "leftClick": "CLICK",
    "rightClick": "RIGHT_CLICK",
    "middleClick": "MIDDLE_CLICK",
    "doubleClick": "DOUBLE_CLICK",
    "tripleClick": "TRIPLE_CLICK",
    "moveTo": "MOVE_TO",
    "dragTo": "DRAG_TO",
    "mouseDown": "MOUSE_DOWN",
    "mouseUp": "MOUSE_UP",
    "typewrite": "TYPING",
    "write": "TYPING",
    "press": "PRESS",
    "hotkey": "HOTKEY",
    "keyDown": "KEY_DOWN",
    "keyUp": "KEY_UP",
    "scroll": "SCROLL",
    "vscroll": "SCROLL",
    "hscroll": "HSCROLL",
}
_TEXT_ARGUMENT = {"TYPING": "message", "PRESS": "keys", "KEY_DOWN": "key", "KEY_UP": "key"}
_CLICK_BUTTONS = {"right": "RIGHT_CLICK", "middle": "MIDDLE_CLICK"}


@dataclass(frozen=True)
class ParsedAction:
    """What agreement looks at: the action type, its point on the screen and its text argument.

    `text` is the typed text, the key name(s) joined by `+`, or the scroll amount; None where the action has none.
    """

    type: str
    x: float | None = None
    y: float | None = None
    text: str | None = None


def normalize_text(text: str) -> str:
    """Case-folded, with runs of whitespace collapsed to one space and the ends stripped."""
    return " ".join(text.split()).lower()


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return "+".join(str(v) for v in value)
    return str(value)


def _as_point(x: Any, y: Any) -> tuple[float | None, float | None]:
    if isinstance(x, list | tuple) and len(x) == 2 and y is None:
        x, y = x
    if x is None or y is None:
        return None, None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (x, y)):
        raise ValueError(f"coordinates must be numbers, got {x!r}, {y!r}")
    return float(x), float(y)


def _pyautogui_call(name: str, args: list[Any], kwargs: dict[str, Any]) -> ParsedAction:
    action_type = _PYAUTOGUI_TYPES.get(name, name.upper())
    if action_type == "CLICK":
        if kwargs.get("clicks") == 2:
            action_type = "DOUBLE_CLICK"
        action_type = _CLICK_BUTTONS.get(kwargs.get("button", ""), action_type)
    if action_type == "HOTKEY":
        return ParsedAction(action_type, text=_as_text(args or kwargs.get("keys")))
    if action_type in _TEXT_ARGUMENT:
        value = args[0] if args else kwargs.get(_TEXT_ARGUMENT[action_type])
        joined = "".join(value) if action_type == "TYPING" and isinstance(value, list) else value
        return ParsedAction(action_type, text=_as_text(joined))
    if action_type in ("SCROLL", "HSCROLL"):
        amount = args[0] if args else kwargs.get("clicks")
        x, y = _as_point(*(args[1:3] if len(args) >= 3 else (kwargs.get("x"), kwargs.get("y"))))
        return ParsedAction(action_type, x, y, _as_text(amount))
    x = args[0] if args else kwargs.get("x")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    return ParsedAction(action_type, *_as_point(x, y))


def _parse_pyautogui(code: str) -> tuple[ParsedAction, ...]:
    return tuple(_pyautogui_call(call.name, list(call.args), call.kwargs) for call in pyautogui_calls(code))


def _computer13_action(data: dict[str, Any]) -> ParsedAction:
    params = computer13_params(data)
    action_type = str(data["action_type"]).upper()
    if action_type == "SCROLL":
        return ParsedAction(action_type, text=f"{params.get('dx', 0)},{params.get('dy', 0)}")
    text = next((params[k] for k in ("text", "key", "keys") if k in params), None)
    return ParsedAction(action_type, *_as_point(params.get("x"), params.get("y")), _as_text(text))


def parse_action(action: str) -> tuple[ParsedAction, ...] | None:
    """The actions in an action string, in order; None when it cannot be read (such a candidate never agrees)."""
    stripped = action.strip()
    if stripped.upper() in SPECIAL_ACTIONS:
        return (ParsedAction(stripped.upper()),)
    try:
        if stripped.startswith(("{", "[")):
            data = json.loads(stripped)
            items = data if isinstance(data, list) else [data]
            parsed = tuple(_computer13_action(item) for item in items)
        else:
            parsed = _parse_pyautogui(stripped)
    except (SyntaxError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return parsed or None


def _single_agrees(candidate: ParsedAction, reference: ParsedAction, delta: float) -> bool:
    if candidate.type != reference.type:
        return False
    if candidate.x is None or reference.x is None:
        points_agree = candidate.x is None and reference.x is None
    else:
        points_agree = math.dist((candidate.x, candidate.y), (reference.x, reference.y)) <= delta
    if candidate.text is None or reference.text is None:
        texts_agree = candidate.text is None and reference.text is None
    else:
        texts_agree = normalize_text(candidate.text) == normalize_text(reference.text)
    return points_agree and texts_agree


def actions_agree(candidate: str, reference: str, delta: float) -> bool:
    """1 if the actions have the same type, points within `delta` pixels (Euclidean) and equal normalized text.

    Snippets with several actions agree when they have as many actions and each pair agrees.
    """
    parsed_candidate, parsed_reference = parse_action(candidate), parse_action(reference)
    if parsed_candidate is None or parsed_reference is None or len(parsed_candidate) != len(parsed_reference):
        return False
    return all(_single_agrees(c, r, delta) for c, r in zip(parsed_candidate, parsed_reference, strict=True))


def screen_tolerance(screen_size: tuple[int, int], fraction: float) -> float:
    """`delta = fraction * sqrt(width^2 + height^2)` in pixels."""
    return fraction * math.hypot(*screen_size)
