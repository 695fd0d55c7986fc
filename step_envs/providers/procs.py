"""Finding and ending the processes of one session, however they were spawned.

Every process of a session carries ``STEP_ENVS_SESSION=<id>`` in its environment (children inherit it, even
daemons that double-fork), so shutdown scans /proc for it instead of trusting a process tree.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

MARKER = "STEP_ENVS_SESSION"


def session_pids(session_id: str) -> set[int]:
    needle = f"{MARKER}={session_id}".encode()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    found.add(int(entry))
        except OSError:
            continue
    found.discard(os.getpid())
    return found


def user_pids(uid: int) -> set[int]:
    """Every live process running as ``uid`` (the real uid, from /proc/PID/status, which anyone may read).

    Zombies are left out: they are dead already, and one stays until its parent reaps it (the controller reaps
    the apps it launched only at its next launch; an init that is not a real one may never reap orphans), so a
    restore that waited for them to go would wait its whole budget. Each status is read as bytes in one call and
    searched for its two lines: a restore scans every process of the host."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = _read_status(f"/proc/{entry}/status")
        except OSError:
            continue
        state, uids = status.find(b"\nState:\t"), status.find(b"\nUid:\t")
        if state < 0 or uids < 0 or status[state + 8:state + 9] == b"Z":
            continue
        with contextlib.suppress(ValueError):
            if int(status[uids + 6:status.index(b"\t", uids + 6)]) == uid:
                found.add(int(entry))
    found.discard(os.getpid())
    return found


def _read_status(path: str) -> bytes:
    """The start of a /proc status file, through its ``Uid:`` line (the first 4 KiB hold it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_pids(pids: set[int], grace_s: float = 1.0,
              signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGKILL)) -> None:
    """Send each signal in turn (SIGTERM, then SIGKILL by default), waiting up to ``grace_s`` for them to go."""
    for sig in signals:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while pids and time.monotonic() < deadline:
            pids = {pid for pid in pids if _alive(pid)}
            if pids:
                time.sleep(0.02)
        if not pids:
            return


def kill_session(session_id: str, grace_s: float = 1.0) -> None:
    kill_pids(session_pids(session_id), grace_s)


def kill_user(uid: int, rounds: int = 50) -> None:
    """SIGKILL every process of ``uid``, round after round until none is left (a fork bomb forks between rounds)."""
    for _ in range(rounds):
        pids = user_pids(uid)
        if not pids:
            return
        kill_pids(pids, grace_s=0.5, signals=(signal.SIGKILL,))
