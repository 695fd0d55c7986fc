"""EnvPool: many environments in parallel (desktops, or Android devices), stepped one by one or in lockstep, kept
alive.

Each env has its own worker thread (`step_envs.pool.slot`), so one env's slow reset or step never holds up
the others; a health monitor (`step_envs.pool.health`) replaces envs that die, stop answering or hang, and the
call in flight comes back with ``info["env_error"]`` set. Three ways to drive it:

- async, per env: ``send(i, action)`` / ``send_reset(i, task)``, then ``recv()`` whichever results are ready;
- lockstep: ``reset(tasks)`` / ``step(actions)`` over all envs;
- whole episodes: ``run_episodes(agent, tasks)`` (`step_envs.pool.runner`), with retries of env failures.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from step_envs.episodes import Episode
from step_envs.kinds import kind_of_provider, task_for
from step_envs.pool.handles import EnvHandle, ProviderEnvHandle
from step_envs.pool.health import HealthMonitor
from step_envs.pool.slot import Command, EnvSlot, Ready
from step_envs.providers.base import ProviderError
from step_envs.tasks import Task


def make_handle(provider: str, env_kwargs: dict[str, Any], provider_kwargs: dict[str, Any],
                node_provider: str = "local", ray_options: dict[str, Any] | None = None) -> EnvHandle:
    """``provider="ray"``: the env runs in a Ray actor, on a ``node_provider`` of that actor's node."""
    if provider == "ray":
        from step_envs.pool.ray import RayEnvHandle

        return RayEnvHandle(env_kwargs, provider_kwargs, node_provider, ray_options or {})
    return ProviderEnvHandle(provider, env_kwargs, provider_kwargs)


