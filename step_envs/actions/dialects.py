"""One action set per model dialect and env action space: what the model is told, how its reply is read, what the
env runs, and what the agreement reward compares.

A dialect is how a model family writes actions: the syntax (pyautogui code / computer_13 JSON / Qwen's
``computer_use`` tool call, or UI-TARS's ``Action: click(start_box='(x,y)')``) and the coordinate frame
(`frames`: screen pixels, the 0-1000 grid, or the resized image's pixels). The env action space (``pyautogui`` or
``computer_13``) is what the env executes; every dialect can drive either (a dialect's default space is the one
its name suggests).

| dialect       | models                          | writes                                   | frame        |
|---------------|---------------------------------|------------------------------------------|--------------|
| `pyautogui`   | any (OSWorld's pyautogui agents) | ```` ```python pyautogui.click(x, y)``` ```` | screen       |
| `computer_13` | any (OSWorld's computer_13)     | ``{"action_type": "CLICK", "x": .., "y": ..}`` | screen   |
| `qwen2vl`     | Qwen2-VL                        | pyautogui code                           | 0-1000 grid  |
| `qwen25vl`    | Qwen2.5-VL                      | ``<tool_call>`` computer_use (or code)   | resized image |
| `uitars`      | UI-TARS v1 (UI-TARS-7B-DPO)      | ``Action: click(start_box='(x,y)')``     | 0-1000 grid  |
| `uitars15`    | UI-TARS-1.5                     | ``Action: click(start_box='(x,y)')``     | resized image |

The code dialects read leniently (a fenced block, a tool call, computer_13 JSON or a control word); UI-TARS
dialects read only UI-TARS calls. A reply in another dialect, or one that cannot be executed, is a WAIT step whose
error names the dialect expected: never a crash.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from step_envs.actions import env_actions, frames
from step_envs.actions.points import ActionPoint, action_points
from step_envs.actions.reading import (
    ParsedReply,
    Scale,
    call_to_computer13,
    find_candidates,
    pyautogui_calls,
    read_reply,
    scale_code,
    scale_computer13,
)
from step_envs.actions.uitars import uitars_candidates, uitars_text
from step_envs.core import DEFAULT_SCREEN


@dataclass(frozen=True)
class Dialect:
    """How one model family writes actions."""

    name: str
    frame: str
    """`screen`, `grid` or `image` (see `frames`)."""
    syntax: str
    """`code` (pyautogui / computer_13 / computer_use tool calls) or `uitars`."""
    default_space: str
    summary: str


DIALECTS: dict[str, Dialect] = {d.name: d for d in (
    Dialect("pyautogui", "screen", "code", "pyautogui", "pyautogui code, screen pixels"),
    Dialect("computer_13", "screen", "code", "computer_13", "OSWorld's computer_13 JSON, screen pixels"),
    Dialect("qwen2vl", "grid", "code", "pyautogui", "Qwen2-VL: pyautogui code on the 0-1000 grid"),
    Dialect("qwen25vl", "image", "code", "pyautogui",
            "Qwen2.5-VL: computer_use tool calls (or pyautogui code) in pixels of the resized screenshot"),
    Dialect("uitars", "grid", "uitars", "pyautogui", "UI-TARS v1: Thought/Action calls on the 0-1000 grid"),
    Dialect("uitars15", "image", "uitars", "pyautogui",
            "UI-TARS-1.5: Thought/Action calls in pixels of the resized screenshot"),
)}

_CONTROL_TEXT = "Reply WAIT to wait, DONE when the task is complete, FAIL if it cannot be done."
_CODE_FORMATS = {
    "pyautogui": ("Reply with one Python code block (```python ... ```) that uses `pyautogui` to perform the next "
                  "action, e.g. `pyautogui.click({x}, {y})`, `pyautogui.write('text')`, "
                  "`pyautogui.hotkey('ctrl', 's')`."),
    "computer_13": ('Reply with one JSON object for the next action, e.g. {{"action_type": "CLICK", "x": {x}, '
                    '"y": {y}}}, {{"action_type": "TYPING", "text": "hi"}}, {{"action_type": "HOTKEY", '
                    '"keys": ["ctrl", "s"]}}.'),
}
_TOOL_CALL_FORMAT = (
    'Reply with one tool call of the computer_use function: <tool_call>{{"name": "computer_use", "arguments": '
    '{{"action": "left_click", "coordinate": [{x}, {y}]}}}}</tool_call>. Actions: left_click, right_click, '
    'double_click, mouse_move, left_click_drag (coordinate), type (text), key (keys: a list), scroll (pixels), '
    'wait, terminate (status: success or failure).'
)
_UITARS_FORMAT = """You are a GUI agent. You get a task, your action history and a screenshot; perform the next action.

