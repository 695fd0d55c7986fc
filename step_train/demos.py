"""Demonstrations: the solution agent's episodes on a suite, one record per step, in the trainer's own dialect.

    step-train demos --suite widgets --out demos/widgets --episodes 400 --envs 2

**Which episodes.** Every template of the suite (a template instance `<template>/<seed>` stands for its template)
and every fixed task with a solution is a *unit*. Episodes go round-robin over the units in suite order: round
`k = 0, 1, ...` runs each template at seed `start + k` of `--seeds START STOP` (default `eval.train_seeds`, so
no held-out instance ever becomes a demonstration) and each fixed task in round 0 only (it has one instance),
until `--episodes N` instances are planned; a template stops at seed `STOP - 1`. A suite task whose `solution`
is empty is skipped and counted. The plan is a function of the suite, N and the seeds: a rerun with a larger N
extends the dataset with the next instances.

**Layout** (Hugging Face `imagefolder`):

    DIR/demos.json                         the format every record shares (dialect, action space, screen, ...)
    DIR/train/metadata.jsonl               one record per step of every episode that scored 1.0
    DIR/train/<episode_id>/step-NNN.png    that step's screenshot, downscaled to max_pixels as the policy sees it
    DIR/near_miss/...                      the same for episodes whose solution scored below 1.0

A record: `file_name`, `episode_id` (the instance id, `/` as `-`), `task_id`, `template` ("" for a fixed task),
`seed`, `step`, `num_steps`, `instruction`, `history` (the env actions before this step, oldest first),
`action` (the env action of this step), `action_text` (the same as the dialect writes it:
`ActionSet(dialect, action_space).render(action, screen_size)`), `reward`, `score` (the episode's), `near_miss`,
`reason` (the checker's), `dialect`, `action_space`, `screen_width`, `screen_height`, and `a11y_tree` (the
accessibility tree as the env observed it, with `--a11y` only). Dialects whose points are pixels of the
processor's resized image (`qwen25vl`, `uitars15`) need the processor's image size to render: their
`action_text` is null, and the trainer renders `action` (and `history`) with its processor's image size.

**Loading:**

    from datasets import load_dataset
    demos = load_dataset("imagefolder", data_dir="demos/widgets", split="train")
    near_misses = load_dataset("imagefolder", data_dir="demos/widgets/near_miss", split="train")

**Resume.** An episode is committed by appending all its records to its split's `metadata.jsonl` at once, after
its images. Opening a dataset keeps the episodes whose records are all there, drops a torn last line and the
records and images of an episode cut short, so an interrupted run reruns only what it had not committed. Episodes
the env broke (after the pool's retries) are reported and never written: the next run tries them again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from step_envs.actions import ActionSet
from step_envs.agents import make_agent
from step_envs.agents.prompt import downscale
from step_envs.episodes import Episode, StepRecord
from step_envs.pool import episode_key
from step_envs.pool.handles import screen_size_of
from step_envs.progress import progress as progress_display
from step_envs.tasks import Task, load_task
from step_train.config import EnvSettings, EvalSettings
from step_train.policy.model import ModelSettings
from step_train.policy.sampling import SamplingSettings

SPLITS = ("train", "near_miss")
FORMAT_FILE = "demos.json"
METADATA = "metadata.jsonl"
DEFAULT_SEEDS: tuple[int, int] = EvalSettings.train_seeds
"""Template seeds of demonstrations: the trainer's training seeds, disjoint from its held-out `eval.seeds`."""
DEFAULT_MAX_STEPS: int = EnvSettings.max_steps
RECORD_KEYS = frozenset({"file_name", "episode_id", "task_id", "template", "step", "num_steps"})


