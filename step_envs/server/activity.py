"""Whether an app has finished starting: its processes stopped working and the screen stopped changing.

A window shows up well before a heavy app takes input (LibreOffice lays out toolbars, the sidebar and the document
for a second or more after mapping it, and drops keys sent meanwhile), and how long that takes depends on the
machine's load. A fixed stillness (``"quiet"``) has to be long to be safe; this watches the app itself instead:
the processes that own its windows, and their descendants (a browser's renderers), read from ``/proc``. Ready is
the first moment when, for ``seconds``, the screen stayed the same, none of those processes' main threads was
running or waiting for a CPU (a starved app is busy, not idle), and together they used at most
``IDLE_CPU_SHARE`` of one CPU. ``POST /step/idle`` (:mod:`step_envs.server.step_routes`) runs the wait inside the
session.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from Xlib.display import Display
from Xlib.ext import res

TICK_S = 0.05
IDLE_CPU_SHARE = 0.1
"""At most this share of one CPU over the idle window: apps keep a few timers (LibreOffice's ~20 ms every few
seconds), which must not count as still starting."""
TREE_REFRESH_S = 0.5  # how often the watched set picks up processes the app started since
CLOCK_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def window_pids(window_ids: Iterable[str]) -> set[int]:
    """The processes whose X connections made the given windows (``0x...`` ids, as wmctrl lists them), as the X
    server knows them (X-Resource); on a display without that extension, what the windows' ``_NET_WM_PID`` says
    (which some toolkits, Tk among them, never set)."""
    wanted = [int(window_id, 16) for window_id in window_ids]
    if not wanted:
        return set()
    display = Display()
    try:
        if display.has_extension("X-Resource"):
            reply = display.res_query_client_ids([{"client": wid, "mask": res.LocalClientPIDMask} for wid in wanted])
            return {int(item.value[0]) for item in reply.ids if item.value and item.value[0] > 0}
    finally:
        display.close()
    out = subprocess.run(["wmctrl", "-lp"], capture_output=True, text=True, timeout=10).stdout
    pids = set()
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) >= 3 and parts[2].isdigit() and int(parts[0], 16) in wanted and int(parts[2]) > 0:
            pids.add(int(parts[2]))
    return pids


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def with_descendants(roots: set[int]) -> set[int]:
    """``roots`` and every live process they started, however deep."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [pid for pid in roots if _stat(pid) is not None]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def activity(pids: Iterable[int]) -> tuple[float, list[int]]:
    """The CPU seconds the processes used so far (user + system, all threads), and those whose main thread is
    running or runnable now."""
    used, running = 0.0, []
    for pid in pids:
        fields = _stat(pid)
        if fields is None or fields[0] == "Z":
            continue
        used += (int(fields[11]) + int(fields[12])) * CLOCK_TICK_S
        if fields[0] == "R":
            running.append(pid)
    return used, running


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except OSError:
        return str(pid)


def wait_idle(roots: set[int], seconds: float, timeout: float, grab: Callable[[], bytes | bytearray],
              ) -> dict[str, Any]:
    """Wait until the processes ``roots`` (and their descendants) and the screen (``grab()``'s bytes) have been idle
    for ``seconds`` (the module docstring), at most ``timeout``. Returns ``{"idle", "waited", "processes", "busy"}``:
    ``busy`` says what kept going when it timed out (None when idle)."""
    start = time.monotonic()
    tree, refreshed = with_descendants(roots), start
    used, running = activity(tree)
    samples = deque([(start, used)])
    frame, last_busy = grab(), start
    budget = seconds * IDLE_CPU_SHARE
    while True:
        now = time.monotonic()
        while len(samples) > 1 and samples[1][0] <= now - seconds:
            samples.popleft()  # keep one sample at or before the window's start
        window_cpu = used - samples[0][1]
        if now - last_busy >= seconds and now - samples[0][0] >= seconds and window_cpu <= budget:
            return {"idle": True, "waited": now - start, "processes": len(tree), "busy": None}
        if now - start >= timeout:
            busy = (f"{', '.join(sorted({_name(pid) for pid in running}))} running" if running else
                    f"{window_cpu / max(now - samples[0][0], TICK_S):.0%} of a CPU" if window_cpu > budget else
                    "the screen kept changing")
            return {"idle": False, "waited": now - start, "processes": len(tree), "busy": busy}
        time.sleep(TICK_S)
        if time.monotonic() - refreshed >= TREE_REFRESH_S:
            tree, refreshed = with_descendants(tree | roots), time.monotonic()
        used, running = activity(tree)
        samples.append((time.monotonic(), used))
        current = grab()
        if running or current != frame:
            last_busy = time.monotonic()
        frame = current


ACTION_IDLE_S = 0.3
"""How long the active app must stay idle for :func:`wait_active_idle` (several of :data:`TICK_S`)."""


def active_window_id() -> str | None:
    """The ``0x...`` id of the active window (EWMH ``_NET_ACTIVE_WINDOW``, through xdotool); None without one."""
    proc = subprocess.run(["xdotool", "getactivewindow"], capture_output=True, text=True, timeout=10)
    return hex(int(proc.stdout)) if proc.returncode == 0 and proc.stdout.strip().isdigit() else None


def wait_active_idle(seconds: float = ACTION_IDLE_S, timeout: float = 8.0) -> bool:
    """For an action (agent code runs in the session): wait until the app of the active window, with its child
    processes, has handled the input sent to it and gone idle for ``seconds`` (:func:`wait_idle` without the
    screen), at most ``timeout``; whether it did. A step's settle wait ends once the screen is still, which on a
    loaded machine can be before a starved app has even read its keys: LibreOffice then handles typed text before
    the cursor keys sent ahead of it, and a checker reads a file before the app has written it. Solutions wait
    with this (``step_envs.tasks.templates.steps.IDLE``) where the next keys need the last ones done."""
    window = active_window_id()
    roots = window_pids([window]) if window else set()
    if not roots:
        return False
    return bool(wait_idle(roots, seconds, timeout, lambda: b"")["idle"])

