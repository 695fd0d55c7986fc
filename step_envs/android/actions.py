"""AndroidWorld's JSON actions: parsing, validation, and the adb commands (or touch gestures) each one becomes.

An action is a JSON object (or its string), e.g. ``{"action_type": "click", "x": 540, "y": 1200}`` or
``{"action_type": "click", "index": 3}`` (an element of the last UI tree). The names and fields are
AndroidWorld's (``android_world/env/json_action.py``) so agents and prompts written for it work unchanged;
the translation into adb commands follows its ``actuation.py`` (scroll moves the content, swipe the finger;
``input_text`` taps its target first and presses Enter after typing).

Parsing never touches the device and raises :class:`ActionError` on bad input; the env turns that into
``info["action_error"]``.
"""

from __future__ import annotations

import json
import numbers
import shlex
from dataclasses import asdict, dataclass
from typing import Any

from step_envs.android.ui import UIElement

ACTION_TYPES = ("click", "double_tap", "long_press", "input_text", "scroll", "swipe", "navigate_home",
                "navigate_back", "keyboard_enter", "open_app", "wait", "status", "answer")
POINTER_ACTIONS = ("click", "double_tap", "long_press")
DIRECTIONS = ("up", "down", "left", "right")
GOAL_STATUSES = ("complete", "infeasible")
MAX_ACTION_CHARS = 8192
ACTION_SPACE = "android"
"""What `Turn.action_space` says to an agent acting on an `AndroidEnv`: one JSON action of :data:`ACTION_TYPES`."""
LONG_PRESS_MS = 1000
SWIPE_MS = 500
_FIELDS: dict[str, frozenset[str]] = {
    "click": frozenset({"x", "y", "index"}), "double_tap": frozenset({"x", "y", "index"}),
    "long_press": frozenset({"x", "y", "index"}), "input_text": frozenset({"text", "x", "y", "index", "clear_text"}),
    "scroll": frozenset({"direction", "index"}), "swipe": frozenset({"direction"}),
    "navigate_home": frozenset(), "navigate_back": frozenset(), "keyboard_enter": frozenset(),
    "open_app": frozenset({"app_name"}), "wait": frozenset(), "status": frozenset({"goal_status"}),
    "answer": frozenset({"text"}),
}
# Apps by the intent that opens them on any stock image: AOSP and Google builds ship different packages for the
# same app (com.android.contacts / com.google.android.contacts), but both answer these intents.
APP_INTENTS: dict[str, list[str]] = {
    "settings": ["-a", "android.settings.SETTINGS"],
    "contacts": ["-a", "android.intent.action.MAIN", "-c", "android.intent.category.APP_CONTACTS"],
    "messages": ["-a", "android.intent.action.MAIN", "-c", "android.intent.category.APP_MESSAGING"],
    "calendar": ["-a", "android.intent.action.MAIN", "-c", "android.intent.category.APP_CALENDAR"],
    "files": ["-a", "android.intent.action.MAIN", "-c", "android.intent.category.APP_FILES"],
    "clock": ["-a", "android.intent.action.SHOW_ALARMS"],
    "camera": ["-a", "android.media.action.STILL_IMAGE_CAMERA"],
    "phone": ["-a", "android.intent.action.DIAL"],
    "browser": ["-a", "android.intent.action.MAIN", "-c", "android.intent.category.APP_BROWSER"],
    "gallery": ["-a", "android.intent.action.MAIN", "-c", "android.intent.category.APP_GALLERY"],
    "email": ["-a", "android.intent.action.MAIN", "-c", "android.intent.category.APP_EMAIL"],
}
APP_ALIASES = {"system settings": "settings", "sms": "messages", "messaging": "messages", "file manager": "files",
               "alarm": "clock", "dialer": "phone", "chrome": "browser", "photos": "gallery", "gmail": "email",
               "google contacts": "contacts", "google messages": "messages", "google calendar": "calendar",
               "google clock": "clock", "google files": "files", "files by google": "files"}


class ActionError(ValueError):
    """The action is malformed or cannot apply to this screen; reported in ``info["action_error"]``."""


@dataclass(frozen=True)
class AndroidAction:
    """One AndroidWorld JSON action, parsed and checked (:func:`parse_action`): ``action_type`` and the fields
    it takes (a point ``x``/``y`` or an element ``index``, ``text``, ``direction``, ``app_name``, ``goal_status``).
    """

    action_type: str
    x: int | None = None
    y: int | None = None
    index: int | None = None
    text: str | None = None
    direction: str | None = None
    app_name: str | None = None
    goal_status: str | None = None
    clear_text: bool = False

    def to_json(self) -> str:
        data = {key: value for key, value in asdict(self).items() if value is not None and value is not False}
        return json.dumps(data, separators=(",", ":"))


