"""How adb commands reach a device: one small interface, three runners.

Everything Android-side in step-gym (actions, task setup, success checks, the emulator provider) speaks adb
through an :class:`AdbRunner`: ``run(args) -> bytes``, where ``args`` are what follows ``adb -s SERIAL``.

- :class:`SubprocessAdbRunner` runs the real ``adb`` binary (a real device or emulator).
- :class:`AndroidEnvAdbRunner` sends the same commands through android-env's own adb controller
  (``execute_adb_call`` with a generic request), so the env needs no second adb configuration.
- :class:`ReplayAdbRunner` answers from recorded responses and records what it was asked: how tasks and
  actions are tested without a device (the way AndroidWorld tests its evaluators).
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_TIMEOUT = 30.0


class AdbError(RuntimeError):
    """An adb command could not run or the device refused it: an environment failure, not a task outcome."""


class AdbRunner(Protocol):
    """Anything that runs adb commands on one device: ``run(args)`` is ``adb -s SERIAL *args`` and returns its
    output (the runners of this module implement it).
    """

    def run(self, args: Sequence[str], timeout: float | None = None) -> bytes:
        """Run ``adb [-s serial] *args`` and return its output; raise :class:`AdbError` when it fails."""


def command_key(args: Sequence[str]) -> str:
    """The one-line form of a command (``shell settings get global wifi_on``): how recordings are keyed.

    Plain spaces, because adb itself joins a command's arguments with spaces before the device's shell reads them.
    """
    return " ".join(args)


def shell(adb: AdbRunner, command: str, timeout: float | None = None) -> str:
    """Run one shell command line on the device (the device's ``sh`` parses it) and return its text output."""
    return adb.run(["shell", command], timeout).decode("utf-8", errors="replace")


@dataclass
class SubprocessAdbRunner:
    """The real ``adb`` binary: ``adb -P SERVER_PORT [-s SERIAL] ARGS``."""

    adb_path: str = "adb"
    serial: str | None = None
    server_port: int = 5037
    timeout: float = DEFAULT_TIMEOUT

    def argv(self, args: Sequence[str]) -> list[str]:
        prefix = [self.adb_path, "-P", str(self.server_port)]
        if self.serial:
            prefix += ["-s", self.serial]
        return prefix + list(args)

    def run(self, args: Sequence[str], timeout: float | None = None) -> bytes:
        argv = self.argv(args)
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=timeout or self.timeout, check=False,
                                  stdin=subprocess.DEVNULL)
        except FileNotFoundError as exc:
            raise AdbError(f"adb not found at {self.adb_path!r}: install the Android SDK platform-tools and pass "
                           "adb_path=... (see docs/android.md)") from exc
        except subprocess.TimeoutExpired as exc:
            raise AdbError(f"`{shlex.join(argv)}` timed out after {exc.timeout:g} s") from exc
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).decode("utf-8", errors="replace").strip()
            raise AdbError(f"`{shlex.join(argv)}` exited with {proc.returncode}: {detail[-500:]}")
        return proc.stdout


class AndroidEnvAdbRunner:
    """adb through android-env: ``execute_adb_call(AdbRequest(generic=...))`` on an ``android_env`` env."""

    def __init__(self, android_env: Any) -> None:
        self.android_env = android_env

    def run(self, args: Sequence[str], timeout: float | None = None) -> bytes:
        from android_env.proto import adb_pb2

        request = adb_pb2.AdbRequest(generic=adb_pb2.AdbRequest.GenericRequest(args=list(args)),
                                     timeout_sec=timeout or DEFAULT_TIMEOUT)
        try:
            response = self.android_env.execute_adb_call(request)
        except Exception as exc:  # noqa: BLE001 - android-env raises many types; all mean "adb failed"
            raise AdbError(f"android-env could not run `{command_key(args)}`: {exc}") from exc
        if response.status != adb_pb2.AdbResponse.Status.OK:
            status = adb_pb2.AdbResponse.Status.Name(response.status)
            raise AdbError(f"`{command_key(args)}` failed ({status}): {response.error_message.strip()[-500:]}")
        return bytes(response.generic.output)


Response = bytes | str | list[bytes | str] | None
"""A recorded answer: the output, a list of outputs consumed in order (the last one repeats), or None for
"this command fails"."""


@dataclass
class ReplayAdbRunner:
    """Answers commands from recorded responses and keeps the list of commands it was asked.

    ``responses`` maps a command's key (:func:`command_key`) to a :data:`Response`. A command with no recording
    answers ``default`` (``b""`` unless told otherwise; ``strict=True`` makes it an :class:`AdbError`, to pin
    exactly which commands a piece of code issues).
    """

    responses: dict[str, Response] = field(default_factory=dict)
    default: bytes = b""
    strict: bool = False
    calls: list[list[str]] = field(default_factory=list)
    _served: dict[str, int] = field(default_factory=dict, repr=False)

    def run(self, args: Sequence[str], timeout: float | None = None) -> bytes:
        self.calls.append(list(args))
        key = command_key(args)
        if key not in self.responses:
            if self.strict:
                raise AdbError(f"no recorded response for `{key}`")
            return self.default
        answer = self.responses[key]
        if isinstance(answer, list):
            served = self._served.get(key, 0)
            self._served[key] = served + 1
            answer = answer[min(served, len(answer) - 1)]
        if answer is None:
            raise AdbError(f"`{key}` failed (recorded failure)")
        return answer.encode() if isinstance(answer, str) else answer

    def record(self, args: Sequence[str] | str, *outputs: bytes | str | None) -> ReplayAdbRunner:
        """Add a recording (one output, or several consumed in order); returns self for chaining."""
        key = args if isinstance(args, str) else command_key(args)
        self.responses[key] = list(outputs) if len(outputs) > 1 else outputs[0]
        return self

    @property
    def commands(self) -> list[str]:
        """The commands asked so far, one line each."""
        return [command_key(call) for call in self.calls]
