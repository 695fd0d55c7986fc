"""Reading a model's free-form reply into an action the desktop env executes (the code-writing dialects).

Used through an `ActionSet` (`step_envs.actions`) by the benchmark agents (`openai`, `hf`) and the trainer's policy,
so a reply scores the same way in a benchmark and in training. It reads, in this order of preference:

- fenced code blocks (```` ```python ````, ```` ``` ````, ```` ```json ````), one candidate per block, and
  ``<tool_call>{...}</tool_call>`` blocks (Qwen's ``computer_use`` tool: ``{"name": "computer_use",
  "arguments": {"action": "left_click", "coordinate": [x, y]}}``); when there are any, the prose around them is
  commentary and is not searched;
- else the whole reply when it is Python calling pyautogui, computer_13 JSON, or a bare ``WAIT`` / ``DONE`` / ``FAIL``;
- otherwise the prose: ``pyautogui.<fn>(...)`` calls, JSON objects that name an action, and the words ``WAIT`` /
  ``DONE`` / ``FAIL`` written in capitals.

Several actions: every candidate is converted in order of appearance into ``ParsedReply.actions``; the action
executed is the **first** one (a code block is one action however many calls it makes; a computer_13 list or a
code block parsed for the computer_13 space gives one action per call). A caller that wants all of them joins
``actions`` itself. If the first candidate cannot be executed (syntax error, an unknown action, a point off the
screen), ``error`` says why and ``action`` is ``WAIT``: a bad reply is a no-op step, never a crash.

Coordinates: every point is mapped by the dialect's ``scale`` function (see `frames`) from the frame the model
writes in (screen pixels, the 0-1000 grid, the resized image's pixels) to screen pixels, before validation.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from step_envs.actions.env_actions import (
    CONTROL_TOKENS,
    PARSERS,
    POINT_FUNCTIONS,
    SCROLL_FUNCTIONS,
    computer13_to_code,
)

Scale = Callable[[Any, Any], tuple[Any, Any]]
"""Maps a point as the model wrote it to screen pixels (ValueError when it cannot)."""


@dataclass
class ParsedReply:
    """What `parse_reply` read: the action to execute, why it could not (``error``), every action found."""

    action: str
    error: str | None = None
    actions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PyautoguiCall:
    """One ``pyautogui.<name>(...)`` call with its arguments evaluated as Python literals."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def pyautogui_calls(code: str) -> list[PyautoguiCall]:
    """The pyautogui calls of a snippet in source order; other statements are ignored.

    Raises SyntaxError when the code does not parse and ValueError when an argument is not a literal
    (``pyautogui.click(x, 200)``): such a call cannot be read without running the code.
    """
    calls = [node for node in ast.walk(ast.parse(code))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and isinstance(node.func.value, ast.Name) and node.func.value.id == "pyautogui"]
    calls.sort(key=lambda node: (node.lineno, node.col_offset))
    return [PyautoguiCall(call.func.attr, tuple(ast.literal_eval(arg) for arg in call.args),
                          {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg is not None})
            for call in calls]


def computer13_params(data: dict[str, Any]) -> dict[str, Any]:
    """A computer_13 action flat (``{"action_type": "CLICK", "x": 1, "y": 2}``), also when its parameters
    were nested under ``"parameters"`` as some models write them."""
    nested = data.get("parameters")
    flat = {k: v for k, v in data.items() if k != "parameters"}
    if isinstance(nested, dict):
        flat.update(nested)
    return flat


# --- coordinates ------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _literal_number(node: ast.expr) -> float | int:
    try:
        value = ast.literal_eval(node)
    except ValueError:
        value = None
    if not _is_number(value):
        raise ValueError(f"a coordinate must be a number, got {ast.unparse(node)}")
    return value


class _PointScaler(ast.NodeTransformer):
    """Rewrites the literal points of pyautogui calls with `scale` (model frame -> screen, or back)."""

    def __init__(self, scale: Scale) -> None:
        self.scale = scale

    def _scaled(self, x_node: ast.expr, y_node: ast.expr) -> tuple[ast.expr, ast.expr]:
        x, y = self.scale(_literal_number(x_node), _literal_number(y_node))
        return ast.Constant(x), ast.Constant(y)

    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        name = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if name not in POINT_FUNCTIONS | SCROLL_FUNCTIONS:
            return node
        first = 1 if name in SCROLL_FUNCTIONS else 0
        args, keywords = list(node.args), {kw.arg: kw for kw in node.keywords}
        if name in POINT_FUNCTIONS and len(args) > first and isinstance(args[first], ast.Tuple | ast.List):
            point = args[first].elts
            if len(point) == 2:
                args[first] = ast.Tuple(list(self._scaled(*point)), ast.Load())
        elif len(args) >= first + 2:
            args[first], args[first + 1] = self._scaled(args[first], args[first + 1])
        elif "x" in keywords and "y" in keywords:
            keywords["x"].value, keywords["y"].value = self._scaled(keywords["x"].value, keywords["y"].value)
        node.args = args
        return node


