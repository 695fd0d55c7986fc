"""Top-level windows of the X session, through wmctrl (EWMH), as OSWorld's controller does on Linux; each with its
EWMH window type (``_NET_WM_WINDOW_TYPE``: ``normal``, ``dialog``, ``splash``, ...), which tells an app's splash
screen from its main window."""

from __future__ import annotations

import re
import subprocess
import time


def list_windows() -> list[dict[str, str]]:
    """Every managed window: ``{"id", "desktop", "wm_class", "title", "type"}`` (``type``: :func:`window_types`)."""
    proc = subprocess.run(["wmctrl", "-lx"], capture_output=True, text=True, timeout=10)
    windows = []
    for line in proc.stdout.splitlines():
        parts = line.split(None, 4)
        if len(parts) < 4:
            continue
        # wmctrl -lx: id, desktop, WM_CLASS, host, title
        title = parts[4] if len(parts) == 5 else ""
        windows.append({"id": parts[0], "desktop": parts[1], "wm_class": parts[2], "title": title})
    types = window_types([window["id"] for window in windows])
    for window in windows:
        window["type"] = types.get(window["id"], "")
    return windows


def window_types(window_ids: list[str]) -> dict[str, str]:
    """Each window's first EWMH type (``0x...`` id -> ``_NET_WM_WINDOW_TYPE_SPLASH`` as ``splash``); "" for one that
    sets none or is gone. GIMP and LibreOffice show a ``splash`` window seconds before their main window."""
    from Xlib import X, error
    from Xlib.display import Display

    found: dict[str, str] = {}
    if not window_ids:
        return found
    display = Display()
    try:
        prefix, atom = "_NET_WM_WINDOW_TYPE_", display.intern_atom("_NET_WM_WINDOW_TYPE")
        for window_id in window_ids:
            try:
                prop = display.create_resource_object("window", int(window_id, 16)).get_full_property(
                    atom, X.AnyPropertyType)
                name = display.get_atom_name(prop.value[0]) if prop is not None and len(prop.value) else ""
            except error.XError:
                name = ""
            found[window_id] = name[len(prefix):].lower() if name.startswith(prefix) else ""
    finally:
        display.close()
    return found


def active_window() -> dict[str, str] | None:
    """The focused managed window (EWMH ``_NET_ACTIVE_WINDOW``), as in :func:`list_windows`; None without one."""
    proc = subprocess.run(["xdotool", "getactivewindow"], capture_output=True, text=True, timeout=10)
    if proc.returncode != 0 or not proc.stdout.strip().isdigit():
        return None
    active = int(proc.stdout)
    return next((window for window in list_windows() if int(window["id"], 16) == active), None)


def wait_active_window(pattern: str, timeout: float = 8.0, absent: bool = False) -> bool:
    """For an action (agent code runs in the session): wait until the active window's title matches the regular
    expression ``pattern`` (case-insensitive; with ``absent``, until it no longer does), at most ``timeout``
    seconds; whether it did. A dialog a key opened takes keys once the window manager has focused it, which on a
    loaded machine can come after the app that opened it went idle."""
    regex, deadline = re.compile(pattern, re.IGNORECASE), time.monotonic() + timeout
    while True:
        proc = subprocess.run(["xdotool", "getactivewindow", "getwindowname"], capture_output=True, text=True,
                              timeout=10)
        if (proc.returncode == 0 and regex.search(proc.stdout.strip()) is not None) != absent:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def window_size(class_name: str) -> tuple[int, int] | None:
    """``(width, height)`` of the first window whose WM_CLASS instance or class equals ``class_name`` (any case),
    OSWorld's ``/window_size`` rule; None when no window has it."""
    proc = subprocess.run(["wmctrl", "-lxG"], capture_output=True, text=True, timeout=10)
    for line in proc.stdout.splitlines():
        parts = line.split(None, 7)  # id, desktop, x, y, width, height, WM_CLASS, host + title
        if len(parts) >= 7 and class_name.lower() in (part.lower() for part in parts[6].split(".")):
            return int(parts[4]), int(parts[5])
    return None


def find_windows(name: str, strict: bool = False, by_class: bool = False) -> list[dict[str, str]]:
    """Windows whose title (or WM_CLASS with ``by_class``) contains ``name`` (case-insensitive) or, with
    ``strict``, equals it (case-sensitive), OSWorld's matching rule."""
    found = []
    for window in list_windows():
        value = window["wm_class"] if by_class else window["title"]
        if by_class and not strict:
            hit = any(name.lower() in part.lower() for part in value.split("."))
        elif strict:
            hit = value == name or (by_class and name in value.split("."))
        else:
            hit = name.lower() in value.lower()
        if hit:
            found.append(window)
    return found


def activate_window(window_id: str) -> None:
    subprocess.run(["wmctrl", "-i", "-a", window_id], check=True, timeout=10)


def close_window(window_id: str) -> None:
    subprocess.run(["wmctrl", "-i", "-c", window_id], check=True, timeout=10)


def open_terminal(timeout: float = 30.0, shell_timeout: float = 5.0) -> bool:
    """Press ctrl+alt+t (the session's shortcut for a terminal, `step_envs.server.shortcuts`) and wait until a new
    terminal window is the active one and its shell has drawn its prompt (the window's title names ``user@host``,
    as the shell sets it), so that keys typed next reach the shell; False when that did not happen in time.

    OSWorld's scripts press the keys and sleep half a second, which is enough for GNOME's terminal server, always
    running; a first xfce4-terminal on a loaded machine (with AT-SPI on) takes longer to start."""
    import pyautogui

    before = active_window()
    pyautogui.hotkey("ctrl", "alt", "t")
    deadline, prompt_deadline = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        window = active_window()
        if window is not None and "terminal" in window["wm_class"].lower() and (
                before is None or window["id"] != before["id"]):
            prompt_deadline = prompt_deadline or time.monotonic() + shell_timeout
            if "@" in window["title"] or time.monotonic() > prompt_deadline:
                return True
        time.sleep(0.05)
    return False