@dataclass(frozen=True)
class Gesture:
    """A pointer gesture in screen pixels: a tap, double tap, long press or swipe (``start`` -> ``end``)."""

    kind: str
    start: tuple[int, int]
    end: tuple[int, int]
    duration_ms: int = 0

    def adb_commands(self) -> list[list[str]]:
        (x1, y1), (x2, y2) = self.start, self.end
        tap = ["shell", "input", "tap", str(x1), str(y1)]
        if self.kind == "tap":
            return [tap]
        if self.kind == "double_tap":
            return [tap, list(tap)]
        return [["shell", "input", "swipe", str(x1), str(y1), str(x2), str(y2), str(self.duration_ms)]]


Step = Gesture | list[str]
"""One thing to do on the device: a gesture, or an adb command (``args`` after ``adb -s SERIAL``)."""


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != int(value):
        raise ActionError(f"{name} must be an integer, got {value!r}")
    return int(value)


def parse_action(action: Any) -> AndroidAction:
    """A dict or JSON string -> a validated :class:`AndroidAction` (fields as in AndroidWorld's JSONAction)."""
    if isinstance(action, AndroidAction):
        return action
    if isinstance(action, str):
        if len(action) > MAX_ACTION_CHARS:
            raise ActionError(f"action is {len(action)} characters; the limit is {MAX_ACTION_CHARS}")
        try:
            action = json.loads(action)
        except json.JSONDecodeError as exc:
            raise ActionError(f"action is not valid JSON ({exc.msg} at character {exc.pos}); expected e.g. "
                              '{"action_type": "click", "x": 100, "y": 200}') from exc
    if not isinstance(action, dict):
        raise ActionError(f"an action is a JSON object with an action_type, got {type(action).__name__}")
    kind = action.get("action_type")
    if kind not in _FIELDS:
        raise ActionError(f"unknown action_type {kind!r}; known: {', '.join(ACTION_TYPES)}")
    fields = {key: value for key, value in action.items() if key != "action_type" and value is not None}
    extra = set(fields) - _FIELDS[kind]
    if extra:
        allowed = ", ".join(sorted(_FIELDS[kind])) or "none"
        raise ActionError(f"{kind} takes no {', '.join(sorted(extra))} (its fields: {allowed})")
    return _validated(kind, fields)


def _validated(kind: str, fields: dict[str, Any]) -> AndroidAction:
    values: dict[str, Any] = {}
    for name in ("x", "y", "index"):
        if name in fields:
            values[name] = _int(fields[name], name)
    if ("x" in values) != ("y" in values):
        raise ActionError(f"{kind} needs both x and y")
    if "index" in values and "x" in values:
        raise ActionError(f"{kind}: give either an element index or x, y, not both")
    if kind in POINTER_ACTIONS and "index" not in values and "x" not in values:
        raise ActionError(f"{kind} needs x and y, or an element index")
    if "text" in fields or kind in ("input_text", "answer"):
        if not isinstance(fields.get("text"), str):
            raise ActionError(f"{kind} needs a text string, got {fields.get('text')!r}")
        values["text"] = fields["text"]
    if kind in ("scroll", "swipe"):
        if fields.get("direction") not in DIRECTIONS:
            raise ActionError(f"{kind} direction must be one of {', '.join(DIRECTIONS)}, got {fields.get('direction')!r}")
        values["direction"] = fields["direction"]
    if kind == "open_app":
        if not isinstance(fields.get("app_name"), str) or not fields["app_name"].strip():
            raise ActionError("open_app needs an app_name")
        values["app_name"] = fields["app_name"]
    if kind == "status":
        if fields.get("goal_status") not in GOAL_STATUSES:
            raise ActionError(f"status goal_status must be one of {', '.join(GOAL_STATUSES)}, "
                              f"got {fields.get('goal_status')!r}")
        values["goal_status"] = fields["goal_status"]
    if "clear_text" in fields:
        if not isinstance(fields["clear_text"], bool):
            raise ActionError(f"clear_text must be true or false, got {fields['clear_text']!r}")
        values["clear_text"] = fields["clear_text"]
    return AndroidAction(kind, **values)


def _element(index: int, elements: list[UIElement]) -> UIElement:
    if not 0 <= index < len(elements):
        raise ActionError(f"no element {index} on this screen; the UI tree has {len(elements)} "
                          f"(indices 0-{len(elements) - 1})" if elements else
                          f"no element {index}: the UI tree is empty (use x, y)")
    return elements[index]


def target_point(action: AndroidAction, elements: list[UIElement], screen: tuple[int, int]) -> tuple[int, int]:
    """Where a pointer action lands: its x, y, or the centre of its element, checked against the screen."""
    if action.index is not None:
        return _element(action.index, elements).center
    assert action.x is not None and action.y is not None
    width, height = screen
    if not (0 <= action.x < width and 0 <= action.y < height):
        raise ActionError(f"({action.x}, {action.y}) is outside the {width}x{height} screen")
    return action.x, action.y


