"""Building one widget screen: seeded positions, the app's spec, the setup step that starts it, the checker, and
the pyautogui actions that operate each widget at its exact pixels.

The app (:mod:`step_envs.widgets.app`) places every widget at the box given here in a fullscreen window, so a
widget's centre on screen is known when the task is generated, and a solution can click it blind. The builder
also owns the state: every widget gets its key and initial value here, and the checker compares the app's
whole state file against the expected one (every key, so a stray click or tick scores 0).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

STATE_PATH = "~/.widgets/state.json"
WINDOW_TITLE = "Widget task"
LEFT, RIGHT, TOP, BOTTOM = 40, 760, 84, 580
"""The area widgets are laid out in: the app needs a screen of at least 800x600."""
ROW_HEIGHT = 36
LABEL_WIDTH = 120
# The app runs by path, found without importing step_envs (~1 s): ``python -S`` skips site-packages (the editable
# install's import hook alone costs tens of ms) and finds the checkout on PYTHONPATH, which the session sets; an
# installed package is found after a late ``site.main()``. argv[1:] reach ``app.main``.
BOOTSTRAP = """import os, sys
app = next((path for path in (os.path.join(base, "step_envs", "widgets", "app.py") for base in sys.path if base)
            if os.path.isfile(path)), None)
if app is None:
    import importlib.util, site
    site.main()
    app = os.path.join(importlib.util.find_spec("step_envs").submodule_search_locations[0], "widgets", "app.py")
with open(app, encoding="utf-8") as source:
    code = compile(source.read(), app, "exec")
exec(code, {"__name__": "__main__", "__file__": app})"""


@dataclass(frozen=True)
class Box:
    """A widget's rectangle on screen, in pixels."""

    x: int
    y: int
    w: int
    h: int

    @property
    def center(self) -> tuple[int, int]:
        return self.x + self.w // 2, self.y + self.h // 2


def click(point: tuple[int, int]) -> str:
    return f"pyautogui.click({point[0]}, {point[1]})"


def write(text: str) -> str:
    return f"pyautogui.write({text!r})"