@dataclass(frozen=True)
class DemoFormat:
    """What every record of a dataset shares; a dataset directory keeps it in `demos.json`."""

    dialect: str
    action_space: str
    screen_size: tuple[int, int]
    max_pixels: int
    a11y: bool = False

    def __post_init__(self) -> None:
        ActionSet(self.dialect, self.action_space)  # an unknown dialect or space is an error listing the known ones
        if self.max_pixels < 1:
            raise ValueError(f"max_pixels must be at least 1, got {self.max_pixels}")

    @property
    def actions(self) -> ActionSet:
        return ActionSet(self.dialect, self.action_space)

    def env_kwargs(self, max_steps: int) -> dict[str, Any]:
        return {"action_space": self.action_space, "screen_size": tuple(self.screen_size), "max_steps": max_steps,
                "a11y_tree": self.a11y}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "screen_size": list(self.screen_size)}


def demo_format(dialect: str | None = None, max_pixels: int | None = None, a11y: bool = False,
                action_space: str | None = None) -> DemoFormat:
    """The format of `step-train demos`: what is None takes the trainer's default (`model.dialect`,
    `sampling.max_pixels`, `env.action_space`), on the trainer's default screen (`env.screen_size`)."""
    return DemoFormat(dialect or ModelSettings.dialect, action_space or EnvSettings.action_space,
                      tuple(EnvSettings.screen_size),
                      SamplingSettings.max_pixels if max_pixels is None else max_pixels, a11y)