def _scroll(action: AndroidAction, elements: list[UIElement], screen: tuple[int, int]) -> Gesture:
    """Scroll moves the content: ``down`` drags from the centre of the region to its top edge."""
    width, height = screen
    left, top, right, bottom = 0, 0, width - 1, height - 1
    if action.index is not None:
        box = _element(action.index, elements).bounds
        left, top, right, bottom = max(box[0], 0), max(box[1], 0), min(box[2], width - 1), min(box[3], height - 1)
    cx, cy = (left + right) // 2, (top + bottom) // 2
    end = {"down": (cx, top), "up": (cx, bottom), "right": (left, cy), "left": (right, cy)}[action.direction or ""]
    return Gesture("swipe", (cx, cy), end, SWIPE_MS)


def _swipe(action: AndroidAction, screen: tuple[int, int]) -> Gesture:
    """Swipe moves the finger across the whole screen: ``down`` from the top edge (opens notifications)."""
    width, height = screen
    mx, my = width // 2, height // 2
    start, end = {"down": ((mx, 0), (mx, height - 1)), "up": ((mx, height - 1), (mx, 0)),
                  "left": ((0, my), (width - 1, my)), "right": ((width - 1, my), (0, my))}[action.direction or ""]
    return Gesture("swipe", start, end, SWIPE_MS)


def _keyevent(code: str) -> list[str]:
    return ["shell", "input", "keyevent", code]


def type_text_commands(text: str) -> list[list[str]]:
    """``input text`` per line (spaces as ``%s``, which ``input`` turns back into spaces), Enter between lines."""
    if not text.isascii():
        bad = next(char for char in text if not char.isascii())
        raise ActionError(f"input_text can only type ASCII over adb (got {bad!r}); the stock keyboard has no "
                          "adb route for other characters")
    commands: list[list[str]] = []
    for number, line in enumerate(text.split("\n")):
        if number:
            commands.append(_keyevent("KEYCODE_ENTER"))
        if line:
            commands.append(["shell", "input", "text", shlex.quote(line.replace(" ", "%s"))])
    return commands


def open_app_command(app_name: str) -> list[str]:
    """``am start`` with the intent that opens the app, or ``monkey -p`` for a package name."""
    name = app_name.strip().lower()
    name = APP_ALIASES.get(name, name)
    if name in APP_INTENTS:
        return ["shell", "am", "start", *APP_INTENTS[name]]
    if "." in name and " " not in name:
        return ["shell", "monkey", "-p", app_name.strip(), "-c", "android.intent.category.LAUNCHER", "1"]
    raise ActionError(f"unknown app {app_name!r}; known: {', '.join(sorted(APP_INTENTS))} (or a package name)")


def plan(action: AndroidAction, elements: list[UIElement], screen: tuple[int, int]) -> list[Step]:
    """The steps that carry out ``action`` on a ``screen`` = (width, height) device; [] for wait/status/answer."""
    kind = action.action_type
    if kind in POINTER_ACTIONS:
        point = target_point(action, elements, screen)
        gesture = {"click": "tap", "double_tap": "double_tap", "long_press": "long_press"}[kind]
        return [Gesture(gesture, point, point, LONG_PRESS_MS if kind == "long_press" else 0)]
    if kind == "input_text":
        steps: list[Step] = []
        if action.index is not None or action.x is not None:
            point = target_point(action, elements, screen)
            steps.append(Gesture("tap", point, point))
        if action.clear_text:
            steps += [["shell", "input", "keycombination", "KEYCODE_CTRL_LEFT", "KEYCODE_A"], _keyevent("KEYCODE_DEL")]
        return [*steps, *type_text_commands(action.text or ""), _keyevent("KEYCODE_ENTER")]
    if kind == "scroll":
        return [_scroll(action, elements, screen)]
    if kind == "swipe":
        return [_swipe(action, screen)]
    if kind in ("navigate_home", "navigate_back", "keyboard_enter"):
        code = {"navigate_home": "KEYCODE_HOME", "navigate_back": "KEYCODE_BACK", "keyboard_enter": "KEYCODE_ENTER"}
        return [_keyevent(code[kind])]
    if kind == "open_app":
        return [open_app_command(action.app_name or "")]
    return []


def adb_commands(steps: list[Step]) -> list[list[str]]:
    """Every step as adb commands (gestures as ``input tap`` / ``input swipe``)."""
    commands: list[list[str]] = []
    for step in steps:
        commands += step.adb_commands() if isinstance(step, Gesture) else [step]
    return commands
