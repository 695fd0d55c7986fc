"""The env's two action spaces: ``pyautogui`` code and OSWorld's ``computer_13`` structured actions.

Both turn into pyautogui code for the worker, or a control token (WAIT / DONE / FAIL). Validation never
raises: a bad action comes back as a :class:`ParsedAction` with ``error`` set, which the env reports in
``info["action_error"]`` and counts as a step. The reply parser (`reading`) and the agreement reward (`points`)
use the same lists of point-taking functions, so what a parser scales the env also checks.
"""

from __future__ import annotations

import ast
import json
import numbers
from dataclasses import dataclass
from typing import Any

CONTROL_TOKENS = ("WAIT", "DONE", "FAIL")
MAX_ACTION_CHARS = 65536
# OSWorld's computer_13, in its order, then the three control actions
COMPUTER_13 = ("MOVE_TO", "CLICK", "MOUSE_DOWN", "MOUSE_UP", "RIGHT_CLICK", "DOUBLE_CLICK", "DRAG_TO", "SCROLL",
               "TYPING", "PRESS", "KEY_DOWN", "KEY_UP", "HOTKEY")
ACTION_TYPES = COMPUTER_13 + CONTROL_TOKENS
BUTTONS = ("left", "right", "middle")
KEYBOARD_KEYS = frozenset(
    [chr(c) for c in range(32, 127)]
    + ["\t", "\n", "\r", "accept", "add", "alt", "altleft", "altright", "apps", "backspace", "browserback",
       "browserfavorites", "browserforward", "browserhome", "browserrefresh", "browsersearch", "browserstop",
       "capslock", "clear", "convert", "ctrl", "ctrlleft", "ctrlright", "decimal", "del", "delete", "divide",
       "down", "end", "enter", "esc", "escape", "execute", "final", "hanguel", "hangul", "hanja", "help", "home",
       "insert", "junja", "kana", "kanji", "launchapp1", "launchapp2", "launchmail", "launchmediaselect", "left",
       "modechange", "multiply", "nexttrack", "nonconvert", "num0", "num1", "num2", "num3", "num4", "num5",
       "num6", "num7", "num8", "num9", "numlock", "pagedown", "pageup", "pause", "pgdn", "pgup", "playpause",
       "prevtrack", "print", "printscreen", "prntscrn", "prtsc", "prtscr", "return", "right", "scrolllock",
       "select", "separator", "shift", "shiftleft", "shiftright", "sleep", "space", "stop", "subtract", "tab",
       "up", "volumedown", "volumemute", "volumeup", "win", "winleft", "winright", "yen", "command", "option",
       "optionleft", "optionright"]
    + [f"f{i}" for i in range(1, 25)]
)
# pyautogui functions whose first two positional arguments (or x=, y=, or one (x, y) tuple) are a screen point
POINT_FUNCTIONS = frozenset(["click", "leftClick", "doubleClick", "tripleClick", "rightClick", "middleClick",
                             "moveTo", "dragTo", "mouseDown", "mouseUp"])
# ... and those whose point comes after the scroll amount
SCROLL_FUNCTIONS = frozenset(["scroll", "vscroll", "hscroll"])


@dataclass(frozen=True)
class ParsedAction:
    """An env action as the env will carry it out: Python ``code`` to run, a control action (``WAIT``,
    ``DONE``, ``FAIL``), or ``invalid`` with the ``error`` the step reports in ``info["action_error"]``.
    """

    kind: str
    """``code``, ``WAIT``, ``DONE``, ``FAIL``, or ``invalid``."""
    code: str = ""
    error: str | None = None

    @classmethod
    def invalid(cls, error: str) -> ParsedAction:
        return cls("invalid", error=error)


def _control(text: str) -> ParsedAction | None:
    token = text.strip().upper()
    return ParsedAction(token) if token in CONTROL_TOKENS else None


def _number(node: ast.expr) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    return None


def _point_nodes(node: ast.Call) -> tuple[ast.expr | None, ast.expr | None]:
    """The x and y argument nodes of a point-taking pyautogui call (None where not given)."""
    first = 1 if node.func.attr in SCROLL_FUNCTIONS else 0  # type: ignore[union-attr]
    args = node.args
    if len(args) > first and isinstance(args[first], ast.Tuple | ast.List) and len(args[first].elts) == 2:
        x, y = args[first].elts
    else:
        x = args[first] if len(args) > first else None
        y = args[first + 1] if len(args) > first + 1 else None
    keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg in ("x", "y")}
    return keywords.get("x", x), keywords.get("y", y)


def _out_of_screen(tree: ast.AST, width: int, height: int) -> str | None:
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in POINT_FUNCTIONS | SCROLL_FUNCTIONS):
            continue
        x_node, y_node = _point_nodes(node)
        x = _number(x_node) if x_node is not None else None
        y = _number(y_node) if y_node is not None else None
        if (x is not None and not 0 <= x < width) or (y is not None and not 0 <= y < height):
            return (f"{node.func.attr}({x:g}, {y:g}) is outside the {width}x{height} screen"
                    if x is not None and y is not None else f"{node.func.attr} coordinate outside the screen")
    return None