def episode_id(task: Task) -> str:
    """The folder name of an instance's episode: its id with every run of characters outside `[A-Za-z0-9_.-]` as `-`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", task.id)


def unit_of(task: Task) -> str:
    """The summary row of a task: its template, or its id for a fixed task."""
    return task.template or task.id


@dataclass
class DemoPlan:
    """The instances to run, in order, and the suite tasks skipped for want of a solution."""

    instances: list[Task]
    skipped: list[str]


def plan_episodes(tasks: Sequence[Task], episodes: int, seeds: tuple[int, int]) -> DemoPlan:
    """`episodes` instances round-robin over the units of `tasks` (see the module docstring); fewer when the
    units run out of instances (every fixed task used, every template at seed `seeds[1] - 1`)."""
    start, stop = seeds
    if episodes < 1:
        raise ValueError(f"--episodes must be at least 1, got {episodes}")
    if not 0 <= start < stop:
        raise ValueError(f"--seeds must be START STOP with 0 <= START < STOP (seeds START..STOP-1), got {start} {stop}")
    skipped = list(dict.fromkeys(task.id for task in tasks if not task.solution))
    units = list(dict.fromkeys((task.template, task.id if not task.template else "") for task in tasks if task.solution))
    fixed = {task.id: task for task in tasks if task.solution and not task.template}
    instances: list[Task] = []
    for offset in range(stop - start):
        batch = [load_task(f"{template}/{start + offset}") if template else fixed[task_id]
                 for template, task_id in units if template or offset == 0]
        if not batch:
            break
        instances += batch[:episodes - len(instances)]
        if len(instances) == episodes:
            break
    ids = [episode_id(task) for task in instances]
    clashes = sorted({i for i in ids if ids.count(i) > 1})
    if clashes:
        raise ValueError(f"tasks {', '.join(clashes)} share an episode folder name; give the suite's fixed tasks ids "
                         "that differ in more than characters outside [A-Za-z0-9_.-]")
    return DemoPlan(instances, skipped)


@dataclass(frozen=True)
class StoredEpisode:
    """A complete episode of a dataset."""

    split: str
    steps: int


def _read_records(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """The records of a metadata file, and whether the file is clean (every line a record ending in a newline):
    a last line without its newline is a write cut short, dropped when it is not a whole record."""
    text = path.read_text() if path.is_file() else ""
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines):
                continue
            raise ValueError(f"{path}:{number} is not JSON ({error}); the dataset is corrupt: delete that line and "
                             "the other lines of its episode, or record into a new --out") from None
        if not isinstance(record, dict) or not RECORD_KEYS <= record.keys():
            raise ValueError(f"{path}:{number} is not a demonstration record (it needs {', '.join(sorted(RECORD_KEYS))}"
                             "); delete that line and the other lines of its episode, or record into a new --out")
        records.append(record)
    return records, text.endswith("\n") or not text


class DemoDataset:
    """A demonstration dataset directory: its format, its complete episodes, and appending one episode at a time."""

    def __init__(self, directory: str | Path, fmt: DemoFormat) -> None:
        self.directory, self.format = Path(directory), fmt
        self.directory.mkdir(parents=True, exist_ok=True)
        self._check_format()
        self.episodes: dict[str, StoredEpisode] = {}
        for split in SPLITS:
            self._open(split)

    def _check_format(self) -> None:
        path = self.directory / FORMAT_FILE
        wanted = self.format.to_dict()
        if not path.is_file():
            partial = path.with_suffix(".json.tmp")
            partial.write_text(json.dumps(wanted, indent=1, sort_keys=True))
            partial.replace(path)
            return
        stored = json.loads(path.read_text())
        differ = [f"{key} {stored.get(key)!r} (asked: {value!r})" for key, value in wanted.items()
                  if stored.get(key) != value]
        if differ:
            raise ValueError(f"{self.directory} holds demonstrations with {', '.join(differ)}; record with the "
                             "same options to extend it, or into a new --out")

    def _open(self, split: str) -> None:
        """Keep the complete episodes of `split`; rewrite its metadata without the rest, delete their images."""
        folder = self.directory / split
        path = folder / METADATA
        records, clean = _read_records(path)
        by_episode: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            by_episode.setdefault(record["episode_id"], []).append(record)
        complete = {name for name, rows in by_episode.items()
                    if sorted(row["step"] for row in rows) == list(range(rows[0]["num_steps"]))}
        kept = [record for record in records if record["episode_id"] in complete]
        if not clean or len(kept) < len(records):
            partial = path.with_suffix(".jsonl.tmp")
            partial.write_text("".join(json.dumps(record) + "\n" for record in kept))
            partial.replace(path)
        if folder.is_dir():
            for child in folder.iterdir():
                if child.is_dir() and child.name not in complete:
                    shutil.rmtree(child)
        for name in complete:
            self.episodes[name] = StoredEpisode(split, by_episode[name][0]["num_steps"])

    def add(self, name: str, split: str, records: list[dict[str, Any]], images: list[Image.Image]) -> None:
        """Write the images of one episode, then commit it by appending all its records in one write."""
        folder = self.directory / split
        if (folder / name).exists():
            shutil.rmtree(folder / name)
        (folder / name).mkdir(parents=True)
        for record, image in zip(records, images, strict=True):
            image.save(folder / record["file_name"], format="PNG")
        with open(folder / METADATA, "a") as handle:
            handle.write("".join(json.dumps(record) + "\n" for record in records))
            handle.flush()
            os.fsync(handle.fileno())
        self.episodes[name] = StoredEpisode(split, len(records))

    def totals(self, split: str) -> tuple[int, int]:
        """(episodes, steps) of `split`."""
        stored = [e for e in self.episodes.values() if e.split == split]
        return len(stored), sum(e.steps for e in stored)


def step_records(task: Task, episode: Episode, fmt: DemoFormat, a11y: Sequence[str | None]) -> list[dict[str, Any]]:
    """One record per step of `episode` (see the module docstring for the columns)."""
    name, actions = episode_id(task), fmt.actions
    near_miss = (episode.score or 0.0) < 1.0
    records = []
    for index, step in enumerate(episode.steps):
        record = {
            "file_name": f"{name}/step-{index:03d}.png", "episode_id": name, "task_id": task.id,
            "template": task.template, "seed": task.seed, "step": index, "num_steps": len(episode.steps),
            "instruction": task.instruction, "history": [s.action for s in episode.steps[:index]],
            "action": step.action,
            "action_text": None if actions.needs_image_size else actions.render(step.action, fmt.screen_size),
            "reward": step.reward, "score": episode.score, "near_miss": near_miss, "reason": episode.reason,
            "dialect": fmt.dialect, "action_space": fmt.action_space,
            "screen_width": fmt.screen_size[0], "screen_height": fmt.screen_size[1],
        }
        if fmt.a11y:
            record["a11y_tree"] = a11y[index] or ""
        records.append(record)
    return records


@dataclass
class UnitCounts:
    """One unit's episodes in this run."""

    episodes: int = 0
    demos: int = 0
    near_misses: int = 0
    steps: int = 0
    env_errors: int = 0


