"""Child processes the controller runs for its routes: OSWorld's shell commands and the AT-SPI dumper."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

COMMAND_TIMEOUT_S = 120
A11Y_SCRIPT = Path(__file__).with_name("a11y.py")
# the server's interpreter first (the image's venv sees Debian's pyatspi), then the system one (a host venv may not)
A11Y_PYTHONS = [sys.executable, "/usr/bin/python3"]


def expand(path: str) -> str:
    return os.path.expandvars(os.path.expanduser(path))


def existing_path(value: object) -> tuple[Path, None] | tuple[None, tuple[str, int]]:
    """OSWorld's ``"path"`` argument of the ``/setup/`` routes, expanded: ``(path, None)``, or ``(None, (message,
    HTTP status))`` when it is missing (400) or names nothing (404)."""
    if not value:
        return None, ("Path not supplied!", 400)
    path = Path(expand(str(value)))
    if not path.exists():
        return None, (f"File not found: {path}", 404)
    return path, None


def parse_command(data: dict[str, Any]) -> tuple[list[str] | str, bool]:
    """OSWorld's command convention: a list, or a string split with shlex unless ``shell`` is true."""
    shell = bool(data.get("shell", False))
    command = data.get("command", "" if shell else [])
    if isinstance(command, str) and not shell:
        command = shlex.split(command)
    if isinstance(command, list):
        command = [expand(arg) if arg == "~" or arg.startswith("~/") else arg for arg in command]
    return command, shell


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def run_command(command: list[str] | str, shell: bool, timeout: float, cwd: str | None = None) -> dict[str, Any]:
    """OSWorld's result: ``{"status": "success", "output", "error", "returncode"}``, or ``status: error`` with a
    message when the command outlives ``timeout``."""
    try:
        proc = subprocess.run(command, shell=shell, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired as exc:  # its partial output comes undecoded, text=True or not
        return {"status": "error", "message": f"command timed out after {timeout:g} s",
                "output": _text(exc.stdout), "error": _text(exc.stderr), "returncode": -1}
    return {"status": "success", "output": proc.stdout, "error": proc.stderr, "returncode": proc.returncode}


def accessibility_tree(max_depth: int, max_width: int, timeout: float) -> tuple[str | None, str | None]:
    """Run the AT-SPI dumper in a child process with a time limit: ``(xml, None)`` or ``(None, error)``.

    The dumper stops walking at ``timeout`` itself (and marks the tree truncated); the child is killed 5 s
    later if an application hangs it."""
    error = "no Python with pyatspi found (install python3-pyatspi)"
    for python in dict.fromkeys(A11Y_PYTHONS):
        if not os.path.exists(python):
            continue
        try:
            proc = subprocess.run([python, str(A11Y_SCRIPT), "--max-depth", str(max_depth), "--max-width",
                                   str(max_width), "--budget", str(timeout)], capture_output=True, text=True,
                                  timeout=timeout + 5, start_new_session=True)
        except subprocess.TimeoutExpired:
            return None, f"the accessibility tree did not come within {timeout + 5:g} s"
        if proc.returncode == 0:
            return proc.stdout, None
        error = proc.stderr.strip()[-500:] or f"the dumper exited with {proc.returncode}"
        if proc.returncode != 3:  # 3: this interpreter has no pyatspi, try the next
            break
    return None, error