def scale_code(code: str, scale: Scale | None) -> str:
    """pyautogui code with the literal point of every point-taking call mapped by `scale` (as is when None)."""
    if scale is None:
        return code
    tree = _PointScaler(scale).visit(ast.parse(code))
    return ast.unparse(ast.fix_missing_locations(tree))


# --- from what the model wrote to computer_13 dicts ---------------------------------------------------------

_QWEN_CLICKS = {"left_click": ("CLICK", 1), "click": ("CLICK", 1), "double_click": ("DOUBLE_CLICK", 2),
                "triple_click": ("CLICK", 3), "right_click": ("RIGHT_CLICK", 1), "middle_click": ("CLICK", 1)}


def _qwen_to_computer13(data: dict[str, Any]) -> dict[str, Any]:
    """Qwen's computer_use tool arguments (``{"action": "left_click", "coordinate": [x, y]}``) as computer_13."""
    args = data.get("arguments", data)
    if isinstance(args, str):  # some servers send the arguments JSON-encoded
        args = json.loads(args)
    action = str(args.get("action", "")).lower()
    point = args.get("coordinate")
    xy = {"x": point[0], "y": point[1]} if isinstance(point, list | tuple) and len(point) == 2 else {}
    if action in _QWEN_CLICKS:
        kind, clicks = _QWEN_CLICKS[action]
        result = {"action_type": kind, **xy}
        if kind == "CLICK":
            result.update(num_clicks=clicks, button="middle" if action == "middle_click" else "left")
        return result
    simple = {"mouse_move": "MOVE_TO", "left_click_drag": "DRAG_TO"}
    if action in simple:
        return {"action_type": simple[action], **xy}
    if action == "type":
        return {"action_type": "TYPING", "text": args.get("text")}
    if action == "key":
        keys = args.get("keys") or args.get("key")
        keys = [keys] if isinstance(keys, str) else keys
        if isinstance(keys, list) and len(keys) == 1:
            return {"action_type": "PRESS", "key": keys[0]}
        return {"action_type": "HOTKEY", "keys": keys}
    if action == "scroll":
        return {"action_type": "SCROLL", "dy": args.get("pixels", 0), **xy}
    if action == "wait":
        return {"action_type": "WAIT"}
    if action == "terminate":
        return {"action_type": "DONE" if args.get("status", "success") == "success" else "FAIL"}
    raise ValueError(f"unknown computer_use action {action!r}")


def _json_to_computer13(data: Any) -> list[dict[str, Any]]:
    """computer_13 JSON (one object or a list) or a Qwen computer_use call as flat computer_13 dicts."""
    items = data if isinstance(data, list) else [data]
    result = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError(f"an action is a JSON object, got {json.dumps(item)[:80]}")
        if "action_type" in item:
            flat = computer13_params(item)
            flat["action_type"] = str(flat["action_type"]).upper()
            result.append(flat)
        elif "action" in item or "arguments" in item:
            result.append(_qwen_to_computer13(item))
        else:
            raise ValueError("the JSON names no action: expected 'action_type' (computer_13) or a computer_use call")
    if not result:
        raise ValueError("an empty list of actions")
    return result


def _point_kwargs(call: PyautoguiCall, first: int = 0) -> dict[str, Any]:
    args = call.args
    if len(args) > first and isinstance(args[first], list | tuple) and len(args[first]) == 2:
        return {"x": args[first][0], "y": args[first][1]}
    if len(args) >= first + 2:
        return {"x": args[first], "y": args[first + 1]}
    return {k: call.kwargs[k] for k in ("x", "y") if k in call.kwargs}


