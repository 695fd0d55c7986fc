"""What the agreement reward reads of an env action: its type, its point on the screen and its text.

Understands the env's two action spaces, in screen pixels: pyautogui code (`pyautogui.click(100, 200)`,
`pyautogui.typewrite('hi')`, `pyautogui.hotkey('ctrl', 's')`, several calls in one snippet), computer_13 JSON
(`{"action_type": "CLICK", "x": 100, "y": 200}`, parameters flat or under `"parameters"`, one object or a list) and
the bare `WAIT` / `DONE` / `FAIL`. Types are named as in computer_13 (`click` -> `CLICK`, `click(button='right')`
-> `RIGHT_CLICK`), so the two spaces compare alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from step_envs.actions.env_actions import CONTROL_TOKENS
from step_envs.actions.reading import computer13_params, pyautogui_calls

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
class ActionPoint:
    """What agreement looks at: the action type, its point on the screen and its text argument.

    `text` is the typed text, the key name(s) joined by `+`, or the scroll amount; None where the action has none.
    """

    type: str
    x: float | None = None
    y: float | None = None
    text: str | None = None


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


def _pyautogui_call(name: str, args: list[Any], kwargs: dict[str, Any]) -> ActionPoint:
    action_type = _PYAUTOGUI_TYPES.get(name, name.upper())
    if action_type == "CLICK":
        if kwargs.get("clicks") == 2:
            action_type = "DOUBLE_CLICK"
        action_type = _CLICK_BUTTONS.get(kwargs.get("button", ""), action_type)
    if action_type == "HOTKEY":
        return ActionPoint(action_type, text=_as_text(args or kwargs.get("keys")))
    if action_type in _TEXT_ARGUMENT:
        value = args[0] if args else kwargs.get(_TEXT_ARGUMENT[action_type])
        joined = "".join(value) if action_type == "TYPING" and isinstance(value, list) else value
        return ActionPoint(action_type, text=_as_text(joined))
    if action_type in ("SCROLL", "HSCROLL"):
        amount = args[0] if args else kwargs.get("clicks")
        x, y = _as_point(*(args[1:3] if len(args) >= 3 else (kwargs.get("x"), kwargs.get("y"))))
        return ActionPoint(action_type, x, y, _as_text(amount))
    x = args[0] if args else kwargs.get("x")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    return ActionPoint(action_type, *_as_point(x, y))


def _parse_pyautogui(code: str) -> tuple[ActionPoint, ...]:
    return tuple(_pyautogui_call(call.name, list(call.args), call.kwargs) for call in pyautogui_calls(code))


def _computer13_action(data: dict[str, Any]) -> ActionPoint:
    params = computer13_params(data)
    action_type = str(data["action_type"]).upper()
    if action_type == "SCROLL":
        return ActionPoint(action_type, text=f"{params.get('dx', 0)},{params.get('dy', 0)}")
    text = next((params[k] for k in ("text", "key", "keys") if k in params), None)
    return ActionPoint(action_type, *_as_point(params.get("x"), params.get("y")), _as_text(text))


def action_points(action: str) -> tuple[ActionPoint, ...] | None:
    """The actions in an action string, in order; None when it cannot be read (such a candidate never agrees)."""
    stripped = action.strip()
    if stripped.upper() in CONTROL_TOKENS:
        return (ActionPoint(stripped.upper()),)
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