## Output Format
Thought: ...
Action: ...

## Action Space
click(start_box='({x},{y})')
left_double(start_box='({x},{y})')
right_single(start_box='({x},{y})')
drag(start_box='(x1,y1)', end_box='(x2,y2)')
hotkey(key='ctrl c')
type(content='text') # end the content with \\n to submit it
scroll(start_box='({x},{y})', direction='down or up or right or left')
wait() # wait and look at the screen again
finished() # the task is complete
call_user() # the task cannot be done

{frame}"""


def dialect_names() -> str:
    return ", ".join(DIALECTS)


def get_dialect(name: str) -> Dialect:
    """The dialect called `name`; the error lists the known ones."""
    try:
        return DIALECTS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dialect {name!r}; known: {dialect_names()}") from None


class ActionSet:
    """A dialect on an env action space: `describe` (prompt text), `parse` (reply -> env action), `validate` and
    `to_code` (what the env checks and runs), `points` (what the agreement reward compares) and `render` (an env
    action as the model would have written it, for the action history in prompts)."""

    def __init__(self, dialect: str = "pyautogui", space: str | None = None) -> None:
        self.dialect = get_dialect(dialect)
        self.name = self.dialect.name
        self.space = space or self.dialect.default_space
        if self.space not in env_actions.PARSERS:
            raise ValueError(f"unknown action space {self.space!r}; known: {', '.join(env_actions.PARSERS)}")

    def __repr__(self) -> str:
        return f"ActionSet(dialect={self.name!r}, space={self.space!r})"

    @property
    def needs_image_size(self) -> bool:
        """True when points are pixels of the resized image, so `parse` needs that image's size."""
        return self.dialect.frame == "image"

    def _check_image_size(self, image_size: tuple[int, int] | None) -> None:
        if self.needs_image_size and image_size is None:
            raise ValueError(f"dialect {self.name!r} writes points in pixels of the image the model saw: pass "
                             "image_size (the processor's resized (width, height), see frames.smart_resize)")

    # ---- the prompt ---------------------------------------------------------------------------------------------

    def describe(self, screen_size: tuple[int, int], image_size: tuple[int, int] | None = None) -> str:
        """The system prompt: what to reply and in which coordinates."""
        self._check_image_size(image_size)
        frame = self.dialect.frame
        frame_size = {"screen": screen_size, "grid": (frames.GRID, frames.GRID), "image": image_size}[frame]
        center = {"x": frame_size[0] // 2, "y": frame_size[1] // 2}  # type: ignore[index]
        coordinates = frames.frame_text(frame, screen_size, image_size)
        if self.dialect.syntax == "uitars":
            return _UITARS_FORMAT.format(frame=coordinates, **center)
        if self.name == "qwen25vl":
            reply = _TOOL_CALL_FORMAT.format(**center)
        else:
            reply = _CODE_FORMATS["computer_13" if self.name == "computer_13" else "pyautogui"].format(**center)
        return f"You control a Linux desktop to complete the user's task. {reply} {coordinates} {_CONTROL_TEXT}"

    def expected(self) -> str:
        """What a reply in this dialect looks like (for errors)."""
        if self.dialect.syntax == "uitars":
            return f"a UI-TARS action after 'Action:', e.g. click(start_box='(500,300)') (dialect {self.name!r})"
        return (f"pyautogui code in a ```python block, computer_13 JSON, a computer_use tool call, WAIT, DONE or "
                f"FAIL (dialect {self.name!r})")

    # ---- reading replies ----------------------------------------------------------------------------------------

    def _scale(self, screen_size: tuple[int, int], image_size: tuple[int, int] | None) -> Scale | None:
        frame = self.dialect.frame
        if frame == "screen":
            return None
        return lambda x, y: frames.to_screen(x, y, frame, screen_size, image_size)

    def parse(self, text: str, screen_size: tuple[int, int] = DEFAULT_SCREEN,
              image_size: tuple[int, int] | None = None) -> ParsedReply:
        """The env action in a model's reply; never raises on bad text (WAIT with `error`, naming the dialect)."""
        self._check_image_size(image_size)
        text = text if isinstance(text, str) else ""
        candidates = uitars_candidates(text) if self.dialect.syntax == "uitars" else find_candidates(text)
        parsed = read_reply(text, candidates, self.space, tuple(screen_size), self._scale(screen_size, image_size),
                            self.expected())
        if parsed.error and f"dialect {self.name!r}" not in parsed.error:
            parsed.error = f"{parsed.error} (dialect {self.name!r})"
        return parsed

    # ---- what the env runs --------------------------------------------------------------------------------------

    def validate(self, action: Any, screen_size: tuple[int, int]) -> env_actions.ParsedAction:
        """The env's own check of an action of this space (syntax, off-screen points, keys); never raises."""
        return env_actions.PARSERS[self.space](action, *screen_size)

    def to_code(self, action: Any, screen_size: tuple[int, int]) -> str:
        """The pyautogui code (or control token) the env's worker runs for `action`; ValueError when invalid."""
        checked = self.validate(action, screen_size)
        if checked.error:
            raise ValueError(checked.error)
        return checked.code if checked.kind == "code" else checked.kind

    def points(self, action: str) -> tuple[ActionPoint, ...] | None:
        """What the agreement reward compares: type, screen point and text of each step (None: unreadable)."""
        return action_points(action)

    # ---- history ------------------------------------------------------------------------------------------------

    def render(self, action: str, screen_size: tuple[int, int],
               image_size: tuple[int, int] | None = None) -> str:
        """An env action as this dialect writes it (points mapped back to the model's frame), for the history
        lines of a prompt. An action it cannot map is shown as the env ran it."""
        frame = self.dialect.frame
        if action.strip().upper() in env_actions.CONTROL_TOKENS and self.dialect.syntax == "code":
            return action.strip().upper()
        if frame == "screen" and self.dialect.syntax == "code":
            return action
        try:
            def back(x: Any, y: Any) -> tuple[int, int]:
                return frames.from_screen(float(x), float(y), frame, screen_size, image_size)

            if self.dialect.syntax == "code":
                if self.space == "pyautogui":
                    return scale_code(action, back)
                return json.dumps(scale_computer13(json.loads(action), back))
            steps = self._steps(action)
            return uitars_text([scale_computer13(step, back) for step in steps])
        except (ValueError, SyntaxError, TypeError, KeyError):
            return action

    def _steps(self, action: str) -> list[dict[str, Any]]:
        stripped = action.strip()
        if stripped.upper() in env_actions.CONTROL_TOKENS:
            return [{"action_type": stripped.upper()}]
        if self.space == "computer_13":
            data = json.loads(stripped)
            return data if isinstance(data, list) else [data]
        steps = [step for call in pyautogui_calls(stripped) for step in call_to_computer13(call)]
        return [s for s in steps if not (s["action_type"] == "SCROLL" and not s.get("dx") and not s.get("dy"))]


@functools.cache
def action_set(dialect: str = "pyautogui", space: str | None = None) -> ActionSet:
    """The action set of `dialect` on env action space `space` (the dialect's default when None), built once:
    an action set holds no state, so every caller of a (dialect, space) pair shares one."""
    return ActionSet(dialect, space)