def call_to_computer13(call: PyautoguiCall) -> list[dict[str, Any]]:
    """One pyautogui call as computer_13 actions (``press(['a', 'b'])`` is two)."""
    name, args, kwargs = call.name, call.args, call.kwargs
    point = _point_kwargs(call, 1 if name in SCROLL_FUNCTIONS else 0)
    button = kwargs.get("button", "left")
    if name in ("click", "leftClick"):
        return [{"action_type": "CLICK", **point, "button": button, "num_clicks": int(kwargs.get("clicks", 1))}]
    if name == "tripleClick":
        return [{"action_type": "CLICK", **point, "button": button, "num_clicks": 3}]
    if name == "middleClick":
        return [{"action_type": "CLICK", **point, "button": "middle", "num_clicks": 1}]
    simple = {"rightClick": "RIGHT_CLICK", "doubleClick": "DOUBLE_CLICK", "moveTo": "MOVE_TO", "dragTo": "DRAG_TO"}
    if name in simple:
        return [{"action_type": simple[name], **point}]
    if name in ("mouseDown", "mouseUp"):
        return [{"action_type": "MOUSE_DOWN" if name == "mouseDown" else "MOUSE_UP", "button": button}]
    if name in ("write", "typewrite"):
        text = args[0] if args else kwargs.get("message")
        if isinstance(text, list):
            return [{"action_type": "PRESS", "key": key} for key in text]
        return [{"action_type": "TYPING", "text": text}]
    if name in ("press", "keyDown", "keyUp"):
        keys = args[0] if args else kwargs.get("keys", kwargs.get("key"))
        kind = {"press": "PRESS", "keyDown": "KEY_DOWN", "keyUp": "KEY_UP"}[name]
        return [{"action_type": kind, "key": key} for key in (keys if isinstance(keys, list) else [keys])]
    if name == "hotkey":
        return [{"action_type": "HOTKEY", "keys": list(args) or kwargs.get("keys")}]
    if name in SCROLL_FUNCTIONS:
        amount = args[0] if args else kwargs.get("clicks", 0)
        return [{"action_type": "SCROLL", "dx" if name == "hscroll" else "dy": amount, **point}]
    raise ValueError(f"pyautogui.{name} has no computer_13 equivalent")


def scale_computer13(action: dict[str, Any], scale: Scale | None) -> dict[str, Any]:
    """A computer_13 dict with its point mapped by `scale` (as is when None or when it has no point)."""
    if scale is not None and "x" in action and "y" in action:
        action = dict(action)
        action["x"], action["y"] = scale(action["x"], action["y"])
    return action


# --- finding candidates in the text ------------------------------------------------------------------------

_FENCE = re.compile(r"```([^\n`]*)\n?(.*?)(?:```|\Z)", re.DOTALL)
_LANGUAGE_TAG = re.compile(r"[A-Za-z0-9_+.-]*")
_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)
_CONTROL_WORD = re.compile(r"\b(" + "|".join(CONTROL_TOKENS) + r")\b")
_PYAUTOGUI_CALL = re.compile(r"pyautogui\s*\.\s*\w+\s*\(")
_ACTION_KEYS = ("action_type", "action", "arguments")


@dataclass
class Candidate:
    """Something in the reply that looks like an action: code, parsed JSON, a control word, or an error."""

    pos: int
    kind: str
    """``code``, ``json``, ``control``, ``steps`` (a list of computer_13 dicts that form one action) or ``error``."""
    value: Any


def _balanced_end(text: str, start: int, open_char: str, close_char: str) -> int | None:
    """Index just past the bracket that closes the one at ``start``, skipping quoted strings; None if unclosed."""
    depth, quote, i = 0, "", start
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == open_char:
            depth += 1
        elif char == close_char:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def _split_controls(body: str, pos: int) -> list[Candidate]:
    """A block's lines: runs of code become one code candidate, lines that are a control token their own."""
    candidates: list[Candidate] = []
    code: list[str] = []

    def flush() -> None:
        snippet = "\n".join(code).strip()
        code.clear()
        if snippet:
            candidates.append(_code_candidate(snippet, pos))

    for line in body.splitlines():
        token = line.strip().rstrip(".").upper()
        if token in CONTROL_TOKENS:
            flush()
            candidates.append(Candidate(pos, "control", token))
        else:
            code.append(line)
    flush()
    return candidates


def _code_candidate(code: str, pos: int) -> Candidate:
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return Candidate(pos, "error", f"the code does not parse: {exc.msg} (line {exc.lineno})")
    except ValueError as exc:  # a NUL byte in the code (random models write them)
        return Candidate(pos, "error", f"the code does not parse: {exc}")
    if not any(isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "pyautogui"
               for node in ast.walk(tree)):
        return Candidate(pos, "error", "the code calls no pyautogui function")
    return Candidate(pos, "code", code)


def _block_candidates(body: str, pos: int) -> list[Candidate]:
    """The candidates of a fenced block or of a whole reply: JSON, or code with control lines split off."""
    stripped = body.strip()
    if not stripped:
        return []
    if stripped.upper().rstrip(".") in CONTROL_TOKENS:
        return [Candidate(pos, "control", stripped.upper().rstrip("."))]
    if stripped[0] in "{[":
        try:
            return [Candidate(pos, "json", json.loads(stripped))]
        except json.JSONDecodeError as exc:
            return [Candidate(pos, "error", f"the JSON does not parse: {exc}")]
    return _split_controls(stripped, pos)


