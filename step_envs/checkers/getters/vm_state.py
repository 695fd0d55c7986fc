"""Getters of the desktop's live state, with OSWorld's ``vm_*`` names: a command's output, the screen's and a
window's size, the wallpaper, the terminal's text, the accessibility tree.
"""

from __future__ import annotations

from typing import Any

from step_envs.checkers.getters.access import COMMAND_TIMEOUT_S, check_tree, save_to_cache, text_of
from step_envs.checkers.registry import CheckContext, getter, short


def _execute(ctx: CheckContext, config: dict[str, Any], stream: str) -> str | None:
    command = config.get("command")
    valid = (isinstance(command, str) and command) or (
        isinstance(command, list) and command and all(isinstance(arg, str) for arg in command))
    if not valid:
        raise ValueError(f"getter config 'command' must be a string or a list of strings, got {short(command)}")
    timeout = ctx.time_left(float(config.get("timeout", COMMAND_TIMEOUT_S)))
    outcome = ctx.client.execute(command, shell=bool(config.get("shell", False)), timeout=timeout)
    return outcome.get(stream) if outcome.get("status") == "success" else None


@getter("vm_command_line")
def vm_command_line(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """stdout of ``command`` (list, or string split unless ``shell``) run in the env; None when it could not run."""
    return _execute(ctx, config, "output")


@getter("vm_command_error")
def vm_command_error(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """stderr of ``command`` run in the env; None when it could not run."""
    return _execute(ctx, config, "error")


@getter("accessibility_tree")
def accessibility_tree(ctx: CheckContext, config: dict[str, Any]) -> str:
    """The env's accessibility tree as XML text (:func:`check_tree`)."""
    return check_tree(ctx)


@getter("vm_screen_size")
def vm_screen_size(ctx: CheckContext, config: dict[str, Any]) -> dict[str, int]:
    """``{"width", "height"}`` of the env's screen, measured on a screenshot."""
    height, width = ctx.client.screenshot().shape[:2]
    return {"width": int(width), "height": int(height)}


@getter("vm_window_size")
def vm_window_size(ctx: CheckContext, config: dict[str, Any]) -> dict[str, int] | None:
    """``{"width", "height"}`` of the env's first window whose WM_CLASS is ``app_class_name``; None when none is."""
    return ctx.client.window_size(text_of(config, "app_class_name"))


@getter("vm_wallpaper")
def vm_wallpaper(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """The env's current wallpaper, saved as ``cache_dir/dest``; None when the desktop shows no picture."""
    return save_to_cache(ctx, config, ctx.client.wallpaper())


@getter("vm_terminal_output")
def vm_terminal_output(ctx: CheckContext, config: dict[str, Any]) -> str | None:
    """The text of the focused terminal when a terminal is the active window (read through the accessibility
    tree, as OSWorld reads gnome-terminal's); None when no terminal is active or the session has no ``a11y``."""
    return ctx.client.terminal_output()
