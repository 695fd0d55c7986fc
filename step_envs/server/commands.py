"""Child processes the controller runs for its routes: OSWorld's shell commands and the AT-SPI dumper (one per
session, :class:`A11yReader`)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from step_envs.server import A11Y_SCOPES, app_ports

COMMAND_TIMEOUT_S = 120
A11Y_SCRIPT = Path(__file__).with_name("a11y.py")
# the server's interpreter first (the image's venv sees Debian's pyatspi), then the system one (a host venv may not)
A11Y_PYTHONS = [sys.executable, "/usr/bin/python3"]
NO_PYATSPI = 3  # the dumper's exit code when its interpreter has no pyatspi
NO_PYATSPI_ERROR = "no Python with pyatspi found (install python3-pyatspi)"
STDERR_LINES = 20  # the last lines of the reader's stderr kept for its error messages


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
    """OSWorld's command convention: a list, or a string split with shlex unless ``shell`` is true; OSWorld's
    Chrome DevTools ports in it become the session's (:func:`step_envs.server.app_ports.rewrite`)."""
    shell = bool(data.get("shell", False))
    command = data.get("command", "" if shell else [])
    if isinstance(command, str) and not shell:
        command = shlex.split(command)
    if isinstance(command, list):
        command = [expand(arg) if arg == "~" or arg.startswith("~/") else arg for arg in command]
    return app_ports.rewrite(command), shell


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


def accessibility_tree_once(max_depth: int, max_width: int, timeout: float,
                            scope: str = "all") -> tuple[str | None, str | None]:
    """Run the AT-SPI dumper in a new child process for one tree, with a time limit: ``(xml, None)`` or ``(None,
    error)``. What every tree cost before :class:`A11yReader` (~0.5 s of it the ``pyatspi`` import); kept for
    comparison (``benchmarks/bench_a11y.py``).

    The dumper stops walking at ``timeout`` itself (and marks the tree truncated); the child is killed 5 s
    later if an application hangs it."""
    error = NO_PYATSPI_ERROR
    for python in dict.fromkeys(A11Y_PYTHONS):
        if not os.path.exists(python):
            continue
        try:
            proc = subprocess.run([python, str(A11Y_SCRIPT), "--max-depth", str(max_depth), "--max-width",
                                   str(max_width), "--budget", str(timeout), "--scope", scope], capture_output=True,
                                  text=True, timeout=timeout + 5, start_new_session=True)
        except subprocess.TimeoutExpired:
            return None, f"the accessibility tree did not come within {timeout + 5:g} s"
        if proc.returncode == 0:
            return proc.stdout, None
        error = proc.stderr.strip()[-500:] or f"the dumper exited with {proc.returncode}"
        if proc.returncode != NO_PYATSPI:  # this interpreter has no pyatspi, try the next
            break
    return None, error


