"""Builders for the pieces of a desktop task: setup steps (OSWorld format + our ``ready`` rules), evaluators and
pyautogui actions. Shared by the templates and by ``step_envs/data/tasks/desktop/make_tasks.py`` (the fixed tasks)."""

from __future__ import annotations

import shlex
from pathlib import PurePosixPath
from typing import Any

Step = dict[str, Any]


def launch(command: list[str] | str, window: str, quiet: float = 0.3, timeout: float = 30,
           idle: float | None = None) -> list[Step]:
    """Start an app, wait for its window and for the screen to stop changing for ``quiet`` seconds (with ``idle``:
    for the app itself to stop working, and the screen, for that long), then give it the focus (keys sent to an
    app that is still starting, or to another window, are lost). A string command runs in a shell."""
    parameters = {"command": command, "shell": True} if isinstance(command, str) else {"command": command}
    wait = {"idle": idle} if idle is not None else {"quiet": quiet}
    return [{"type": "launch", "parameters": parameters, "ready": {"window": window, **wait, "timeout": timeout}},
            {"type": "activate_window", "parameters": {"window_name": window}}]


TERMINAL = launch(["xfce4-terminal"], "Terminal")


def sh(command: str) -> Step:
    return {"type": "execute", "parameters": {"command": command, "shell": True}}


def write_text(path: str, text: str) -> Step:
    """Setup: create ``path`` (``~/...``, no spaces) holding exactly ``text``, with its parent folders."""
    parent = str(PurePosixPath(path).parent)
    return sh(f"mkdir -p {parent} && printf %s {shlex.quote(text)} > {path}")


def editor(path: str) -> list[Step]:
    return launch(["mousepad", path], PurePosixPath(path).name)


def thunar(folder: str = "~", window: str = "user - Thunar") -> list[Step]:
    return launch(["thunar", folder], window)


OFFICE_IDLE = 0.5
"""Seconds LibreOffice and the screen must stay idle after it opens a file (`step_envs.server.activity`): it keeps
laying out its window for a while after showing it (longer on a loaded machine) and drops keys sent meanwhile; then,
on timers (its controls' state is refreshed 300 ms after a change), it redraws the ruler, toolbar states and the
status bar in short bursts ~0.2-0.4 s apart. Half a second outlasts those gaps, so the first screen of an episode is
the same every time (0.4 s missed them now and then, measured on a loaded 2-core machine)."""


def office(app: str, path: str) -> list[Step]:
    """Open ``path`` in LibreOffice's ``app`` (calc, writer, impress), ready once LibreOffice went idle."""
    return launch(["libreoffice", f"--{app}", path], PurePosixPath(path).name, timeout=60, idle=OFFICE_IDLE)


def upload(local_path: str, target: str) -> Step:
    """Setup: copy a file shipped with the task (``local_path`` relative to its folder) to ``target``."""
    return {"type": "upload_file", "parameters": {"files": [{"local_path": local_path, "path": target}]}}


def cmd_equals(command: str, expected: str) -> dict[str, Any]:
    """Evaluator: the output of ``command`` in the session equals ``expected``."""
    return {"func": "exact_match", "result": {"type": "vm_command_line", "command": command, "shell": True},
            "expected": {"type": "rule", "rules": {"expected": expected}}}


def vm_file(path: str) -> dict[str, Any]:
    return {"type": "vm_file", "path": path, "dest": PurePosixPath(path).name}


def table_check(target: str, expected_path: str) -> dict[str, Any]:
    """Evaluator: the spreadsheet ``target`` has the same cells as the task file ``expected_path``."""
    return {"func": "compare_table", "result": vm_file(target),
            "expected": {"type": "local_file", "path": expected_path}}


