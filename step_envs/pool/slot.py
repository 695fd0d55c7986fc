"""One place in the pool: a worker thread that owns one environment and runs its calls one at a time.

The env's work happens in other processes (the desktop session, the controller, a container, a Ray actor), so a
thread per env is enough for one slow reset or step never to hold up the others. The thread brings the env up,
runs each command it is sent, posts the result, and replaces the env after any environment failure.

The health monitor (`step_envs.pool.health`) may, from its own thread, *condemn* a slot's env (it stopped
answering, or a call ran past the hard timeout): it kills the env so the call in flight fails, and that call's
result is turned into an ``env_error``. If the thread still does not come back, the monitor *abandons* it: the
slot gets a new generation and a fresh thread, and whatever the old thread returns later is dropped.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from step_envs.pool.handles import EnvHandle
from step_envs.tasks import Task


class Ready(NamedTuple):
    """One finished call: unpacks like ``(env_index, observation, reward, terminated, truncated, info)``.

    ``info["reset"]`` is True for the result of a reset. ``info["env_error"]`` set means the environment failed
    (then ``truncated`` is True: the episode is over) and has been replaced; it is never a task failure.
    """

    env_index: int
    observation: dict[str, Any]
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


@dataclass
class Command:
    """A call sent to a slot's worker thread: a ``reset`` onto ``task`` (with ``seed`` and ``max_steps``) or a
    ``step`` with ``action``; ``sent_at`` dates it for the hard timeout.
    """

    kind: str
    """``reset`` or ``step``."""
    task: Task | None = None
    seed: int | None = None
    max_steps: int | None = None
    action: Any = None
    sent_at: float = field(default_factory=time.monotonic)


@dataclass
class _Replace:
    handle: EnvHandle
    reason: str


@dataclass
class _Adopt:
    """Serve ``handle`` (a fork of another slot's env, mid-episode on ``task``) instead of the current one."""

    handle: EnvHandle
    task: Task | None
    done: threading.Event


_CLOSE = object()


class EnvSlot:
    """State shared between the pool (caller's thread), the slot's worker thread and the health monitor;
    every field below the lock is read and written under it."""

    def __init__(self, index: int, factory: Callable[[], EnvHandle], post: Callable[[Ready], None],
                 blank_observation: Callable[[Task | None], dict[str, Any]], start_gate: threading.Semaphore,
                 start_attempts: int = 3) -> None:
        self.index = index
        self._factory, self._post, self._blank = factory, post, blank_observation
        self._start_gate, self._start_attempts = start_gate, start_attempts
        self.lock = threading.Lock()
        self.generation = 0
        self.handle: EnvHandle | None = None
        """The env in service (None while it starts or after it failed to)."""
        self.pending: Command | None = None
        """The caller's command in flight: sent, result not yet posted."""
        self.busy_since: float | None = None
        """When the env started executing `pending` (monotonic)."""
        self.condemned: tuple[EnvHandle, str, float] | None = None
        """(handle, why, when) once the health monitor gave up on that handle."""
        self.start_error: str | None = None
        self.replacements = 0
        self.unhealthy_streak = 0
        self.closing = False
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.up = threading.Event()
        """Set once the first start attempt finished (up or failed)."""

    # --- called from the pool ----------------------------------------------------------------------------

    def launch(self) -> None:
        with self.lock:
            self._spawn_thread()

    def submit(self, command: Command) -> None:
        with self.lock:
            if self.pending is not None:
                raise RuntimeError(f"env {self.index} already has a {self.pending.kind} in flight; "
                                   "recv() its result before sending again")
            if self.closing:
                raise RuntimeError("the pool is closed")
            self.pending = command
            self._inbox.put(command)

    def close(self, timeout: float) -> None:
        """Kill a call in flight, stop the thread and its env; returns within about ``timeout`` seconds."""
        with self.lock:
            self.closing = True
            busy, handle, thread = self.pending is not None, self.handle, self._thread
            self._inbox.put(_CLOSE)
        if busy and handle is not None:
            handle.kill()
        if thread is not None:
            thread.join(timeout)
        if thread is not None and thread.is_alive() and handle is not None:
            handle.kill()  # a thread stuck past the timeout: at least its env does not outlive the pool

    # --- called from the health monitor ------------------------------------------------------------------

    def condemn(self, handle: EnvHandle, reason: str) -> bool:
        """Give up on ``handle``: kill it so a call in flight fails; an idle slot replaces it right away."""
        with self.lock:
            if self.closing or self.handle is not handle or self.condemned is not None:
                return False
            self.condemned = (handle, reason, time.monotonic())
            if self.pending is None:
                self._inbox.put(_Replace(handle, reason))
        threading.Thread(target=handle.kill, daemon=True, name=f"env-{self.index}-kill").start()
        return True

    def abandon(self, reason: str) -> bool:
        """The thread did not come back from a killed env: answer its call with an env_error, start afresh."""
        with self.lock:
            if self.closing or self.pending is None:
                return False
            command = self.pending
            self._answer(command, self.failure(command, reason))
            self.handle, self.condemned, self.busy_since = None, None, None
            self._spawn_thread()  # a new generation: the old thread's late result is dropped
        return True

    # --- the worker thread -------------------------------------------------------------------------------

    def _spawn_thread(self) -> None:
        self.generation += 1
        self._inbox = queue.SimpleQueue()
        worker = _Worker(self, self.generation, self._inbox)
        self._thread = threading.Thread(target=worker.run, daemon=True, name=f"env-{self.index}")
        self._thread.start()

    def adopt(self, handle: EnvHandle, task: Task | None, timeout: float = 60.0) -> None:
        """Make this slot's worker serve ``handle`` from its next command on (its old env is closed)."""
        done = threading.Event()
        self._inbox.put(_Adopt(handle, task, done))
        if not done.wait(timeout):
            raise TimeoutError(f"env {self.index} did not take its fork within {timeout:g} s")

    def current(self, generation: int) -> bool:
        with self.lock:
            return generation == self.generation and not self.closing

    def failure(self, command: Command, message: str, task: Task | None = None, partial: Ready | None = None) -> Ready:
        """An ``env_error`` result for ``command`` (keeping what ``partial`` got, if anything)."""
        info: dict[str, Any] = dict(partial.info) if partial is not None else {"action_error": None}
        info["env_error"] = message
        if command.kind == "reset":
            info["reset"] = True
        observation = partial.observation if partial is not None else self._blank(command.task or task)
        return Ready(self.index, observation, 0.0, False, True, info)

    def _answer(self, command: Command, ready: Ready) -> None:
        """Post the result and free the slot (under the lock, so the monitor never answers it twice)."""
        ready.info["elapsed"] = time.monotonic() - command.sent_at
        self._post(ready)
        self.pending, self.busy_since = None, None


class _Worker:
    """The body of one generation of a slot's thread; its episode state dies with it when it is abandoned."""

    def __init__(self, slot: EnvSlot, generation: int, inbox: queue.SimpleQueue[Any]) -> None:
        self.slot, self.generation, self.inbox = slot, generation, inbox
        self.task: Task | None = None
        self.in_episode = False
        self.lost: str | None = None
        """Why the episode in flight is gone (its env was replaced): its next step is an env_error."""

    def run(self) -> None:
        slot = self.slot
        handle = self._bring_up()
        while True:
            command = self.inbox.get()
            if command is _CLOSE or not slot.current(self.generation):
                break
            if isinstance(command, _Replace):
                if command.handle is handle:
                    handle = self._replace(handle, command.reason)
                continue
            if isinstance(command, _Adopt):
                old, handle = handle, command.handle
                with slot.lock:
                    slot.handle, slot.condemned, slot.unhealthy_streak = handle, None, 0
                self.task, self.in_episode, self.lost = command.task, True, None
                if old is not None:
                    with contextlib.suppress(Exception):
                        old.close()
                command.done.set()
                continue
            if handle is None:
                handle = self._bring_up()
            ready = self._execute(handle, command)
            with slot.lock:
                if self.generation != slot.generation:
                    break  # abandoned meanwhile: the monitor answered this call already
                slot._answer(command, ready)
            if ready.info.get("env_error") and handle is not None:
                handle = self._replace(handle, ready.info["env_error"])
        if handle is not None:
            with contextlib.suppress(Exception):
                handle.close()

    def _bring_up(self) -> EnvHandle | None:
        """Start a new env (a few attempts); None when it cannot be started (the error is kept)."""
        slot, error = self.slot, "not started"
        for attempt in range(slot._start_attempts):
            if not slot.current(self.generation):
                return None
            handle = slot._factory()
            try:
                with slot._start_gate:
                    handle.start()
            except Exception as exc:  # noqa: BLE001 - any failure to start is an environment failure
                error = f"{type(exc).__name__}: {exc}"
                with contextlib.suppress(Exception):
                    handle.close()
                time.sleep(min(0.5 * 2 ** attempt, 4.0))
                continue
            with slot.lock:
                stale = self.generation != slot.generation or slot.closing
                if not stale:
                    slot.handle, slot.start_error, slot.unhealthy_streak = handle, None, 0
            slot.up.set()
            if stale:
                handle.close()
                return None
            return handle
        with slot.lock:
            slot.start_error = error
        slot.up.set()
        return None

    def _replace(self, handle: EnvHandle, reason: str) -> EnvHandle | None:
        slot = self.slot
        with slot.lock:
            if slot.handle is handle:
                slot.handle = None
            slot.condemned = None
            slot.replacements += 1
        if self.in_episode:
            self.lost = reason
        with contextlib.suppress(Exception):
            handle.close()
        return self._bring_up()

    def _execute(self, handle: EnvHandle | None, command: Command) -> Ready:
        """Run one command; every failure of the environment becomes an ``env_error`` result."""
        slot = self.slot
        if handle is None:
            return slot.failure(command, f"the environment could not be started: {slot.start_error}", self.task)
        if command.kind == "step" and self.lost is not None:
            return slot.failure(command, f"the environment was replaced mid-episode: {self.lost}", self.task)
        with slot.lock:
            if self.generation == slot.generation:
                slot.busy_since = time.monotonic()
        try:
            if command.kind == "reset":
                assert command.task is not None
                self.task, self.lost = command.task, None
                observation, info = handle.reset(command.task, command.seed, command.max_steps)
                info["reset"] = True
                ready = Ready(slot.index, observation, 0.0, False, bool(info.get("env_error")), info)
            else:
                ready = Ready(slot.index, *handle.step(command.action))
        except Exception as exc:  # noqa: BLE001 - a crash of the env's machinery is an environment failure
            ready = slot.failure(command, f"{type(exc).__name__}: {exc}", self.task)
        with slot.lock:
            condemned = slot.condemned
        if condemned is not None and condemned[0] is handle:
            ready = slot.failure(command, condemned[1], self.task, ready)
        self.in_episode = not (ready.terminated or ready.truncated)
        return ready