class Form:
    """Lays widgets out top to bottom (each row at a seeded left margin and gap) and records their state."""

    def __init__(self, rng: random.Random, instruction: str) -> None:
        self.rng, self.instruction = rng, instruction
        self.widgets: list[dict[str, Any]] = []
        self.state: dict[str, Any] = {"clicks": []}
        self._bottom = TOP

    # --- layout --------------------------------------------------------------------------------------

    def _row(self, width: int, height: int = ROW_HEIGHT) -> Box:
        """The next row's box: a random gap below the previous row, a random left margin."""
        y = self._bottom + self.rng.randint(14, 34)
        x = self.rng.randint(LEFT, max(LEFT, min(LEFT + 200, RIGHT - width)))
        if y + height > BOTTOM:
            raise ValueError(f"the widgets do not fit in {BOTTOM} px; use fewer rows")
        self._bottom = y + height
        return Box(x, y, width, height)

    def _flow(self, widths: list[int], height: int = ROW_HEIGHT) -> list[Box]:
        """Boxes side by side with random gaps, wrapping onto a new row at the right edge."""
        boxes: list[Box] = []
        row = self._row(0, height)
        x = row.x
        for width in widths:
            if x + width > RIGHT:
                row = self._row(0, height)
                x = row.x
            boxes.append(Box(x, row.y, width, height))
            x += width + self.rng.randint(16, 48)
        return boxes

    def _add(self, kind: str, box: Box, **fields: Any) -> None:
        self.widgets.append({"kind": kind, "x": box.x, "y": box.y, "w": box.w, "h": box.h, **fields})

    def _labelled(self, name: str, width: int, height: int = ROW_HEIGHT) -> Box:
        """A row with ``name`` as a label on the left; the box of the widget right of it."""
        row = self._row(LABEL_WIDTH + width, height)
        self._add("text", Box(row.x, row.y, LABEL_WIDTH - 8, height), text=name)
        return Box(row.x + LABEL_WIDTH, row.y, width, height)

    # --- widgets -------------------------------------------------------------------------------------

    def text(self, text: str, bold: bool = False) -> Box:
        box = self._row(min(RIGHT - LEFT, 12 * len(text) + 40))
        self._add("text", box, text=text, bold=bold)
        return box

    def buttons(self, labels: list[str]) -> dict[str, Box]:
        """Buttons side by side; a click appends the label to ``clicks``."""
        boxes = self._flow([max(96, 12 * len(label) + 32) for label in labels])
        for label, box in zip(labels, boxes, strict=True):
            self._add("button", box, label=label, key="clicks")
        return dict(zip(labels, boxes, strict=True))

    def entry(self, name: str, secret: bool = False, width: int = 240) -> Box:
        key = f"field:{name}"
        box = self._labelled(name, width)
        self._add("entry", box, key=key, secret=secret)
        self.state[key] = ""
        return box

    def checkboxes(self, labels: list[str], ticked: set[str]) -> dict[str, Box]:
        boxes = self._flow([12 * len(label) + 44 for label in labels], 30)
        for label, box in zip(labels, boxes, strict=True):
            key = f"check:{label}"
            self._add("checkbox", box, label=label, key=key)
            self.state[key] = label in ticked
        return dict(zip(labels, boxes, strict=True))

    def radios(self, group: str, values: list[str]) -> dict[str, Box]:
        """The group's name in bold, then its options side by side in a seeded order, so an option's place in
        its row does not tell which one it is; none is chosen."""
        key = f"radio:{group}"
        self.text(group, bold=True)
        order = self.rng.sample(values, len(values))
        boxes = self._flow([12 * len(value) + 44 for value in order], 30)
        for value, box in zip(order, boxes, strict=True):
            self._add("radio", box, value=value, key=key)
        self.state[key] = ""
        return dict(zip(order, boxes, strict=True))

    def dropdown(self, name: str, options: list[str]) -> tuple[Box, dict[str, Box]]:
        """A closed list showing ``Choose...``; clicking it opens one row per option right below it. The rows
        must not run past the bottom of the area (they may cover the rows under the dropdown: it opens on top)."""
        key = f"select:{name}"
        box = self._labelled(name, 200, 30)
        if box.y + box.h * (len(options) + 1) > BOTTOM:
            raise ValueError(f"dropdown {name!r} would open past the bottom; add it higher up")
        self._add("dropdown", box, key=key, options=options)
        self.state[key] = ""
        rows = {option: Box(box.x, box.y + box.h * (index + 1), box.w, box.h)
                for index, option in enumerate(options)}
        return box, rows

    def slider(self, name: str, low: int, high: int, value: int) -> Slider:
        """A track of a whole number of pixels per unit (so every value has its own pixel column) and the
        current value printed to its right."""
        key = f"slider:{name}"
        step_px = max(2, 400 // (high - low))
        pad = 12
        box = self._labelled(name, 2 * pad + (high - low) * step_px + 56, 32)
        self._add("slider", box, key=key, min=low, max=high, step_px=step_px, pad=pad)
        self.state[key] = value
        return Slider(box, low, step_px, pad)

    def counter(self, name: str, value: int) -> tuple[Box, Box]:
        """``[-] value [+]``; returns the boxes of the minus and plus buttons."""
        key = f"counter:{name}"
        box = self._labelled(name, 180)
        self._add("counter", box, key=key)
        self.state[key] = value
        side = box.h
        return Box(box.x, box.y, side, side), Box(box.x + box.w - side, box.y, side, side)

    # --- the task's parts ----------------------------------------------------------------------------

    def spec(self) -> dict[str, Any]:
        return {"title": WINDOW_TITLE, "instruction": self.instruction, "state": self.state,
                "widgets": self.widgets, "min_screen": [RIGHT + LEFT, BOTTOM + 20]}

    def setup(self) -> list[dict[str, Any]]:
        """One ``execute`` step: the app's launcher returns once the window is up and drawn (``until`` retries a
        launch that failed and turns a persistent failure into a setup error)."""
        command = ["python", "-S", "-c", BOOTSTRAP, json.dumps(self.spec(), sort_keys=True), STATE_PATH]
        return [{"type": "execute", "parameters": {"command": command, "until": {"returncode": 0}}}]

    def evaluator(self, expected: dict[str, Any]) -> dict[str, Any]:
        """Every key of the app's state must equal ``expected`` (the initial state with the task's changes)."""
        unknown = set(expected) - set(self.state)
        if unknown:
            raise ValueError(f"expected state names widgets this form does not have: {sorted(unknown)}")
        return {"func": "check_direct_json_object",
                "result": {"type": "vm_command_line", "command": ["cat", STATE_PATH]},
                "expected": {"type": "rule", "rules": {"expected": {**self.state, **expected}}}}


@dataclass(frozen=True)
class Slider:
    """Where a slider's values sit: value ``v`` at ``x + pad + (v - low) * step_px``, on the box's middle line."""

    box: Box
    low: int
    step_px: int
    pad: int

    def point(self, value: int) -> tuple[int, int]:
        return self.box.x + self.pad + (value - self.low) * self.step_px, self.box.y + self.box.h // 2

    def drag(self, start: int, end: int) -> str:
        """Press on the handle at ``start``, drag it to ``end`` (with intermediate moves), release."""
        (x0, y), (x1, _) = self.point(start), self.point(end)
        return f"pyautogui.moveTo({x0}, {y}); pyautogui.dragTo({x1}, {y}, duration=0.15, button='left')"