class EnvPool:
    """``num_envs`` environments on ``provider``: desktops (``"local"``, ``"docker"``, or ``"ray"``), or Android
    devices (``"emulator"``: an emulator slot per env; ``"fake-emulator"``: android-env's FakeSimulator, no
    device). On an Android provider the envs are `AndroidEnv` and tasks are Android ones (`load_task`).

    Args:
        env_kwargs: `DesktopEnv` options for every env (``action_space``, ``screen_size``, ``max_steps``,
            ``action_timeout``, ...); on an Android provider, `AndroidEnv` options (``screen_size``,
            ``max_steps``, ``ui_tree``, ``input_mode``, ...).
        provider_kwargs: options of the provider (for ``"ray"``: of the provider each actor runs on its node).
        max_retries: how many times `run_episodes` retries an episode that ended in an ``env_error``.
        hard_timeout: seconds one reset or step may take before its env is declared hung and replaced.
        health_interval: seconds between two health checks of every env; ``unhealthy_after`` failed checks in
            a row condemn an env.
        start_concurrency: how many envs may be starting at once (starting is the CPU-heavy part).
        node_provider: with ``provider="ray"``, where each actor's desktop lives on its node (``"local"`` or
            ``"docker"``).
        ray_options: with ``provider="ray"``, options of each actor (``num_cpus``, ``resources``,
            ``scheduling_strategy``; default: one unit of the ``step_env`` resource where nodes advertise it,
            no CPU reserved, spread over the nodes: see `step_envs.providers.ray`).
        ray_address: with ``provider="ray"``, the cluster to join (``"auto"``, ``"ray://..."``, ``host:port``);
            default: the one this process already joined, else a one-node cluster on loopback that the pool
            starts and stops.
        wait: wait in the constructor until every env is up (raises `ProviderError` if none could start).
    """

    def __init__(self, num_envs: int, provider: str = "local", *, env_kwargs: dict[str, Any] | None = None,
                 provider_kwargs: dict[str, Any] | None = None, max_retries: int = 2, hard_timeout: float = 120.0,
                 health_interval: float = 2.0, unhealthy_after: int = 2, abandon_after: float = 15.0,
                 start_concurrency: int = 4, start_attempts: int = 3, node_provider: str = "local",
                 ray_options: dict[str, Any] | None = None, ray_address: str | None = None,
                 wait: bool = True, batch_window: float = 0.0) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if batch_window < 0:
            raise ValueError(f"batch_window must be >= 0 seconds, got {batch_window}")
        self.num_envs, self.provider, self.max_retries = num_envs, provider, max_retries
        self.batch_window = batch_window
        """`run_episodes`' default batch window (seconds)."""
        self.env_kwargs = dict(env_kwargs or {})
        self.provider_kwargs = dict(provider_kwargs or {})
        self.kind = kind_of_provider(provider)
        """The kind of env the provider runs (:mod:`step_envs.kinds`): desktop, android, or a registered one."""
        self.width, self.height = self.kind.screen(self.env_kwargs)
        self.action_space = self.kind.actions(self.env_kwargs)
        """The action set the envs take (``pyautogui``, ``computer_13``, Android's JSON actions, ...)."""
        self.android = self.kind.name == "android"
        """True when the envs are `AndroidEnv` on Android devices."""
        self._results: queue.SimpleQueue[Ready] = queue.SimpleQueue()
        self._closed = False
        self._ray_session = None
        if provider == "ray":
            from step_envs.providers.ray import RaySession, actor_options

            self._ray_session = RaySession.join(ray_address)
            ray_options = actor_options(ray_options, num_envs)

        def factory() -> EnvHandle:
            return make_handle(provider, self.env_kwargs, self.provider_kwargs, node_provider, ray_options)

        gate = threading.Semaphore(max(1, start_concurrency))
        self._slots = [EnvSlot(i, factory, self._results.put, self._blank_observation, gate, start_attempts)
                       for i in range(num_envs)]
        self.monitor = HealthMonitor(self._slots, health_interval, hard_timeout, unhealthy_after, abandon_after)
        for slot in self._slots:
            slot.launch()
        self.monitor.start()
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float | None = None) -> int:
        """Wait until every env finished its first start; returns how many are up. Raises `ProviderError`
        when none could start (what to fix is in the message)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for slot in self._slots:
            slot.up.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        up = sum(slot.handle is not None for slot in self._slots)
        if up == 0:
            errors = {slot.start_error for slot in self._slots if slot.start_error}
            self.close()
            raise ProviderError(f"no environment of the pool could start: {'; '.join(sorted(errors))}")
        return up

    def _blank_observation(self, task: Task | None) -> dict[str, Any]:
        observation: dict[str, Any] = {"screenshot": np.zeros((self.height, self.width, 3), np.uint8),
                                       "instruction": task.instruction if task is not None else ""}
        for key in self.kind.observation_keys(self.env_kwargs):
            observation[key] = ""
        return observation

    def __len__(self) -> int:
        return self.num_envs

    # --- async, per env ------------------------------------------------------------------------------------

    def send(self, env_index: int, action: Any) -> None:
        """Start one step of env ``env_index``; its result comes back from `recv`."""
        self._slot(env_index).submit(Command("step", action=action))

    def send_reset(self, env_index: int, task: Task | str, *, seed: int | None = None,
                   max_steps: int | None = None) -> None:
        """Start a reset of env ``env_index`` onto ``task``; its result comes back from `recv` with
        ``info["reset"] = True``. ``max_steps`` overrides the env's step limit for this episode."""
        self._slot(env_index).submit(Command("reset", task=self.load_task(task), seed=seed, max_steps=max_steps))

    def load_task(self, spec: Any) -> Task:
        """``spec`` as this pool's envs run it (its kind's task lookup, `step_envs.kinds.task_for`). Desktop envs:
        what `step_envs.tasks.load_task` takes. Android envs: an Android task id (``system-wifi/3``; a bare
        template name is its instance 0), an `AndroidTask` or the `Task` it travels as (`AndroidTask.as_task`)."""
        return task_for(self.kind, spec)

    def recv(self, timeout: float | None = None) -> list[Ready]:
        """Every result ready now, waiting up to ``timeout`` seconds (None: forever) for the first one.

        Returns ``[]`` on timeout. Each item unpacks as ``(env_index, observation, reward, terminated,
        truncated, info)``. Raises RuntimeError when nothing is in flight (it would wait forever).
        """
        if self._results.empty() and not self.in_flight():
            raise RuntimeError("recv() with nothing in flight: send() or send_reset() first")
        try:
            ready = [self._results.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                ready.append(self._results.get_nowait())
            except queue.Empty:
                return ready

    def in_flight(self) -> list[int]:
        """The envs whose call has not posted its result yet."""
        return [slot.index for slot in self._slots if slot.pending is not None]

    def idle(self) -> list[int]:
        """The envs with no call in flight (results already posted may still wait in `recv`)."""
        return [slot.index for slot in self._slots if slot.pending is None]

    # --- lockstep ------------------------------------------------------------------------------------------

    def reset(self, tasks: Task | str | Sequence[Task | str], *, seeds: int | Sequence[int | None] | None = None,
              max_steps: int | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Reset every env (one task for all, or one per env); ``seeds`` an int gives env i ``seeds + i``."""
        task_list = [tasks] * self.num_envs if isinstance(tasks, Task | str) else list(tasks)
        seed_list = ([seeds + i for i in range(self.num_envs)] if isinstance(seeds, int)
                     else list(seeds) if seeds is not None else [None] * self.num_envs)
        if len(task_list) != self.num_envs or len(seed_list) != self.num_envs:
            raise ValueError(f"reset needs one task and one seed per env ({self.num_envs}), got "
                             f"{len(task_list)} tasks and {len(seed_list)} seeds")
        self._require_idle("reset")
        for i, (task, seed) in enumerate(zip(task_list, seed_list, strict=True)):
            self.send_reset(i, task, seed=seed, max_steps=max_steps)
        results = self.gather(range(self.num_envs))
        return [r.observation for r in results], [r.info for r in results]

    def step(self, actions: Sequence[Any]) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray, np.ndarray,
                                                     list[dict[str, Any]]]:
        """Step every env with its action; ``(observations, rewards, terminated, truncated, infos)``."""
        if len(actions) != self.num_envs:
            raise ValueError(f"step needs one action per env ({self.num_envs}), got {len(actions)}")
        self._require_idle("step")
        for i, action in enumerate(actions):
            self.send(i, action)
        results = self.gather(range(self.num_envs))
        return ([r.observation for r in results], np.array([r.reward for r in results], np.float64),
                np.array([r.terminated for r in results], np.bool_),
                np.array([r.truncated for r in results], np.bool_), [r.info for r in results])

    def gather(self, env_indices: Sequence[int] | range) -> list[Ready]:
        """Wait for the results of exactly these envs' calls, in this order."""
        wanted = {int(i): None for i in env_indices}
        got: dict[int, Ready] = {}
        while len(got) < len(wanted):
            for ready in self.recv():
                if ready.env_index not in wanted or ready.env_index in got:
                    raise RuntimeError(f"unexpected result from env {ready.env_index}: do not mix lockstep calls "
                                       "with send()/recv() calls still in flight")
                got[ready.env_index] = ready
        return [got[i] for i in wanted]

    def drain(self) -> list[Ready]:
        """Wait for every call in flight and return every result not yet received (leaves the pool idle)."""
        results: list[Ready] = []
        while self.in_flight() or not self._results.empty():
            results.extend(self.recv(timeout=1.0))
        return results

    def _require_idle(self, what: str) -> None:
        if self.in_flight() or not self._results.empty():
            raise RuntimeError(f"{what}() needs every env idle; recv() the results of calls still in flight first")

    # --- episodes ------------------------------------------------------------------------------------------

    def run_episodes(self, agent: Any, tasks: Sequence[Any], *, max_steps: int | Callable[[Any], int | None] | None = None,
                     on_episode: Callable[[Episode], None] | None = None,
                     on_step: Callable[..., None] | None = None, batch_window: float | None = None) -> list[Episode]:
        """Run one episode per task with ``agent`` on every env at once; see `step_envs.pool.runner`.

        ``tasks`` items are ``Task | str | (Task | str, seed)``. ``on_episode(episode)`` is called as each final
        episode completes; ``on_step(key, step_index, observation, record)`` after each step, with the
        observation the action was chosen from (``record.observation_ref`` defaults to ``"<key>/step<i>"``
        and may be overwritten there, e.g. with the path the screenshot was saved to). The agent is asked for
        all the envs waiting at that moment in one batch; ``batch_window`` seconds (default: the pool's
        ``batch_window``, 0 unless set: never hold an env back) waits for more envs to be ready first, for a policy
        whose forward pass is cheaper batched.
        ``max_steps``: the step limit of every episode, or a function of the episode's `Task` giving its own
        (None: the env's).
        """
        from step_envs.pool.runner import EpisodeRunner

        self._require_idle("run_episodes")
        window = self.batch_window if batch_window is None else batch_window
        return EpisodeRunner(self, agent, max_steps, on_episode, on_step, window).run(tasks)

    # --- health and introspection --------------------------------------------------------------------------

    def live_envs(self) -> int:
        """How many envs are in service and answer their health check now."""
        return sum(1 for slot in self._slots if slot.handle is not None and _alive(slot.handle))

    def describe(self, env_index: int) -> dict[str, Any]:
        """Where env ``env_index`` lives now (provider, session id or container, node, pids where known)."""
        handle = self._slot(env_index).handle
        return handle.describe() if handle is not None else {}

    @property
    def replacements(self) -> int:
        """How many envs were torn down and replaced since the pool started."""
        return sum(slot.replacements for slot in self._slots)

    def fork(self, source: int, target: int) -> None:
        """Env ``target`` becomes a copy of env ``source`` as it is now, mid-episode included (same screen,
        apps, files, step count); from there the two run apart: step both with different actions to branch an
        episode. ``target``'s own env is closed. Desktop envs on the local provider with
        ``provider_kwargs={"reset_mode": "snapshot"}`` (a CRIU dump and two restores: docs/providers.md); the copy
        lives inside ``source``'s session, so replacing or closing ``source`` ends it (the pool then gives
        ``target`` a fresh env). Both envs must be idle (no call in flight)."""
        if source == target:
            raise ValueError("an env cannot fork onto itself")
        slots = self._slot(source), self._slot(target)
        for slot in slots:
            if slot.pending is not None:
                raise RuntimeError(f"env {slot.index} has a call in flight: recv() its result before forking")
        handle = slots[0].handle
        if handle is None:
            raise ProviderError(f"env {source} is not up: {slots[0].start_error}")
        twin = handle.fork()
        slots[1].adopt(twin, getattr(getattr(twin, "env", None), "task", None))

    def _slot(self, env_index: int) -> EnvSlot:
        if self._closed:
            raise RuntimeError("the pool is closed")
        if not 0 <= env_index < self.num_envs:
            raise IndexError(f"env index {env_index} out of range for a pool of {self.num_envs}")
        return self._slots[env_index]

    # --- lifecycle -----------------------------------------------------------------------------------------

    def close(self, timeout: float = 30.0) -> None:
        """Stop every env and thread; nothing the pool started keeps running. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.monitor.stop()
        closers = [threading.Thread(target=slot.close, args=(timeout,), daemon=True) for slot in self._slots]
        for closer in closers:
            closer.start()
        for closer in closers:
            closer.join(timeout + 5)
        if self._ray_session is not None:
            self._ray_session.leave()

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _alive(handle: EnvHandle) -> bool:
    try:
        return handle.alive()
    except Exception:  # noqa: BLE001 - an env whose probe fails is not live
        return False
