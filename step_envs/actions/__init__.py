"""Actions: the env's action spaces and one action set per model dialect (prompt text, reply parser, env code,
off-screen validation, agreement points), so the prompt, the parser and the executor cannot drift apart.

    from step_envs.actions import action_set, parse_reply
    parse_reply("Thought: ...\nAction: click(start_box='(500,500)')", dialect="uitars", screen_size=(1280, 720))
    # -> ParsedReply(action='pyautogui.click(640, 360, button=\'left\', clicks=1)', ...)

No torch, no model code here: an agent or policy passes the size of the image its processor produced
(`smart_resize`) for the dialects that write points in that image's pixels.
"""

from __future__ import annotations

from step_envs.actions.dialects import DIALECTS, ActionSet, Dialect, action_set, dialect_names, get_dialect
from step_envs.actions.env_actions import (
    ACTION_TYPES,
    BUTTONS,
    COMPUTER_13,
    CONTROL_TOKENS,
    KEYBOARD_KEYS,
    MAX_ACTION_CHARS,
    PARSERS,
    POINT_FUNCTIONS,
    SCROLL_FUNCTIONS,
    ParsedAction,
    computer13_to_code,
    parse_computer13,
    parse_pyautogui,
)
from step_envs.actions.frames import GRID, smart_resize
from step_envs.actions.points import ActionPoint, action_points
from step_envs.actions.reading import ParsedReply, pyautogui_calls
from step_envs.core import DEFAULT_SCREEN

ACTION_SPACES: tuple[str, ...] = tuple(PARSERS)


def parse_reply(text: str, action_space: str | None = None, screen_size: tuple[int, int] = DEFAULT_SCREEN, *,
                dialect: str | None = None, image_size: tuple[int, int] | None = None) -> ParsedReply:
    """The env action in a model's reply, read in `dialect` (default: the one named like `action_space`) for
    `action_space` (default: the dialect's own). `screen_size` is (width, height); `image_size` is the size of the
    image the model saw, needed by `qwen25vl` and `uitars15`. Never raises on bad text: `error` is set and
    `action` is WAIT."""
    if action_space is not None and action_space not in PARSERS:
        raise ValueError(f"unknown action space {action_space!r}; known: {', '.join(PARSERS)}")
    return ActionSet(dialect or action_space or "pyautogui", action_space).parse(text, screen_size, image_size)


__all__ = [
    "ACTION_SPACES",
    "ACTION_TYPES",
    "BUTTONS",
    "COMPUTER_13",
    "CONTROL_TOKENS",
    "DIALECTS",
    "GRID",
    "KEYBOARD_KEYS",
    "MAX_ACTION_CHARS",
    "PARSERS",
    "POINT_FUNCTIONS",
    "SCROLL_FUNCTIONS",
    "ActionPoint",
    "ActionSet",
    "Dialect",
    "ParsedAction",
    "ParsedReply",
    "action_points",
    "action_set",
    "computer13_to_code",
    "dialect_names",
    "get_dialect",
    "parse_computer13",
    "parse_pyautogui",
    "parse_reply",
    "pyautogui_calls",
    "smart_resize",
]
