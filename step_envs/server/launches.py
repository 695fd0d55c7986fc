"""The programs a setup's ``launch`` started, so the setup can tell a program that failed to start (it exited with
an error, e.g. an app that is not installed) from one still opening its window, and fail in a second instead of
waiting out its window timeout."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

KEEP = 32
"""Launches remembered; the oldest finished ones are forgotten first."""
STDERR_TAIL = 2000
"""Characters of a failed launch's stderr reported."""


class Launches:
    """Starts setup programs in their own session, their stderr in a file, and answers how each is doing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[int, tuple[subprocess.Popen, Path]] = {}

    def start(self, command: list[str] | str, shell: bool) -> int:
        fd, name = tempfile.mkstemp(prefix="step-launch-", suffix=".err")
        try:
            process = subprocess.Popen(command, shell=shell, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=fd, start_new_session=True)
        except OSError:
            os.unlink(name)
            raise
        finally:
            os.close(fd)
        with self._lock:
            self._started[process.pid] = (process, Path(name))
            self._forget_old()
        return process.pid

    def status(self, pid: int) -> dict[str, Any]:
        """``{"known", "running", "returncode", "stderr"}`` (the last of stderr once the program has exited)."""
        with self._lock:
            entry = self._started.get(pid)
        if entry is None:
            return {"known": False, "running": False, "returncode": None, "stderr": ""}
        process, err = entry
        code = process.poll()
        stderr = ""
        if code is not None:
            try:
                stderr = err.read_text(errors="replace")[-STDERR_TAIL:]
            except OSError:
                stderr = ""
        return {"known": True, "running": code is None, "returncode": code, "stderr": stderr}

    def _forget_old(self) -> None:
        finished = [pid for pid, (process, _) in self._started.items() if process.poll() is not None]
        for pid in finished[:max(0, len(self._started) - KEEP)]:
            _, err = self._started.pop(pid)
            err.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            for _, err in self._started.values():
                err.unlink(missing_ok=True)
            self._started.clear()