@dataclass
class DemoSummary:
    """What a `record_demos` call did, and what the dataset holds now."""

    out: Path
    requested: int
    planned: int
    already: int
    """Planned episodes the dataset held before this call."""
    skipped: list[str]
    units: dict[str, UnitCounts] = field(default_factory=dict)
    env_errors: list[str] = field(default_factory=list)
    """`task id: error` of each episode the env broke after every retry (not written)."""
    retries: int = 0
    seconds: float = 0.0
    totals: dict[str, tuple[int, int]] = field(default_factory=dict)
    """(episodes, steps) per split of the whole dataset."""

    def table(self) -> Table:
        table = Table(title=f"demonstrations this run ({self.seconds:.0f}s)")
        for name in ("task", "episodes", "demos", "near misses", "steps", "env errors"):
            table.add_column(name, justify="left" if name == "task" else "right")
        total = UnitCounts()
        for unit, counts in self.units.items():
            table.add_row(unit, *(str(v) for v in asdict(counts).values()))
            for key, value in asdict(counts).items():
                setattr(total, key, getattr(total, key) + value)
        table.add_row("all", *(str(v) for v in asdict(total).values()), style="bold")
        return table

    def lines(self) -> list[str]:
        """The plan, skipped tasks, env errors and the dataset's size, below the table."""
        lines = [f"planned {self.planned} of {self.requested} episodes ({self.already} already in {self.out})"]
        if self.planned < self.requested:
            lines.append("the suite's units ran out of instances: widen --seeds or add tasks to reach --episodes")
        if self.skipped:
            shown = ", ".join(self.skipped[:5]) + (f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else "")
            lines.append(f"skipped {len(self.skipped)} task(s) without a solution: {shown}")
        if self.env_errors:
            lines.append(f"{len(self.env_errors)} episode(s) broken by the env after every retry, not written "
                         f"(rerun the same command to try them again): {'; '.join(self.env_errors[:3])}")
        lines.append(f"{self.retries} env retries")
        for split, (episodes, steps) in self.totals.items():
            lines.append(f"{self.out / split}: {episodes} episodes, {steps} steps")
        return lines


class DemoRecorder:
    """The pool's callbacks: each step's screenshot (downscaled) and a11y text wait in memory until the episode
    ends, then the episode is written (or, broken by the env, counted)."""

    def __init__(self, dataset: DemoDataset, instances: list[Task], summary: DemoSummary) -> None:
        self.dataset, self.summary = dataset, summary
        self.requests = {task.id: (index, task) for index, task in enumerate(instances)}
        self.frames: dict[str, list[tuple[Image.Image, str | None]]] = {}

    def keep(self, key: str, step_index: int, observation: dict[str, Any], record: StepRecord) -> None:
        frame = (downscale(observation["screenshot"], self.dataset.format.max_pixels), observation.get("a11y_tree"))
        self.frames.setdefault(key, []).append(frame)

    def finish(self, episode: Episode) -> None:
        index, task = self.requests[episode.task_id]
        attempts = int(episode.info.get("attempts", 1))
        for attempt in range(1, attempts):  # attempts the env broke and the pool retried
            self.frames.pop(episode_key(task, task.seed, index, attempt), None)
        frames = self.frames.pop(episode.info["key"], [])
        counts = self.summary.units.setdefault(unit_of(task), UnitCounts())
        counts.episodes += 1
        self.summary.retries += attempts - 1
        if not episode.valid:
            counts.env_errors += 1
            self.summary.env_errors.append(f"{task.id}: {episode.env_error}")
            return
        records = step_records(task, episode, self.dataset.format, [a11y for _, a11y in frames])
        split = "near_miss" if records[0]["near_miss"] else "train"
        self.dataset.add(episode_id(task), split, records, [image for image, _ in frames])
        counts.demos += split == "train"
        counts.near_misses += split == "near_miss"
        counts.steps += len(records)