class A11yReader:
    """One long-lived AT-SPI dumper (``a11y.py --serve``) for the server's trees: ``pyatspi`` is imported once per
    session, not once per tree.

    It is a child process, so a hung application cannot hang the server: a tree that does not come within its
    ``timeout`` + 5 s gets the child killed (its whole process group) and an error, and the next request starts a
    new one. It starts at the first request, under the first interpreter of ``A11Y_PYTHONS`` that has
    ``pyatspi`` (the one found is kept for the restarts). Requests take turns (a lock): Flask serves requests
    from several threads. ``close`` ends it; it also ends by itself when its stdin closes (the server exited).
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._python: str | None = None  # the interpreter that had pyatspi
        self._buf = bytearray()
        self._stderr: deque[bytes] = deque(maxlen=STDERR_LINES)
        self._drain: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.starts = 0  # children that came up ready

    @property
    def pid(self) -> int | None:
        """The running child's pid, or None when none runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def tree(self, max_depth: int, max_width: int, timeout: float,
             scope: str = "all") -> tuple[str | None, str | None]:
        """``(xml, None)`` or ``(None, error)``; the walk stops at ``timeout`` (the tree then says
        ``truncated="true"``), the child is killed at ``timeout`` + 5 s. ``scope``: ``all`` or ``active``
        (``a11y.py``'s docstring)."""
        if scope not in A11Y_SCOPES:
            return None, f"unknown scope {scope!r}; known: {', '.join(A11Y_SCOPES)}"
        start = time.monotonic()
        deadline = start + timeout + 5
        if not self._lock.acquire(timeout=timeout + 5):
            return None, f"the accessibility tree did not come within {timeout + 5:g} s (an earlier one still runs)"
        try:
            if self._closed:
                return None, "the accessibility reader is closed"
            if self._proc is None or self._proc.poll() is not None:
                self._kill()
                error = self._start(deadline)
                if error:
                    return None, error
            assert self._proc is not None and self._proc.stdin is not None
            budget = max(0.0, min(timeout, deadline - 5 - time.monotonic()))
            request = {"max_depth": max_depth, "max_width": max_width, "budget": budget, "scope": scope}
            try:
                self._proc.stdin.write(json.dumps(request).encode() + b"\n")
                self._proc.stdin.flush()
                reply = self._read_line(deadline)
            except TimeoutError:
                self._kill()
                return None, f"the accessibility tree did not come within {timeout + 5:g} s"
            except (EOFError, OSError, ValueError) as exc:  # it died (or wrote what is not JSON): start anew next time
                self._kill()
                return None, f"the accessibility reader failed ({exc}): {self._stderr_tail()}".rstrip(": ")
            if not reply.get("ok"):
                return None, str(reply.get("error") or "the accessibility reader gave no tree")
            return str(reply["xml"]), None
        finally:
            self._lock.release()

    def close(self) -> None:
        """End the child (a request in progress gets an error); no more trees after this."""
        self._closed = True
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)

    # --- the child ------------------------------------------------------------------------------------

    def _start(self, deadline: float) -> str | None:
        """Start the child under the first interpreter with pyatspi and wait for its ready line; the error, or
        None once it is ready."""
        error = NO_PYATSPI_ERROR
        pythons = [self._python] if self._python else list(dict.fromkeys(A11Y_PYTHONS))
        for python in pythons:
            if not os.path.exists(python):
                continue
            self._buf.clear()
            self._stderr.clear()
            self._proc = subprocess.Popen([python, str(A11Y_SCRIPT), "--serve"], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
            self._drain = threading.Thread(target=self._drain_stderr, args=(self._proc,), daemon=True,
                                           name="a11y-reader-stderr")
            self._drain.start()
            try:
                hello = self._read_line(deadline)
            except TimeoutError:
                self._kill()
                return "the accessibility reader did not start within the tree's time limit"
            except (EOFError, OSError, ValueError):
                code = self._proc.wait()
                self._kill()
                error = self._stderr_tail() or f"the accessibility reader exited with {code}"
                if code != NO_PYATSPI:  # 3: this interpreter has no pyatspi, try the next
                    break
                continue
            if not hello.get("ready"):
                self._kill()
                return f"the accessibility reader did not start: {hello}"
            self._python = python
            self.starts += 1
            return None
        return error

    def _read_line(self, deadline: float) -> dict[str, Any]:
        """The child's next JSON line; TimeoutError at ``deadline``, EOFError when it exited."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        end = self._buf.find(b"\n")
        while end < 0:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise EOFError("the accessibility reader exited")
            searched = len(self._buf)
            self._buf += chunk
            end = self._buf.find(b"\n", searched)
        line = bytes(self._buf[:end])
        del self._buf[: end + 1]
        return json.loads(line)

    def _drain_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        """Keep the last lines the child writes to stderr (AT-SPI's warnings, or why it could not start): read,
        so a chatty child never blocks on a full pipe."""
        assert proc.stderr is not None
        with contextlib.suppress(OSError, ValueError):
            for line in proc.stderr:
                self._stderr.append(line)

    def _stderr_tail(self) -> str:
        return b"".join(self._stderr).decode(errors="replace").strip()[-500:]

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        self._buf.clear()
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if self._drain is not None:  # its last words, for the error message
            self._drain.join(timeout=1)
        for pipe in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()
