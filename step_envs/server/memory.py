"""Keeping the controller's idle memory small: fewer malloc arenas, and freed memory handed back once requests stop.

The server answers each request on a thread of its own (werkzeug's ``threaded=True``), and glibc gives threads
arenas of their own (up to 8 per core): a 1280x720 frame freed in one arena is kept there for that arena's next
caller. Frames are megabytes, so after a few dozen steps the server held ~50 MiB of freed frames while idle, a
quarter of a default session's memory. :func:`limit_arenas` caps the arenas at two (requests mostly run one at a
time); :class:`IdleTrim` calls ``malloc_trim`` once no request came for a second, so an idle env holds what it
uses and a busy one keeps reusing its buffers (a trim per step would make every step fault its frames in again).
Both do nothing where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time

M_ARENA_MAX = -8  # glibc's mallopt parameter numbers (malloc.h)
IDLE_S = 1.0


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def limit_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for this process (call before starting threads); whether it took."""
    libc = _libc()
    return bool(libc and libc.mallopt(M_ARENA_MAX, arenas))


class IdleTrim:
    """A daemon thread that returns freed heap memory to the system after ``idle_s`` without a :meth:`touch`."""

    def __init__(self, idle_s: float = IDLE_S) -> None:
        self.idle_s = idle_s
        self.trims = 0
        self._libc = _libc()
        self._last = time.monotonic()
        self._dirty = False
        self._wake = threading.Event()
        if self._libc is not None:
            threading.Thread(target=self._run, name="idle-trim", daemon=True).start()

    def touch(self) -> None:
        """A request ran: trim once the server has been idle for ``idle_s`` after it."""
        self._last = time.monotonic()
        if not self._dirty:
            self._dirty = True
            self._wake.set()

    def _run(self) -> None:
        assert self._libc is not None
        while True:
            self._wake.wait()
            idle = time.monotonic() - self._last
            if idle < self.idle_s:
                time.sleep(self.idle_s - idle)
                continue
            self._wake.clear()  # before the flag: a touch between the two is then at worst trimmed early
            self._dirty = False
            self._libc.malloc_trim(0)
            self.trims += 1
