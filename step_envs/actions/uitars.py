"""UI-TARS replies: ``Thought: ...`` then ``Action: click(start_box='(x,y)')`` and its siblings.

The action is read after the last ``Action:`` (the whole reply when there is none) as Python call syntax, one call per
line. Points are written as ``start_box='(x,y)'`` (UI-TARS v1, also wrapped in ``<|box_start|>...<|box_end|>``), a
box ``'(x1,y1,x2,y2)'`` / ``'[x1, y1, x2, y2]'`` (its centre is the point), or ``point='<point>x y</point>'``
(UI-TARS-1.5). Each call becomes computer_13 steps:

| UI-TARS                                  | computer_13 steps                                   |
|------------------------------------------|-----------------------------------------------------|
| ``click`` / ``left_single``              | CLICK at the point                                  |
| ``left_double``                          | DOUBLE_CLICK                                        |
| ``right_single``                         | RIGHT_CLICK                                         |
| ``drag(start_box, end_box)``             | MOVE_TO start, DRAG_TO end                          |
| ``hotkey(key='ctrl c')``                 | HOTKEY ctrl+c (PRESS for one key)                   |
| ``press`` / ``keydown`` / ``keyup(key)`` | PRESS / KEY_DOWN / KEY_UP                           |
| ``type(content='hi\\n')``                 | TYPING 'hi', then PRESS enter for a final newline   |
| ``scroll(start_box, direction)``         | MOVE_TO the point, SCROLL 5 clicks that way         |
| ``wait()`` / ``finished()`` / ``call_user()`` | WAIT / DONE / FAIL                             |

``call_user()`` asks a person for help; an unattended run cannot, so it ends the episode as infeasible (FAIL), as
OSWorld's UI-TARS agent does.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from step_envs.actions.reading import Candidate

SCROLL_CLICKS = 5
"""Mouse-wheel clicks of one UI-TARS scroll."""

ACTIONS = ("click", "left_single", "left_double", "right_single", "drag", "hotkey", "press", "keydown", "keyup",
           "type", "scroll", "wait", "finished", "call_user")
_ACTION_LINE = re.compile(r"Action\s*:", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_MARKUP = re.compile(r"<\|box_start\|>|<\|box_end\|>|</?point>|</?bbox>")


def parse_box(text: Any) -> tuple[float, float]:
    """The point of a UI-TARS box string: ``(x,y)``, ``<point>x y</point>``, or the centre of ``(x1,y1,x2,y2)``."""
    if not isinstance(text, str):
        raise ValueError(f"a UI-TARS point is a string like '(x,y)', got {text!r}")
    numbers = [float(n) for n in _NUMBER.findall(_MARKUP.sub(" ", text))]
    if len(numbers) == 2:
        x, y = numbers
    elif len(numbers) == 4:
        x, y = (numbers[0] + numbers[2]) / 2, (numbers[1] + numbers[3]) / 2
    else:
        raise ValueError(f"cannot read a point from {text!r}: expected '(x,y)' or '(x1,y1,x2,y2)'")
    return (int(x) if x.is_integer() else x), (int(y) if y.is_integer() else y)


def _point(kwargs: dict[str, Any], *names: str) -> dict[str, Any]:
    for name in names:
        if name in kwargs:
            x, y = parse_box(kwargs[name])
            return {"x": x, "y": y}
    raise KeyError(names[0])


def _keys(value: Any) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"a key is a non-empty string like 'ctrl c', got {value!r}")
    return [key for key in re.split(r"[\s+]+", value.strip().lower()) if key]


def call_steps(name: str, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """One UI-TARS call as computer_13 steps (see the module table); ValueError/KeyError when it cannot be."""
    if name in ("click", "left_single"):
        return [{"action_type": "CLICK", **_point(kwargs, "start_box", "point"), "button": "left", "num_clicks": 1}]
    if name == "left_double":
        return [{"action_type": "DOUBLE_CLICK", **_point(kwargs, "start_box", "point")}]
    if name == "right_single":
        return [{"action_type": "RIGHT_CLICK", **_point(kwargs, "start_box", "point")}]
    if name == "drag":
        return [{"action_type": "MOVE_TO", **_point(kwargs, "start_box", "start_point")},
                {"action_type": "DRAG_TO", **_point(kwargs, "end_box", "end_point")}]
    if name == "hotkey":
        keys = _keys(kwargs.get("key", kwargs.get("hotkey")))
        return [{"action_type": "PRESS", "key": keys[0]} if len(keys) == 1 else {"action_type": "HOTKEY", "keys": keys}]
    if name in ("press", "keydown", "keyup"):
        kind = {"press": "PRESS", "keydown": "KEY_DOWN", "keyup": "KEY_UP"}[name]
        return [{"action_type": kind, "key": key} for key in _keys(kwargs.get("key", kwargs.get("keys")))]
    if name == "type":
        content = kwargs.get("content", "")
        if not isinstance(content, str):
            raise ValueError(f"type(content=...) takes a string, got {content!r}")
        submit = content.endswith("\n")
        steps = [{"action_type": "TYPING", "text": content.rstrip("\n") if submit else content}]
        return steps + ([{"action_type": "PRESS", "key": "enter"}] if submit else [])
    if name == "scroll":
        direction = str(kwargs.get("direction", "down")).lower()
        amounts = {"down": ("dy", -SCROLL_CLICKS), "up": ("dy", SCROLL_CLICKS),
                   "left": ("dx", -SCROLL_CLICKS), "right": ("dx", SCROLL_CLICKS)}
        if direction not in amounts:
            raise ValueError(f"scroll direction {direction!r}; known: {', '.join(amounts)}")
        axis, amount = amounts[direction]
        move = []
        if "start_box" in kwargs or "point" in kwargs:
            move = [{"action_type": "MOVE_TO", **_point(kwargs, "start_box", "point")}]
        return move + [{"action_type": "SCROLL", axis: amount}]
    control = {"wait": "WAIT", "finished": "DONE", "call_user": "FAIL"}
    if name in control:
        return [{"action_type": control[name]}]
    raise ValueError(f"unknown UI-TARS action {name!r}; known: {', '.join(ACTIONS)}")


def _call(line: str) -> tuple[str, dict[str, Any]]:
    """One line of the action section as (name, keyword arguments); ValueError when it is not such a call."""
    try:
        node = ast.parse(line, mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"cannot read the UI-TARS action {line[:80]!r}: {exc.msg}") from None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        raise ValueError(f"a UI-TARS action is a call like click(start_box='(x,y)'), got {line[:80]!r}")
    if node.args:
        raise ValueError(f"{node.func.id}(...) takes keyword arguments only, e.g. click(start_box='(x,y)')")
    return node.func.id, {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}


def uitars_candidates(text: str) -> list[Candidate]:
    """One candidate per line after the last ``Action:`` (several actions are written one per line): its
    computer_13 steps, or why it cannot be read."""
    matches = list(_ACTION_LINE.finditer(text))
    start = matches[-1].end() if matches else 0
    candidates = []
    for line in text[start:].splitlines():
        if not line.strip():
            continue
        try:
            name, kwargs = _call(line.strip())
            candidates.append(Candidate(start, "steps", call_steps(name, kwargs)))
        except KeyError as exc:
            candidates.append(Candidate(start, "error", f"{name} needs {exc.args[0]}='(x,y)'"))
        except ValueError as exc:
            candidates.append(Candidate(start, "error", str(exc)))
    return candidates


def uitars_text(steps: list[dict[str, Any]]) -> str:
    """computer_13 steps (points already in the model's frame) written as one UI-TARS action, for the action
    history of a prompt; the inverse of `call_steps`. ValueError for steps UI-TARS has no call for."""
    def box(step: dict[str, Any]) -> str:
        return f"'({step['x']},{step['y']})'"

    kinds = [step["action_type"] for step in steps]
    if not kinds:
        raise ValueError("no steps")
    if kinds == ["MOVE_TO", "DRAG_TO"]:
        return f"drag(start_box={box(steps[0])}, end_box={box(steps[1])})"
    if kinds == ["TYPING", "PRESS"] and steps[1]["key"] == "enter":
        return f"type(content={steps[0]['text'] + chr(10)!r})"
    scroll = steps[-1] if kinds[-1] == "SCROLL" and kinds[:-1] in ([], ["MOVE_TO"]) else None
    if scroll is not None:
        dy, dx = int(scroll.get("dy", 0)), int(scroll.get("dx", 0))
        direction = ("down" if dy < 0 else "up") if dy else ("left" if dx < 0 else "right")
        where = f"start_box={box(steps[0])}, " if len(steps) == 2 else ""
        return f"scroll({where}direction='{direction}')"
    if len(steps) != 1:
        raise ValueError(f"no UI-TARS form for {' + '.join(kinds)}")
    step, kind = steps[0], kinds[0]
    if kind == "CLICK" and "x" in step:
        if step.get("button", "left") == "right":
            return f"right_single(start_box={box(step)})"
        return f"{'left_double' if int(step.get('num_clicks', 1)) == 2 else 'click'}(start_box={box(step)})"
    if kind in ("DOUBLE_CLICK", "RIGHT_CLICK") and "x" in step:
        return f"{'left_double' if kind == 'DOUBLE_CLICK' else 'right_single'}(start_box={box(step)})"
    if kind == "TYPING":
        return f"type(content={step['text']!r})"
    if kind == "HOTKEY":
        return f"hotkey(key={' '.join(step['keys'])!r})"
    if kind in ("PRESS", "KEY_DOWN", "KEY_UP"):
        return f"{ {'PRESS': 'hotkey', 'KEY_DOWN': 'keydown', 'KEY_UP': 'keyup'}[kind]}(key={step['key']!r})"
    if kind in ("WAIT", "DONE", "FAIL"):
        return {"WAIT": "wait()", "DONE": "finished()", "FAIL": "call_user()"}[kind]
    raise ValueError(f"no UI-TARS form for {kind}")
