"""Top-level windows of the X session, through wmctrl (EWMH), as OSWorld's controller does on Linux."""

from __future__ import annotations

import subprocess


def list_windows() -> list[dict[str, str]]:
    """Every managed window: ``{"id", "desktop", "wm_class", "title"}``."""
    proc = subprocess.run(["wmctrl", "-lx"], capture_output=True, text=True, timeout=10)
    windows = []
    for line in proc.stdout.splitlines():
        parts = line.split(None, 4)
        if len(parts) < 4:
            continue
        # wmctrl -lx: id, desktop, WM_CLASS, host, title
        title = parts[4] if len(parts) == 5 else ""
        windows.append({"id": parts[0], "desktop": parts[1], "wm_class": parts[2], "title": title})
    return windows


def active_window() -> dict[str, str] | None:
    """The focused managed window (EWMH ``_NET_ACTIVE_WINDOW``), as in :func:`list_windows`; None without one."""
    proc = subprocess.run(["xdotool", "getactivewindow"], capture_output=True, text=True, timeout=10)
    if proc.returncode != 0 or not proc.stdout.strip().isdigit():
        return None
    active = int(proc.stdout)
    return next((window for window in list_windows() if int(window["id"], 16) == active), None)


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