def _mask(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _prose_candidates(text: str) -> list[Candidate]:
    """pyautogui calls, action JSON objects and capitalized control words anywhere in prose."""
    found: list[Candidate] = []
    covered = 0
    for match in _PYAUTOGUI_CALL.finditer(text):
        end = _balanced_end(text, match.end() - 1, "(", ")")
        if match.start() >= covered and end is not None:
            found.append(_code_candidate(text[match.start():end], match.start()))
            text, covered = _mask(text, match.start(), end), end
    start = text.find("{")
    while start != -1:
        end = _balanced_end(text, start, "{", "}")
        try:
            data = json.loads(text[start:end]) if end is not None else None
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and any(key in data for key in _ACTION_KEYS):
            found.append(Candidate(start, "json", data))
            text = _mask(text, start, end)
        start = text.find("{", start + 1)
    found.extend(Candidate(m.start(), "control", m.group(1)) for m in _CONTROL_WORD.finditer(text))
    return sorted(found, key=lambda candidate: candidate.pos)


def find_candidates(text: str) -> list[Candidate]:
    """Every action-like piece of the reply, in order of preference then of appearance (see the module doc)."""
    blocks: list[Candidate] = []
    masked = text
    for pattern in (_FENCE, _TOOL_CALL):
        for match in pattern.finditer(masked):
            if pattern is _FENCE:
                tag, body = match.group(1), match.group(2)
                if not _LANGUAGE_TAG.fullmatch(tag.strip()) or not body.strip():  # ```DONE``` on one line
                    body = tag + "\n" + body
            else:
                body = match.group(1)
            blocks.extend(_block_candidates(body, match.start()))
            masked = _mask(masked, match.start(), match.end())
    if blocks:
        return sorted(blocks, key=lambda candidate: candidate.pos)
    whole = _block_candidates(text, 0)
    if whole and whole[0].kind != "error":
        return whole
    return _prose_candidates(text) or (whole if text.lstrip()[:1] in ("{", "[") else [])


# --- the entry point ---------------------------------------------------------------------------------------


def _to_actions(candidate: Candidate, action_space: str, screen_size: tuple[int, int],
                scale: Scale | None) -> list[str]:
    """A candidate as executable actions of ``action_space``; ValueError/SyntaxError/TypeError/KeyError if not.

    ``steps`` candidates (one model action made of several computer_13 steps, e.g. UI-TARS's drag) are one
    pyautogui action, or one computer_13 action per step."""
    if candidate.kind == "error":
        raise ValueError(candidate.value)
    if candidate.kind == "control":
        return [candidate.value]
    if candidate.kind == "code" and action_space == "pyautogui":
        return [scale_code(candidate.value, scale)]
    if candidate.kind == "code":
        dicts = [d for call in pyautogui_calls(candidate.value) for d in call_to_computer13(call)]
    elif candidate.kind == "steps":
        dicts = list(candidate.value)
    else:
        dicts = _json_to_computer13(candidate.value)
    dicts = [scale_computer13(d, scale) for d in dicts]
    actions = []
    for action in dicts:
        if action["action_type"] in CONTROL_TOKENS:
            actions.append(action["action_type"])
        elif action_space == "pyautogui":
            actions.append(computer13_to_code(action, *screen_size))
        else:
            actions.append(json.dumps(action))
    if candidate.kind == "steps" and action_space == "pyautogui" and len(actions) > 1:
        return ["\n".join(actions)]
    return actions


def _validated(actions: list[str], action_space: str, screen_size: tuple[int, int]) -> list[str]:
    for action in actions:
        checked = PARSERS[action_space](action, *screen_size)
        if checked.error:
            raise ValueError(checked.error)
    return actions


def read_reply(text: str, candidates: list[Candidate], action_space: str, screen_size: tuple[int, int],
               scale: Scale | None, expected: str) -> ParsedReply:
    """The first executable action among `candidates` (found in `text` by a dialect); `expected` says what the
    dialect reads, for the error of a reply in which nothing was found. Never raises on bad text."""
    if not isinstance(text, str) or not text.strip():
        return ParsedReply("WAIT", f"empty reply: expected {expected}")
    first_error: str | None = None
    actions: list[str] = []
    for index, candidate in enumerate(candidates):
        try:
            actions.extend(_validated(_to_actions(candidate, action_space, screen_size, scale),
                                      action_space, screen_size))
        except (ValueError, SyntaxError, TypeError, KeyError, AttributeError) as exc:
            message = str(exc) if not isinstance(exc, KeyError) else f"missing parameter {exc}"
            if index == 0:
                first_error = message
    if first_error is not None:
        return ParsedReply("WAIT", first_error, actions)
    if not actions:
        snippet = " ".join(text.split())[:80]
        return ParsedReply("WAIT", f"no action found in the reply ({snippet!r}); expected {expected}")
    return ParsedReply(actions[0], None, actions)
