"""`EnvPool.run_episodes`: one episode per requested task, every env kept busy, env failures retried.

The loop runs on the caller's thread (a policy's forward passes stay on it) and repeats: collect every result
that is ready, start queued tasks on the envs that came free, then ask the agent for the next actions of all
the envs that are waiting, in one batch. An episode that ends in an ``env_error`` is not an outcome of the
policy: its task goes back to the front of the queue until it has been tried ``1 + max_retries`` times; the
returned list holds exactly one final episode per requested task, in request order.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from step_envs.episodes import Episode, StepRecord
from step_envs.pool.agent import Agent, AgentAction, Turn, as_action
from step_envs.pool.slot import Ready
from step_envs.tasks import Task


class Pool(Protocol):
    """What the runner uses of an `EnvPool` (a protocol, so this module needs not import the pool that imports
    it)."""

    action_space: str
    width: int
    height: int
    max_retries: int

    def load_task(self, spec: Any) -> Task: ...

    def recv(self, timeout: float | None = None) -> list[Ready]: ...

    def idle(self) -> list[int]: ...

    def send_reset(self, env_index: int, task: Task | str, *, seed: int | None = None,
                   max_steps: int | None = None) -> None: ...

    def send(self, env_index: int, action: Any) -> None: ...

    def drain(self) -> list[Ready]: ...

OnStep = Callable[[str, int, dict[str, Any], StepRecord], None]

try:
    import xxhash

    def _digest(data: bytes | memoryview) -> str:
        return xxhash.xxh3_64_hexdigest(data)
except ImportError:  # xxhash is a dependency; blake2b keeps hashes working in a trimmed install
    def _digest(data: bytes | memoryview) -> str:
        return hashlib.blake2b(data, digest_size=8).hexdigest()


def observation_hash(observation: dict[str, Any]) -> str:
    """A fast hash of the observation: the screenshot's bytes (else the a11y text). Equal states, equal hashes."""
    screenshot = observation.get("screenshot")
    if isinstance(screenshot, np.ndarray):
        return _digest(memoryview(np.ascontiguousarray(screenshot)).cast("B"))
    return _digest(str(observation.get("a11y_tree", observation.get("instruction", ""))).encode())


@dataclass
class _Request:
    index: int
    task: Task
    seed: int | None


@dataclass
class _Attempt:
    request: _Request
    number: int
    key: str
    env_index: int
    started: float = field(default_factory=time.monotonic)
    agent_started: bool = False
    observation: dict[str, Any] | None = None
    steps: list[StepRecord] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    sent: AgentAction | None = None
    agent_seconds: float = 0.0
    reset_info: dict[str, Any] = field(default_factory=dict)


def episode_key(task: Task, seed: int | None, index: int, attempt: int) -> str:
    """The turn key: unique per attempt (task id, seed, position in the request list, attempt number)."""
    return f"{task.id}|seed={seed}|req={index}|try={attempt}"


def _request(index: int, item: Any, load_task: Callable[[Any], Task]) -> _Request:
    if isinstance(item, tuple):
        if len(item) != 2:
            raise ValueError(f"task {index}: a tuple must be (task, seed), got {item!r}")
        task, seed = load_task(item[0]), item[1]
        return _Request(index, task, None if seed is None else int(seed))
    task = load_task(item)
    return _Request(index, task, task.seed)


def _timings(info: dict[str, Any]) -> dict[str, float]:
    return {str(k): float(v) for k, v in dict(info.get("timings") or {}).items()}


