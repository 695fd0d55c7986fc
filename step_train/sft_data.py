"""Reading a demonstration dataset (`step-train demos`) for supervised fine-tuning, strictly.

`read_demos(directory, config)` checks every record before any training step and stops at the first problem with
an error naming it as `FILE:LINE`: a line that is not JSON or not a record, a record without a field SFT needs, an
action the env's action space rejects, a missing or unreadable screenshot, a template instance on a held-out seed,
an episode with missing or repeated steps, and a last line cut short. A dataset with no record is an error too.
`step-train demos` with the same `--out` repairs a dataset an interrupted run left partial (it drops the
incomplete episodes and records them again).

A record becomes a `DemoStep`: the instruction, the screenshot's path (and the accessibility tree, which a policy whose
`sampling.observation` shows it requires), the env actions before it and its own env
action. The trainer renders both in the model's dialect (`model.dialect`), whatever dialect the dataset was
recorded for: records hold env actions, so one dataset serves every dialect.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from step_envs.actions import ActionSet
from step_train.config import TrainConfig
from step_train.demos import FORMAT_FILE, METADATA, SPLITS

FIELDS: dict[str, type | tuple[type, ...]] = {
    "file_name": str, "episode_id": str, "step": int, "num_steps": int, "instruction": str, "history": list,
    "action": str,
}
"""What SFT reads of a record, and the type each must have."""


@dataclass(frozen=True)
class DemoStep:
    """One demonstrated step: what the policy is shown and the env action it should reply with."""

    where: str
    """`FILE:LINE` of its record, for errors."""
    image_path: Path
    image_size: tuple[int, int]
    """(width, height) of the stored screenshot."""
    instruction: str
    history: tuple[str, ...]
    action: str
    task_id: str
    template: str
    seed: int | None
    a11y_tree: str | None = None
    """The accessibility tree (XML) the env observed, in datasets recorded with `--a11y`."""

    def image(self) -> Image.Image:
        """The screenshot, as RGB; an unreadable file is an error naming the record."""
        try:
            with Image.open(self.image_path) as image:
                return image.convert("RGB")
        except OSError as error:
            raise ValueError(f"{self.where}: screenshot {self.image_path} cannot be read ({error}); record the "
                             "dataset again") from None


@dataclass(frozen=True)
class Demos:
    """The checked records of a dataset, in file order (`train/`, then `near_miss/` when used)."""

    directory: Path
    steps: list[DemoStep]
    fingerprint: str
    """sha256 of the records' lines: a resumed run checks that it reads the same records."""
    format: dict[str, Any]

    def __len__(self) -> int:
        return len(self.steps)


def _fail(where: str, problem: str) -> ValueError:
    return ValueError(f"{where}: {problem}")


def read_format(directory: Path, config: TrainConfig) -> dict[str, Any]:
    """`demos.json`, checked against the run: the same action space and screen, screenshots at least as large as
    the policy's (`sampling.max_pixels`; larger ones are downscaled as the policy downscales a screenshot)."""
    path = directory / FORMAT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {directory} is not a demonstration dataset (step-train demos "
                                "--out DIR writes one)")
    try:
        fmt = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise _fail(f"{path}:{error.lineno}", f"not JSON ({error.msg}); record the dataset again") from None
    env = config.env
    wanted = {"action_space": env.action_space, "screen_size": list(env.screen_size)}
    differ = [f"{key} {fmt.get(key)!r} (the run's: {value!r})" for key, value in wanted.items() if fmt.get(key) != value]
    if differ:
        raise ValueError(f"{path}: the demonstrations have {', '.join(differ)}; record them with the run's env "
                         "settings (step-train demos --action-space ...) or set env.action_space / env.screen_size")
    if config.sampling.shows.a11y and not fmt.get("a11y"):
        raise ValueError(f"{path}: the policy's observation {config.sampling.observation!r} shows the accessibility "
                         "tree, and these demonstrations were recorded without it; record them with --a11y")
    pixels = fmt.get("max_pixels")
    if not isinstance(pixels, int) or pixels < config.sampling.max_pixels:
        raise ValueError(f"{path}: screenshots of max_pixels {pixels!r} are smaller than the policy's "
                         f"sampling.max_pixels {config.sampling.max_pixels}; record with --max-pixels "
                         f"{config.sampling.max_pixels} or set sampling.max_pixels = {pixels}")
    return fmt


def _lines(path: Path) -> list[tuple[int, str]]:
    """The non-blank lines of a metadata file with their numbers; a last line without its newline is an error
    (a write cut short)."""
    text = path.read_text()
    lines = text.split("\n")
    if text and not text.endswith("\n"):
        raise _fail(f"{path}:{len(lines)}", "the last record is cut short (no newline at the end): the demos run "
                                            "that wrote it was interrupted; rerun it with the same --out to finish")
    return [(number, line) for number, line in enumerate(lines, 1) if line.strip()]