def parse_pyautogui(action: Any, width: int, height: int) -> ParsedAction:
    """Python code using pyautogui, or WAIT / DONE / FAIL."""
    if not isinstance(action, str):
        return ParsedAction.invalid(f"a pyautogui action is a string of Python code, got {type(action).__name__}")
    if len(action) > MAX_ACTION_CHARS:
        return ParsedAction.invalid(f"action is {len(action)} characters; the limit is {MAX_ACTION_CHARS}")
    control = _control(action)
    if control is not None:
        return control
    if not action.strip():
        return ParsedAction.invalid("empty action; send pyautogui code, WAIT, DONE or FAIL")
    try:
        tree = ast.parse(action)
    except (SyntaxError, ValueError) as exc:
        return ParsedAction.invalid(f"syntax error: {exc}")
    problem = _out_of_screen(tree, width, height)
    if problem:
        return ParsedAction.invalid(problem)
    return ParsedAction("code", code=action)


def _coord(params: dict[str, Any], width: int, height: int) -> tuple[int, int]:
    x, y = params["x"], params["y"]
    if any(isinstance(v, bool) or not isinstance(v, numbers.Real) for v in (x, y)):
        raise ValueError(f"x and y must be numbers, got {x!r}, {y!r}")
    if not (0 <= x < width and 0 <= y < height):
        raise ValueError(f"({x:g}, {y:g}) is outside the {width}x{height} screen")
    return int(x), int(y)


def _key(key: Any) -> str:
    if not isinstance(key, str) or key.lower() not in KEYBOARD_KEYS:
        raise ValueError(f"unknown key {key!r}")
    return key.lower() if len(key) > 1 else key


def _button(params: dict[str, Any]) -> str:
    button = params.get("button", "left")
    if isinstance(button, int) and 0 <= button < len(BUTTONS):
        button = BUTTONS[button]
    if button not in BUTTONS:
        raise ValueError(f"button must be one of {BUTTONS}, got {button!r}")
    return button


def computer13_to_code(action: dict[str, Any], width: int, height: int) -> str:
    """One computer_13 action as pyautogui code; ValueError/KeyError on bad parameters."""
    kind = action["action_type"]
    if kind == "MOVE_TO":
        return "pyautogui.moveTo({}, {})".format(*_coord(action, width, height))
    if kind == "CLICK":
        extra = f", button={_button(action)!r}, clicks={int(action.get('num_clicks', 1))}"
        if "x" in action and "y" in action:
            return "pyautogui.click({}, {}{})".format(*_coord(action, width, height), extra)
        return f"pyautogui.click({extra[2:]})"
    if kind in ("MOUSE_DOWN", "MOUSE_UP"):
        return f"pyautogui.{'mouseDown' if kind == 'MOUSE_DOWN' else 'mouseUp'}(button={_button(action)!r})"
    if kind in ("RIGHT_CLICK", "DOUBLE_CLICK"):
        func = "rightClick" if kind == "RIGHT_CLICK" else "doubleClick"
        if "x" in action and "y" in action:
            return "pyautogui.{}({}, {})".format(func, *_coord(action, width, height))
        return f"pyautogui.{func}()"
    if kind == "DRAG_TO":
        return "pyautogui.dragTo({}, {}, duration=0.2, button='left')".format(*_coord(action, width, height))
    if kind == "SCROLL":
        dx, dy = int(action.get("dx", 0)), int(action.get("dy", 0))
        return f"pyautogui.vscroll({dy})\npyautogui.hscroll({dx})"
    if kind == "TYPING":
        text = action["text"]
        if not isinstance(text, str):
            raise ValueError(f"text must be a string, got {type(text).__name__}")
        return f"pyautogui.write({text!r})"
    if kind in ("PRESS", "KEY_DOWN", "KEY_UP"):
        func = {"PRESS": "press", "KEY_DOWN": "keyDown", "KEY_UP": "keyUp"}[kind]
        return f"pyautogui.{func}({_key(action['key'])!r})"
    if kind == "HOTKEY":
        keys = action["keys"]
        if not isinstance(keys, list | tuple) or not keys:
            raise ValueError("keys must be a non-empty list")
        return f"pyautogui.hotkey({', '.join(repr(_key(k)) for k in keys)})"
    raise ValueError(f"unknown action_type {kind!r}; known: {', '.join(ACTION_TYPES)}")


def parse_computer13(action: Any, width: int, height: int) -> ParsedAction:
    """OSWorld's structured action: a dict (or its JSON text) with ``action_type`` and its parameters;
    ``action_type`` may also be an index into :data:`ACTION_TYPES` (what the Dict space samples)."""
    if isinstance(action, str):
        control = _control(action)
        if control is not None:
            return control
        if len(action) > MAX_ACTION_CHARS:
            return ParsedAction.invalid(f"action is {len(action)} characters; the limit is {MAX_ACTION_CHARS}")
        try:
            action = json.loads(action)
        except json.JSONDecodeError as exc:
            return ParsedAction.invalid(f"computer_13 action is not JSON: {exc}")
    if not isinstance(action, dict) or "action_type" not in action:
        return ParsedAction.invalid("a computer_13 action is a dict with an 'action_type'")
    action = dict(action)
    kind = action["action_type"]
    if not isinstance(kind, str) and hasattr(kind, "__index__") and 0 <= int(kind) < len(ACTION_TYPES):
        kind = action["action_type"] = ACTION_TYPES[int(kind)]
    if kind in CONTROL_TOKENS:
        return ParsedAction(kind)
    try:
        return ParsedAction("code", code=computer13_to_code(action, width, height))
    except KeyError as exc:
        return ParsedAction.invalid(f"{kind} needs parameter {exc}")
    except (ValueError, TypeError) as exc:
        return ParsedAction.invalid(f"{kind}: {exc}")


PARSERS = {"pyautogui": parse_pyautogui, "computer_13": parse_computer13}
