"""`run_bench`: score an agent on a list of tasks with an `EnvPool`, streaming every episode to a results
directory (see `step_envs.bench.results`) and resuming where a previous run of the same directory stopped.
With ``record``, each env records its episodes (see `step_envs.desktop.env`) into a staging folder, from which each
finished episode's video moves next to its steps as ``recording.mp4``."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from step_envs.bench.report import write_report
from step_envs.bench.results import ResultsDir, episode_id, now, safe_name, write_summary
from step_envs.desktop.env import recording_path
from step_envs.episodes import Episode, StepRecord
from step_envs.kinds import kind_of_provider
from step_envs.pool.agent import Agent, AgentAction, Turn, as_action
from step_envs.tasks import Task

IMAGE_FORMATS = ("jpeg", "png", "none")
RECORDING = "recording.mp4"
_SUFFIX = {"jpeg": ".jpg", "png": ".png"}


@dataclass
class BenchRequest:
    """One episode to run: a task instance and the seed to reset it with (None: the task's own)."""

    task: Task
    seed: int | None = None

    @property
    def id(self) -> tuple[str, int | None]:
        return episode_id(self.task.id, self.seed if self.seed is not None else self.task.seed)

    def pool_item(self) -> Task | tuple[Task, int]:
        return self.task if self.seed is None else (self.task, self.seed)


def plan(tasks: Sequence[Task], seeds: Sequence[int] | None = None) -> list[BenchRequest]:
    """Every task once per seed (once with its own seed when `seeds` is empty), duplicates dropped."""
    requests: dict[tuple[str, int | None], BenchRequest] = {}
    for task in tasks:
        for seed in seeds or [None]:
            request = BenchRequest(task, seed)
            requests.setdefault(request.id, request)
    return list(requests.values())


class _RecordingAgent:
    """Passes everything to the agent, keeping each turn's raw model reply for the step viewer."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.name = getattr(agent, "name", type(agent).__name__)
        self.replies: dict[tuple[str, int], AgentAction] = {}

    def reset(self, task: Task, key: str) -> None:
        self.agent.reset(task, key)

    def act(self, turns: list[Turn]) -> list[AgentAction | str]:
        answers = self.agent.act(turns)
        for turn, answer in zip(turns, answers, strict=False):
            self.replies[(turn.key, turn.step)] = as_action(answer)
        return answers

    def end(self, key: str) -> None:
        self.agent.end(key)


@dataclass
class _EpisodeFiles:
    directory: Path
    images: dict[int, str] = field(default_factory=dict)
    pending: list[Future[None]] = field(default_factory=list)


class _Recorder:
    """Writes screenshots as steps happen (on a writer thread, off the pool's loop) and one row per episode."""

    def __init__(self, results: ResultsDir, run: int, agent: _RecordingAgent, image_format: str,
                 meta: dict[str, Any], record: bool = False) -> None:
        self.results, self.agent, self.image_format, self.meta = results, agent, image_format, meta
        self.steps_root = results.path / "steps" / f"r{run}"
        self.record_dir = self.steps_root / ".recordings" if record else None
        """Where the envs write each episode's video until its episode is booked."""
        self.episodes: dict[str, _EpisodeFiles] = {}
        self.tasks: dict[tuple[str, int | None], Task] = {}
        self.writer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bench-writer")
        self.lock = threading.Lock()

    def _files(self, key: str) -> _EpisodeFiles:
        if key not in self.episodes:
            directory = self.steps_root / safe_name(key)
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True, exist_ok=True)
            self.episodes[key] = _EpisodeFiles(directory)
        return self.episodes[key]

    def on_step(self, key: str, index: int, observation: dict[str, Any], record: StepRecord) -> None:
        files = self._files(key)
        screenshot = (observation or {}).get("screenshot")
        if self.image_format == "none" or not isinstance(screenshot, np.ndarray):
            return
        name = f"{index:03d}{_SUFFIX[self.image_format]}"
        files.images[index] = name
        files.pending.append(self.writer.submit(_save_image, screenshot, files.directory / name, self.image_format))

    def on_episode(self, episode: Episode) -> dict[str, Any]:
        key = str(episode.info.get("key", episode.task_id))
        files = self._files(key)
        for future in files.pending:
            future.result()
        steps = []
        for index, step in enumerate(episode.steps):
            reply = self.agent.replies.pop((key, index), None)
            steps.append({"index": index, "action": step.action, "action_error": step.action_error,
                          "raw": reply.raw if reply else None, "screenshot": files.images.get(index),
                          "reward": step.reward, "timings": step.timings})
        (files.directory / "steps.json").write_text(json.dumps(steps, indent=1, default=str))
        recording = None
        if self.record_dir is not None:
            staged = recording_path(self.record_dir, episode.task_id, episode.seed)
            if staged.is_file():
                os.replace(staged, files.directory / RECORDING)
                recording = (files.directory / RECORDING).relative_to(self.results.path).as_posix()
        task = self.tasks.get(episode_id(episode.task_id, episode.seed))
        row = {
            "task": episode.task_id, "seed": episode.seed, "score": episode.score, "steps": len(episode.steps),
            "time_s": round(float(episode.info.get("elapsed", 0.0)), 3), "reason": episode.reason,
            "env_error": episode.env_error, "attempts": episode.info.get("attempts", 1),
            "domain": task.domain if task else "", "difficulty": task.difficulty if task else "",
            "template": task.template if task else "", "feasible": task.feasible if task else None,
            "instruction": episode.instruction, "agent": self.meta["agent"],
            "dir": files.directory.relative_to(self.results.path).as_posix(), "recording": recording,
            "finished": now(),
        }
        with self.lock:
            self.results.append(row)
        del self.episodes[key]
        return row

    def close(self) -> None:
        self.writer.shutdown(wait=True)
        if self.record_dir is not None:
            shutil.rmtree(self.record_dir, ignore_errors=True)  # videos of episodes cut short by an env error


def _save_image(screenshot: np.ndarray, path: Path, image_format: str) -> None:
    image = Image.fromarray(np.ascontiguousarray(screenshot, dtype=np.uint8))
    if image_format == "jpeg":
        image.save(path, format="JPEG", quality=80)
    else:
        image.save(path, format="PNG", compress_level=3)


@dataclass
class BenchResult:
    """What one invocation did: the directory, how many episodes it ran now and how many were done before."""

    results: ResultsDir
    summary: dict[str, Any]
    ran: int
    skipped: int
    report: Path


def run_bench(agent: Agent, tasks: Sequence[Task], out: str | Path, *, agent_spec: str, suite: str,
              envs: int = 1, provider: str = "local", max_steps: int = 15, seeds: Sequence[int] | None = None,
              env_kwargs: dict[str, Any] | None = None, pool_kwargs: dict[str, Any] | None = None,
              image_format: str = "jpeg", fresh: bool = False, record: bool = False,
              on_start: Callable[[int, int], None] | None = None,
              on_row: Callable[[dict[str, Any]], None] | None = None) -> BenchResult:
    """Run `agent` on every (task, seed) of `tasks` x `seeds` not already scored in `out`.

    `provider` picks the kind of env (:mod:`step_envs.kinds`): ``emulator`` or ``fake-emulator`` runs Android tasks
    (`step_envs.android.tasks.android_suite`) on `AndroidEnv` envs, with `env_kwargs` as their options.
    `record`: keep a screen recording of every episode (`recording.mp4` beside its steps, linked from the
    report; the envs' sessions need ffmpeg, and with Ray the nodes must share this directory's filesystem);
    desktops only.
    `on_start(total, already_done)` is called once the plan is known, `on_row(row)` after each episode is on
    disk (progress bars). Whatever happens, the summary and report are rewritten from what is on disk.
    """
    from step_envs.pool import EnvPool

    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {IMAGE_FORMATS}, got {image_format!r}")
    kind = kind_of_provider(provider)
    if record and not kind.records:
        raise ValueError(f"recording films desktop sessions (the controller's ffmpeg); the {provider!r} provider "
                         f"runs {kind.name} envs, which have no recorder: run without it")
    out = Path(out)
    if fresh and out.exists():
        shutil.rmtree(out)
    env_kwargs = dict(env_kwargs or {})
    env_kwargs["max_steps"] = max_steps
    meta = {"agent": agent_spec, "suite": suite, "max_steps": max_steps,
            "action_space": kind.actions(env_kwargs),
            "provider": provider, "envs": envs,
            "seeds": list(seeds) if seeds else None, "record": record}
    results = ResultsDir.open(out)
    run = results.start(meta)
    requests = plan(tasks, seeds)
    done = results.done()
    pending = [request for request in requests if request.id not in done]
    if on_start is not None:
        on_start(len(requests), len(requests) - len(pending))
    recording = _RecordingAgent(agent)
    recorder = _Recorder(results, run, recording, image_format, meta, record)
    if recorder.record_dir is not None:
        env_kwargs["record_dir"] = str(recorder.record_dir)
    recorder.tasks = {request.id: request.task for request in pending}
    ran = 0

    def on_episode(episode: Episode) -> None:
        nonlocal ran
        row = recorder.on_episode(episode)
        ran += 1
        if on_row is not None:
            on_row(row)

    try:
        if pending:
            with EnvPool(min(envs, len(pending)), provider, env_kwargs=env_kwargs, **(pool_kwargs or {})) as pool:
                pool.run_episodes(recording, [request.pool_item() for request in pending], max_steps=max_steps,
                                  on_episode=on_episode, on_step=recorder.on_step)
    finally:
        recorder.close()
        summary = write_summary(results)
        report = write_report(results, summary)
    return BenchResult(results, summary, ran, len(requests) - len(pending), report)