def cells_check(target: str, cells: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Evaluator: each cell of the first sheet of ``target`` passes its ``{"method", "ref"}`` test."""
    rules = [{"type": "check_cell", "sheet_idx": 0, "coordinate": cell, "props": {"value": test}}
             for cell, test in cells.items()]
    return {"func": "compare_table", "result": vm_file(target), "options": {"rules": rules}}


def docx_check(target: str, expected_path: str) -> dict[str, Any]:
    """Evaluator: the document ``target`` has the paragraphs of the task file ``expected_path``."""
    return {"func": "compare_docx_files", "result": vm_file(target),
            "expected": {"type": "local_file", "path": expected_path}}


INFEASIBLE = {"func": "infeasible"}

# --- actions ----------------------------------------------------------------------------------------------

TYPE = "pyautogui.write({!r})"
def idle_wait(timeout: float = 8.0) -> str:
    """Action code: :data:`IDLE` with a time limit (an action has 10 s in all)."""
    return f"from step_envs.server.activity import wait_active_idle\nwait_active_idle(timeout={timeout:g})"


IDLE = idle_wait()
"""Action code: wait until the app of the active window has handled the keys sent so far and gone idle
(:func:`step_envs.server.activity.wait_active_idle`). A step's settle wait ends once the screen is still, which on a
loaded machine can come before a starved app has even read its keys; keys sent on then can overtake them
(LibreOffice handles typed text before cursor keys still queued ahead of it). Solutions wait on this, not on a
fixed sleep, wherever the next keys need the last ones done."""


def join(*parts: str) -> str:
    """One action of the code ``parts``, one after the other, each import kept only where it first comes."""
    lines: list[str] = []
    for line in "\n".join(parts).split("\n"):
        if not (line.startswith(("import ", "from ")) and line in lines):
            lines.append(line)
    return "\n".join(lines)


def idle(action: str, timeout: float = 8.0) -> str:
    """Action: ``action``, then wait until the active app has handled it (:data:`IDLE`)."""
    return join(action, idle_wait(timeout))


def settled(action: str) -> str:
    """Action: wait until the active app is idle, then ``action``, then wait until it has handled that (each wait
    at most 4.5 s: an action has 10): the first action on a document LibreOffice has just opened (it goes on
    loading after its window is quiet, and keys that come meanwhile are handled out of order or undone)."""
    return join(idle_wait(4.5), action, idle_wait(4.5))


def window(pattern: str, absent: bool = False, timeout: float = 8.0) -> str:
    """Action code: wait until the active window's title matches ``pattern`` (a regular expression; ``absent``:
    until it no longer does), e.g. a dialog the last key opened has the focus
    (:func:`step_envs.server.windows.wait_active_window`)."""
    return ("from step_envs.server.windows import wait_active_window\n"
            f"wait_active_window({pattern!r}{', absent=True' if absent else ''}, timeout={timeout:g})")


def path_wait(path: str, exists: bool = True, timeout: float = 8.0) -> str:
    """Action code: wait until ``path`` (``~/...``) exists (``exists=False``: until it is gone), at most
    ``timeout`` seconds: what a file manager's rename, copy or delete, or a page's download, did on disk."""
    test = "not os.path.exists(_path)" if exists else "os.path.exists(_path)"
    return (f"import os\n_path = os.path.expanduser({path!r})\n_deadline = time.time() + {timeout:g}\n"
            f"while {test} and time.time() < _deadline:\n    time.sleep(0.1)")


def save_and_wait(path: str, timeout: float = 6.0) -> str:
    """Action: Ctrl+S, then wait until the app has rewritten ``path`` (its modification time changed, then its size
    and time held still for 0.2 s), at most ``timeout`` seconds (an action has 10): on a busy machine a save
    takes seconds, and a checker that read the file before then would see the old one. The app must be done with
    the last edit first: the action before ends with :data:`IDLE` (Calc computes new formulas when idle: press F9
    and wait before, or a file saved before that holds no value for them)."""
    return (f"import os\n_path = os.path.expanduser({path!r})\n"
            f"_before = os.stat(_path).st_mtime_ns\npyautogui.hotkey('ctrl', 's')\n"
            f"_deadline = time.time() + {timeout:g}\n"
            "while os.stat(_path).st_mtime_ns == _before and time.time() < _deadline:\n    time.sleep(0.1)\n"
            "_seen = None\n"
            "while _seen != (os.stat(_path).st_mtime_ns, os.stat(_path).st_size) and time.time() < _deadline + 1:\n"
            "    _seen = (os.stat(_path).st_mtime_ns, os.stat(_path).st_size)\n    time.sleep(0.2)")


def recalc_and_save(path: str) -> str:
    """Action, Calc: recalculate (F9: new formulas get their values now, not when Calc is next idle), wait until
    Calc has, then save and wait until the file is written (:func:`save_and_wait`)."""
    return join("pyautogui.press('f9')", idle_wait(2.5), save_and_wait(path))


def run(command: str) -> str:
    """Action, terminal: type a shell command, press Enter, and wait until the terminal and the command are done
    (the terminal's processes, the shell's and its children's, idle: :data:`IDLE`)."""
    return idle(write(command + "\n"))


def write(text: str) -> str:
    """Action: type ``text`` (``\\n`` presses Enter)."""
    return TYPE.format(text)


def hotkey(*keys: str) -> str:
    return f"pyautogui.hotkey({', '.join(repr(key) for key in keys)})"


def press(key: str, presses: int = 1) -> str:
    return f"pyautogui.press({key!r}" + (f", presses={presses})" if presses != 1 else ")")


def goto(cell: str) -> str:
    """Calc: move the cursor to ``cell`` (like B5) from A1 with the keyboard."""
    column, row = ord(cell[0]) - ord("A"), int(cell[1:]) - 1
    return "pyautogui.hotkey('ctrl', 'home')" + "".join(
        f"\npyautogui.press({key!r}, presses={n})" for key, n in (("right", column), ("down", row)) if n)
