"""The persistent action worker: one Python process with pyautogui already imported.

The controller server sends it one action at a time (a JSON line on stdin) and reads one JSON line back on
the worker's protocol pipe. Agent code runs with ``exec`` in a fresh namespace, so an action costs a
function call, not an interpreter start. A timed-out or crashed worker is killed and respawned by
:class:`ActionWorker`; the action that caused it is reported, the next one runs normally.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from typing import Any

MAX_OUTPUT_CHARS = 65536
READY_TIMEOUT_S = 30.0


def _fix_x11_backend() -> None:
    """Two pyautogui X11 quirks: every click spawns ``dconf read`` to ask whether the mouse is left-handed
    (a process per click, and an error where dconf is missing), and ``<`` comes out as ``>`` because its
    keysym resolves to the ISO <LSGT> key, which pyautogui then presses with shift. A virtual desktop has a
    right-handed mouse and a US keymap, where ``<`` and ``>`` are shift+comma and shift+period."""
    from pyautogui import _pyautogui_x11 as x11
    from Xlib import XK

    x11._mouse_is_swapped = lambda: False
    for char, base in (("<", "comma"), (">", "period")):
        x11.keyboardMapping[char] = x11._display.keysym_to_keycode(XK.string_to_keysym(base))


def _serve(proto: io.BufferedWriter) -> None:
    import pyautogui  # the whole point of the worker: imported once

    pyautogui.FAILSAFE = False
    pyautogui.PAUSE = float(os.environ.get("STEP_ENVS_PYAUTOGUI_PAUSE", "0"))
    _fix_x11_backend()

    def reply(obj: dict[str, Any]) -> None:
        proto.write(json.dumps(obj).encode() + b"\n")
        proto.flush()

    reply({"ready": True, "pid": os.getpid()})
    for line in sys.stdin.buffer:
        request = json.loads(line)
        out = io.StringIO()
        namespace = {"__name__": "__main__", "pyautogui": pyautogui, "time": time}
        error = None
        try:
            code = compile(request["code"], "<action>", "exec")
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                exec(code, namespace)
        except SystemExit as exc:
            error = f"action called exit({exc.code})"
        except BaseException as exc:  # noqa: BLE001 - every failure of agent code is reported, never fatal
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        reply({"ok": error is None, "error": error, "output": out.getvalue()[:MAX_OUTPUT_CHARS]})


def main() -> None:
    # fd 1 becomes the protocol pipe's private copy; agent prints and child processes get /dev/null
    proto = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    _serve(proto)


class WorkerTimeout(Exception):
    """The action worker did not answer in time: the action ran past its timeout (the worker is then killed
    and respawned) or a new worker did not say it was ready.
    """


class ActionWorker:
    """Owns one worker process: runs actions with a per-action timeout, respawns after a kill or crash."""

    def __init__(self, env: dict[str, str] | None = None, python: str = sys.executable) -> None:
        self._env = env
        self._python = python
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf = b""
        self._lock = threading.Lock()
        self._closed = False
        self.restarts = 0

    def start(self) -> None:
        with self._lock:
            if not self._closed and (self._proc is None or self._proc.poll() is not None):
                self._spawn()

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def _spawn(self) -> None:
        self._buf = b""
        self._proc = subprocess.Popen(
            [self._python, "-m", "step_envs.server.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # the server's log: a worker that cannot start says why there
            env=self._env,
            start_new_session=True,  # its own process group, so a kill takes the children the action spawned
        )
        hello = self._read_line(READY_TIMEOUT_S)
        if not hello.get("ready"):
            raise RuntimeError(f"action worker did not start: {hello}")

    def _read_line(self, timeout: float) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerTimeout
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise EOFError("action worker exited")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def _kill(self) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()
        self._proc = None

    def run(self, code: str, timeout: float = 10.0) -> dict[str, Any]:
        """Run ``code``; returns ``{"status": "success"|"error"|"timeout", "error", "output", "elapsed"}``."""
        with self._lock:
            t0 = time.monotonic()
            try:
                if self._proc is None or self._proc.poll() is not None:
                    self._spawn()
            except (EOFError, WorkerTimeout, RuntimeError) as exc:
                self._kill()
                return {"status": "error", "error": f"action worker could not start ({exc or type(exc).__name__}); "
                        "is the X display alive?", "output": "", "elapsed": time.monotonic() - t0}
            assert self._proc is not None and self._proc.stdin is not None
            try:
                self._proc.stdin.write(json.dumps({"code": code}).encode() + b"\n")
                self._proc.stdin.flush()
                result = self._read_line(timeout)
                status = "success" if result["ok"] else "error"
                return {"status": status, "error": result["error"], "output": result["output"],
                        "elapsed": time.monotonic() - t0}
            except WorkerTimeout:
                self._kill()
                self._respawn_soon()
                return {"status": "timeout", "error": f"action timed out after {timeout:g} s; worker restarted",
                        "output": "", "elapsed": time.monotonic() - t0}
            except (EOFError, BrokenPipeError) as exc:
                self._kill()
                self._respawn_soon()
                return {"status": "error", "error": f"action killed the worker ({exc}); worker restarted",
                        "output": "", "elapsed": time.monotonic() - t0}

    def _respawn_soon(self) -> None:
        """Start the replacement in the background so the next action does not pay for the import."""
        self.restarts += 1
        threading.Thread(target=self._start_quietly, daemon=True).start()

    def _start_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self.start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._kill()


if __name__ == "__main__":
    main()