def _record(where: str, line: str, a11y: bool) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise _fail(where, f"not JSON ({error.msg} at column {error.colno}); the dataset is corrupt: delete the "
                           "lines of that episode and rerun step-train demos with the same --out") from None
    if not isinstance(record, dict):
        raise _fail(where, f"not a record (a JSON object), got {type(record).__name__}")
    for key, kind in FIELDS.items():
        if key not in record:
            raise _fail(where, f"the record has no {key!r} (SFT needs {', '.join(FIELDS)})")
        if not isinstance(record[key], kind) or isinstance(record[key], bool):
            raise _fail(where, f"{key!r} must be {getattr(kind, '__name__', kind)}, got {record[key]!r}")
    if not all(isinstance(action, str) for action in record["history"]):
        raise _fail(where, f"'history' must be a list of action strings, got {record['history']!r}")
    if a11y and not isinstance(record.get("a11y_tree"), str):
        raise _fail(where, "the record has no 'a11y_tree' text, which the policy's observation shows")
    return record


def _check_step(where: str, record: dict[str, Any], folder: Path, actions: ActionSet,
                config: TrainConfig) -> tuple[Path, tuple[int, int]]:
    """The screenshot's path and size, once the record's action, seed and screenshot are checked."""
    screen = tuple(config.env.screen_size)
    for action in [*record["history"], record["action"]]:
        error = actions.validate(action, screen).error
        if error:
            raise _fail(where, f"action {action!r} is not a valid {actions.space} action ({error})")
    seed, (start, stop) = record.get("seed"), config.eval.train_seeds
    if record.get("template") and isinstance(seed, int) and not start <= seed < stop:
        raise _fail(where, f"{record.get('task_id')} has seed {seed}, outside eval.train_seeds [{start}, {stop}): "
                           "a held-out instance must not be trained on; record demos with --seeds in that range")
    image_path = folder / record["file_name"]
    if not image_path.is_file():
        raise _fail(where, f"screenshot {image_path} is missing; rerun step-train demos with the same --out after "
                           "deleting that episode's lines")
    try:
        with Image.open(image_path) as image:
            size = image.size
            image.verify()
    except OSError as error:
        raise _fail(where, f"screenshot {image_path} is not a readable image ({error})") from None
    return image_path, size


def _check_episodes(path: Path, records: Sequence[tuple[int, dict[str, Any]]]) -> None:
    """Every episode's steps are 0 .. num_steps - 1, each once."""
    seen: dict[str, dict[int, int]] = {}
    first: dict[str, tuple[int, int]] = {}
    for number, record in records:
        steps = seen.setdefault(record["episode_id"], {})
        if record["step"] in steps:
            raise _fail(f"{path}:{number}", f"episode {record['episode_id']} step {record['step']} again (first at "
                                            f"line {steps[record['step']]}); the dataset is corrupt")
        steps[record["step"]] = number
        first.setdefault(record["episode_id"], (number, record["num_steps"]))
    for name, steps in seen.items():
        number, count = first[name]
        missing = sorted(set(range(count)) - set(steps))
        if missing or len(steps) != count:
            raise _fail(f"{path}:{number}", f"episode {name} is partial: it has steps {sorted(steps)} of num_steps "
                                            f"{count}; rerun step-train demos with the same --out to repair it")


def read_demos(directory: str | Path, config: TrainConfig) -> Demos:
    """The records of `directory` that SFT trains on (`train/`, plus `near_miss/` with `sft.near_miss`), checked
    against `config` (see the module docstring); raises naming the first bad record."""
    directory = Path(directory).expanduser()
    fmt = read_format(directory, config)
    actions = ActionSet(config.model.dialect, config.env.action_space)
    splits = SPLITS if config.sft.near_miss else SPLITS[:1]
    a11y = config.sampling.shows.a11y
    digest = hashlib.sha256()
    steps: list[DemoStep] = []
    for split in splits:
        path = directory / split / METADATA
        if not path.is_file():
            if split == "train":
                raise FileNotFoundError(f"{path} is missing: {directory} holds no demonstrations (step-train demos "
                                        "--out DIR writes DIR/train/metadata.jsonl)")
            continue
        records = []
        for number, line in _lines(path):
            where = f"{path}:{number}"
            record = _record(where, line, a11y)
            image_path, size = _check_step(where, record, path.parent, actions, config)
            records.append((number, record))
            digest.update(line.encode() + b"\n")
            steps.append(DemoStep(where, image_path, size, record["instruction"], tuple(record["history"]),
                                  record["action"], str(record.get("task_id", "")), str(record.get("template") or ""),
                                  record.get("seed") if isinstance(record.get("seed"), int) else None,
                                  record["a11y_tree"] if a11y else None))
        _check_episodes(path, records)
    if not steps:
        used = " and ".join(f"{directory / split / METADATA}" for split in splits)
        raise ValueError(f"{used}: no records; record demonstrations first (step-train demos --out {directory})")
    return Demos(directory, steps, digest.hexdigest(), fmt)
