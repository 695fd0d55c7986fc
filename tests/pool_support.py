"""What the EnvPool tests share: a solution-replaying agent, the providers to run on, and ways to kill an env's real
processes or container from outside. Their probe task is `step_envs.tasks.probes.WRITE_FILE`."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any

import pytest
from docker_support import docker_ready, skip_docker_tests

from step_envs.agents import AgentAction, Turn
from step_envs.providers.procs import session_pids
from step_envs.tasks import Task

SLIM_IMAGE_KWARGS = {"variant": "slim"}


def provider_params() -> list[Any]:
    """``local`` always; ``docker`` where an engine answers and the image is built (in CI it must be)."""
    reason = docker_ready("slim")[1]
    skip = skip_docker_tests(reason)
    return ["local", pytest.param("docker", marks=pytest.mark.skipif(skip, reason=f"docker not ready: {reason}"))]


def provider_kwargs(provider: str) -> dict[str, Any]:
    return dict(SLIM_IMAGE_KWARGS) if provider == "docker" else {}


class SolutionAgent:
    """Replays each task's solution (then DONE); optional per-key overrides inject other actions first."""

    name = "solution"

    def __init__(self, inject: dict[str, list[Any]] | None = None, think: float = 0.0) -> None:
        self.inject, self.think = inject or {}, think
        self.started: set[str] = set()
        self.ended: set[str] = set()
        self.batches: list[int] = []

    def reset(self, task: Task, key: str) -> None:
        assert key not in self.started, f"reset twice for {key}"
        self.started.add(key)

    def end(self, key: str) -> None:
        assert key in self.started and key not in self.ended, f"end without reset, or twice, for {key}"
        self.ended.add(key)

    def act(self, turns: list[Turn]) -> list[AgentAction | str]:
        self.batches.append(len(turns))
        time.sleep(self.think)
        return [self._one(turn) for turn in turns]

    def _one(self, turn: Turn) -> AgentAction | str:
        extra = self.inject.get(turn.key, [])
        if turn.step < len(extra):
            return extra[turn.step]
        step = turn.step - len(extra)
        solution = turn.task.solution
        return AgentAction(solution[step] if step < len(solution) else "DONE", logprobs=[-0.5], token_ids=[7])


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def kill_env(where: dict[str, Any], target: str = "xvfb") -> bool:
    """SIGKILL the env's X server (``xvfb``) or controller (``server``), or ``docker kill`` its container."""
    if "container" in where:
        return subprocess.run(["docker", "kill", where["container"]], capture_output=True).returncode == 0
    if "session_id" not in where:
        return False
    for pid in session_pids(where["session_id"]):
        if target == "xvfb" and comm(pid) == "Xvfb" or target == "server" and is_server(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                return False
            return True
    return False


def is_server(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        return False
    return b"step_envs.server" in argv


def gone(where: dict[str, Any], seconds: float = 15.0) -> bool:
    """True once nothing of that env is left (session processes, or the container)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if "session_id" in where and not session_pids(where["session_id"]):
            return True
        if "container" in where and subprocess.run(["docker", "inspect", where["container"]],
                                                   capture_output=True).returncode != 0:
            return True
        time.sleep(0.2)
    return False


# a fatal action from inside the session: kill this session's own X server (found by the session marker)
KILL_OWN_X = """
import os, signal
marker = [e for e in open('/proc/self/environ', 'rb').read().split(b'\\0') if e.startswith(b'STEP_ENVS_SESSION=')]
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        if open(f'/proc/{pid}/comm').read().strip() == 'Xvfb' and (
                not marker or marker[0] in open(f'/proc/{pid}/environ', 'rb').read().split(b'\\0')):
            os.kill(int(pid), signal.SIGKILL)
    except OSError:
        pass
"""