def check_pool(pool: Any, fmt: DemoFormat) -> None:
    """Raise when `pool`'s envs would not produce records of `fmt` (screen, action space, a11y)."""
    kwargs = pool.env_kwargs
    found = {"screen_size": screen_size_of(kwargs), "action_space": kwargs.get("action_space", "pyautogui"),
             "a11y": bool(kwargs.get("a11y_tree"))}
    wanted = {"screen_size": tuple(fmt.screen_size), "action_space": fmt.action_space, "a11y": fmt.a11y}
    differ = [f"{key} {found[key]!r} (format: {wanted[key]!r})" for key in wanted if found[key] != wanted[key]]
    if differ:
        raise ValueError(f"the pool's envs have {', '.join(differ)}; start it with DemoFormat.env_kwargs")


def record_demos(
    tasks: Sequence[Task],
    out: str | Path,
    fmt: DemoFormat,
    *,
    episodes: int,
    seeds: tuple[int, int],
    max_steps: int,
    envs: int = 2,
    provider: str = "local",
    pool: Any | None = None,
    console: Console | None = None,
) -> DemoSummary:
    """Run the solution agent on the planned instances the dataset at `out` does not hold yet and write them.

    A `pool` passed in is used and left open (its envs must match `fmt`); otherwise one of `envs` envs on
    `provider` is started when there is anything to run, and closed at the end.
    """
    start = time.perf_counter()
    dataset = DemoDataset(out, fmt)
    plan = plan_episodes(tasks, episodes, seeds)
    todo = [task for task in plan.instances if episode_id(task) not in dataset.episodes]
    summary = DemoSummary(Path(out), episodes, len(plan.instances), len(plan.instances) - len(todo), plan.skipped,
                          {unit_of(task): UnitCounts() for task in todo})
    if todo:
        if pool is not None:
            check_pool(pool, fmt)
            _run(pool, todo, dataset, summary, max_steps, console)
        else:
            from step_envs.pool import EnvPool

            with EnvPool(envs, provider, env_kwargs=fmt.env_kwargs(max_steps)) as own:
                _run(own, todo, dataset, summary, max_steps, console)
    summary.seconds = time.perf_counter() - start
    summary.totals = {split: dataset.totals(split) for split in SPLITS}
    return summary


def _run(pool: Any, todo: list[Task], dataset: DemoDataset, summary: DemoSummary, max_steps: int,
         console: Console | None) -> None:
    recorder = DemoRecorder(dataset, todo, summary)
    with progress_display(console, TextColumn("demos"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("episodes {task.fields[note]}"), TimeElapsedColumn(), transient=True) as progress:
        bar = progress.add_task("demos", total=len(todo), note="")

        def advance(episode: Episode) -> None:
            recorder.finish(episode)
            counts = summary.units.values()
            progress.update(bar, advance=1, note=f"{sum(c.steps for c in counts)} steps  "
                                                 f"{sum(c.near_misses for c in counts)} near misses  "
                                                 f"{sum(c.env_errors for c in counts)} env errors")

        pool.run_episodes(make_agent("solution"), todo, max_steps=max_steps, on_step=recorder.keep,
                          on_episode=advance)