class EpisodeRunner:
    """One call of `EnvPool.run_episodes`: the loop of this module's docstring, with its queue of requests,
    the attempts in flight per env and the final episode of each request.
    """

    def __init__(self, pool: Pool, agent: Agent, max_steps: int | Callable[[Task], int | None] | None,
                 on_episode: Callable[[Episode], None] | None, on_step: OnStep | None,
                 batch_window: float = 0.0) -> None:
        if isinstance(max_steps, int) and max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {max_steps}")
        self.pool, self.agent, self.max_steps, self.batch_window = pool, agent, max_steps, batch_window
        self.on_episode, self.on_step = on_episode, on_step
        self.action_space = pool.action_space
        self.queue: deque[tuple[_Request, int]] = deque()
        self.active: dict[int, _Attempt] = {}
        self.final: list[Episode | None] = []
        self.env_errors: dict[int, list[str]] = {}

    def run(self, tasks: Sequence[Any]) -> list[Episode]:
        requests = [_request(i, item, self.pool.load_task) for i, item in enumerate(tasks)]
        self.queue.extend((request, 1) for request in requests)
        self.final = [None] * len(requests)
        try:
            self._fill()
            while self.active:
                waiting = self._collect()
                self._fill()
                if waiting:
                    self._act(waiting)
        finally:
            self._abandon()
        assert all(episode is not None for episode in self.final)
        return self.final  # type: ignore[return-value]

    def _collect(self) -> list[_Attempt]:
        """Book every ready result; with a batch window, wait up to that long for the other envs to be ready
        too (a bigger batch for the policy, at the cost of idle envs)."""
        waiting = [attempt for ready in self.pool.recv() if (attempt := self._take(ready)) is not None]
        deadline = time.monotonic() + self.batch_window
        while len(waiting) < len(self.active) and (left := deadline - time.monotonic()) > 0:
            waiting += [attempt for ready in self.pool.recv(timeout=left) if (attempt := self._take(ready)) is not None]
        return waiting

    def _fill(self) -> None:
        """Start queued tasks on every env that is free."""
        for env_index in self.pool.idle():
            if not self.queue:
                return
            if env_index in self.active:
                continue
            request, number = self.queue.popleft()
            key = episode_key(request.task, request.seed, request.index, number)
            self.active[env_index] = _Attempt(request, number, key, env_index)
            limit = self.max_steps(request.task) if callable(self.max_steps) else self.max_steps
            if limit is not None and limit < 1:
                raise ValueError(f"max_steps gave {limit} for task {request.task.id!r}; it must be at least 1")
            self.pool.send_reset(env_index, request.task, seed=request.seed, max_steps=limit)

    def _take(self, ready: Ready) -> _Attempt | None:
        """Book one result; returns the attempt when it now waits for the agent's next action."""
        attempt = self.active[ready.env_index]
        info = ready.info
        if info.get("reset"):
            attempt.reset_info = info
            if info.get("env_error"):
                self._finish(attempt, ready)
                return None
            self.agent.reset(attempt.request.task, attempt.key)
            attempt.agent_started, attempt.observation = True, ready.observation
            return attempt
        assert attempt.sent is not None and attempt.observation is not None
        action = attempt.sent
        timings = _timings(info)
        timings["agent"], timings["env"] = attempt.agent_seconds, float(info.get("elapsed", 0.0))
        record = StepRecord(action=action.text, observation_ref=f"{attempt.key}/step{len(attempt.steps)}",
                            obs_hash=observation_hash(attempt.observation), reward=float(ready.reward),
                            action_error=action.parse_error or info.get("action_error"),
                            logprobs=action.logprobs, token_ids=action.token_ids, timings=timings)
        attempt.steps.append(record)
        attempt.history.append(action.text)
        if self.on_step is not None:
            self.on_step(attempt.key, len(attempt.steps) - 1, attempt.observation, record)
        if info.get("env_error") or ready.terminated or ready.truncated:
            self._finish(attempt, ready)
            return None
        attempt.observation = ready.observation
        return attempt

    def _act(self, waiting: list[_Attempt]) -> None:
        turns = [Turn(key=a.key, task=a.request.task, observation=a.observation or {}, step=len(a.steps),
                      history=list(a.history), action_space=self.action_space,
                      screen_size=(self.pool.width, self.pool.height)) for a in waiting]
        t0 = time.monotonic()
        answers = self.agent.act(turns)
        seconds = time.monotonic() - t0
        if len(answers) != len(turns):
            raise ValueError(f"{type(self.agent).__name__}.act returned {len(answers)} actions for {len(turns)} turns")
        for attempt, answer in zip(waiting, answers, strict=True):
            action = as_action(answer)
            attempt.sent, attempt.agent_seconds = action, seconds
            self.pool.send(attempt.env_index, "WAIT" if action.parse_error else action.text)

    def _finish(self, attempt: _Attempt, ready: Ready) -> None:
        del self.active[attempt.env_index]
        if attempt.agent_started:
            self.agent.end(attempt.key)
        request, info = attempt.request, ready.info
        env_error = info.get("env_error")
        if env_error and attempt.number <= self.pool.max_retries:
            self.env_errors.setdefault(request.index, []).append(env_error)
            self.queue.appendleft((request, attempt.number + 1))
            return
        score = None if env_error else float(info.get("score", ready.reward))
        episode = Episode(
            task_id=request.task.id, instruction=request.task.instruction, seed=request.seed,
            steps=attempt.steps, score=score, reason=str(info.get("reason", "")) if not env_error else "",
            env_error=env_error,
            info={"key": attempt.key, "attempts": attempt.number, "elapsed": time.monotonic() - attempt.started,
                  "env_index": attempt.env_index, "env_errors": self.env_errors.get(request.index, []),
                  "terminated": bool(ready.terminated), "truncated": bool(ready.truncated) and not env_error,
                  "reset_timings": _timings(attempt.reset_info)})
        self.final[request.index] = episode
        if self.on_episode is not None:
            self.on_episode(episode)

    def _abandon(self) -> None:
        """On the way out (normally nothing is left): collect calls still in flight so the pool is reusable,
        and tell the agent the episodes it started are over."""
        self.pool.drain()
        for attempt in self.active.values():
            if attempt.agent_started:
                self.agent.end(attempt.key)
        self.active.clear()
