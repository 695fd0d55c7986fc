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
SAVE = "pyautogui.hotkey('ctrl', 's')\ntime.sleep(0.5)"
OFFICE_SAVE = "pyautogui.hotkey('ctrl', 's')\ntime.sleep(1.5)"


def settled(action: str, seconds: float = 1.0) -> str:
    """Action: ``action`` after a pause. LibreOffice goes on loading after its window is quiet and then puts the
    cursor back where the file says, undoing keys that came too early; a person or a model takes that long to
    look at the first screenshot anyway."""
    return f"time.sleep({seconds:g})\n{action}"


def save_and_wait(path: str, pause: float = 1.0, timeout: float = 8.0) -> str:
    """Action: Ctrl+S, then wait until the app has rewritten ``path``. The ``pause`` first lets the app finish the
    last edit (Calc computes new formulas when idle, and a file saved before that holds no value for them); the
    wait after it stops a busy machine's slow save from letting the checker read the old file."""
    return (f"import os\ntime.sleep({pause:g})\n_path = os.path.expanduser({path!r})\n"
            f"_before = os.stat(_path).st_mtime_ns\npyautogui.hotkey('ctrl', 's')\n"
            f"_deadline = time.time() + {timeout:g}\n"
            "while os.stat(_path).st_mtime_ns == _before and time.time() < _deadline:\n    time.sleep(0.1)\n"
            "time.sleep(0.3)")


def write(text: str) -> str:
    """Action: type ``text`` (``\\n`` presses Enter)."""
    return TYPE.format(text)


def hotkey(*keys: str, wait: float = 0.0) -> str:
    action = f"pyautogui.hotkey({', '.join(repr(key) for key in keys)})"
    return action + (f"\ntime.sleep({wait:g})" if wait else "")


def press(key: str, presses: int = 1, wait: float = 0.0) -> str:
    action = f"pyautogui.press({key!r}" + (f", presses={presses})" if presses != 1 else ")")
    return action + (f"\ntime.sleep({wait:g})" if wait else "")


def goto(cell: str) -> str:
    """Calc: move the cursor to ``cell`` (like B5) from A1 with the keyboard."""
    column, row = ord(cell[0]) - ord("A"), int(cell[1:]) - 1
    return "pyautogui.hotkey('ctrl', 'home')" + "".join(
        f"\npyautogui.press({key!r}, presses={n})" for key, n in (("right", column), ("down", row)) if n)
