"""The pool's health monitor: finds envs that died, stopped answering or hang, and has them replaced.

Every ``interval`` seconds it asks each env in service whether it is alive (`EnvHandle.alive`: the provider's
processes or container still run and the controller answers). An env that fails ``unhealthy_after`` checks in
a row, or whose call has run past ``hard_timeout``, is condemned: killed, so the call in flight fails and comes
back as an ``env_error``, then replaced by its slot's thread. A thread that does not come back within
``abandon_after`` seconds of the kill is abandoned (see `step_envs.pool.slot`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent import futures

from step_envs.pool.handles import EnvHandle
from step_envs.pool.slot import EnvSlot


class HealthMonitor:
    """A thread that checks every env of the pool each ``interval`` seconds and condemns (kills, so its slot
    replaces it) one that failed ``unhealthy_after`` probes in a row or whose call ran past ``hard_timeout``;
    a slot thread still stuck ``abandon_after`` seconds after the kill is abandoned. ``condemned`` counts them.
    """

    def __init__(self, slots: Sequence[EnvSlot], interval: float = 2.0, hard_timeout: float = 120.0,
                 unhealthy_after: int = 2, abandon_after: float = 15.0) -> None:
        self.slots = slots
        self.interval, self.hard_timeout = interval, hard_timeout
        self.unhealthy_after, self.abandon_after = unhealthy_after, abandon_after
        self.condemned = 0
        """How many envs the monitor gave up on (died, stopped answering, or hung)."""
        self._stop = threading.Event()
        # probes run side by side: a slow answer from one env must not delay the check of the others
        self._probes = futures.ThreadPoolExecutor(max_workers=max(1, len(slots)), thread_name_prefix="env-health")
        self._thread = threading.Thread(target=self._run, daemon=True, name="env-pool-health")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._probes.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def check(self) -> None:
        """One round over every slot."""
        now = time.monotonic()
        probes = []
        for slot in self.slots:
            with slot.lock:
                handle, busy_since, condemned = slot.handle, slot.busy_since, slot.condemned
            if handle is None or slot.closing:
                continue
            if condemned is not None:
                if busy_since is not None and now - condemned[2] > self.abandon_after:
                    slot.abandon(f"{condemned[1]} (and its call did not return within {self.abandon_after:g} s)")
                continue
            if busy_since is not None and now - busy_since > self.hard_timeout:
                self._condemn(slot, handle, f"a call ran past the hard timeout of {self.hard_timeout:g} s")
                continue
            probes.append((slot, handle, self._probes.submit(_probe, handle)))
        for slot, handle, future in probes:
            if self._stop.is_set():
                return
            try:
                alive, error = future.result(timeout=self.interval + 10)
            except futures.TimeoutError:
                alive, error = False, "the health check itself hung"
            with slot.lock:
                if slot.handle is not handle:
                    continue  # replaced meanwhile: this verdict is about an env that is gone
                slot.unhealthy_streak = 0 if alive else slot.unhealthy_streak + 1
                streak = slot.unhealthy_streak
            if streak >= self.unhealthy_after:
                self._condemn(slot, handle, f"the environment stopped answering ({error or 'not alive'}; "
                              f"{streak} health checks in a row)")

    def _condemn(self, slot: EnvSlot, handle: EnvHandle, reason: str) -> None:
        if slot.condemn(handle, reason):
            self.condemned += 1


def _probe(handle: EnvHandle) -> tuple[bool, str | None]:
    try:
        return handle.alive(), None
    except Exception as exc:  # noqa: BLE001 - a probe that fails is a failed health check
        return False, f"{type(exc).__name__}: {exc}"
