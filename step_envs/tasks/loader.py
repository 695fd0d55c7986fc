"""Finding tasks: built-in ids, task JSON files, directories of them."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from step_envs.tasks.model import Task, TaskError


def tasks_root() -> Path:
    """The built-in task suites: ``$STEP_ENVS_TASKS_DIR`` or the package's ``step_envs/data/tasks``."""
    configured = os.environ.get("STEP_ENVS_TASKS_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1] / "data" / "tasks"


OSWORLD_KEYS = ("snapshot", "trajectory", "source")
"""Keys every one of OSWorld's own task files has and step-gym's task files do not: a file with them is OSWorld's,
and loads exactly as :func:`step_envs.tasks.osworld.load_osworld` loads it (with its translations)."""


def task_from_file(path: str | Path) -> Task:
    """The task in a JSON file: step-gym's format, or OSWorld's own file (translated as ``load_osworld`` does; one
    that cannot run here raises :class:`TaskError` with its reasons). Errors name the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TaskError(f"cannot read task file {path}: {exc}") from exc
    if isinstance(data, dict) and any(key in data for key in OSWORLD_KEYS):
        from step_envs.tasks.osworld import check_osworld

        item = check_osworld(data, path, path.parent.name)
        if item.task is None:
            raise TaskError(f"{path}: OSWorld task {item.id} cannot run here: "
                            + "; ".join(str(reason) for reason in item.unsupported))
        return item.task
    try:
        return Task.from_dict(data, base_dir=path.parent, domain=path.parent.name)
    except TaskError as exc:
        raise TaskError(f"{path}: {exc}") from exc


def load_dir(directory: str | Path) -> list[Task]:
    """Every ``*.json`` task under ``directory`` (recursively), sorted by id."""
    tasks = [task_from_file(path) for path in sorted(Path(directory).rglob("*.json"))]
    return sorted(tasks, key=lambda task: task.id)


@lru_cache(maxsize=1)
def builtin_tasks() -> dict[str, Task]:
    """The built-in desktop tasks by id."""
    root = tasks_root() / "desktop"
    if not root.is_dir():
        return {}
    tasks: dict[str, Task] = {}
    for task in load_dir(root):
        if task.id in tasks:
            raise TaskError(f"duplicate task id {task.id!r} under {root}")
        tasks[task.id] = task
    return tasks


def load_task(spec: Task | str | os.PathLike[str]) -> Task:
    """A Task object, a path to a task JSON file (OSWorld format), a built-in task id, or a template instance
    id ``<template>/<seed>``."""
    if isinstance(spec, Task):
        return spec
    if isinstance(spec, os.PathLike) or str(spec).endswith(".json"):
        path = Path(spec)
        if not path.is_file():
            raise TaskError(f"task file {path} does not exist")
        return task_from_file(path)
    builtin = builtin_tasks()
    if spec in builtin:
        return builtin[spec]
    if "/" in str(spec):
        from step_envs.tasks.templates import instance

        return instance(str(spec))
    known = ", ".join(sorted(builtin)) or "(none found under " + str(tasks_root()) + ")"
    raise TaskError(f"unknown task {spec!r}; pass a task JSON path, a template instance <template>/<seed> "
                    f"(`step-envs tasks list --suite desktop-core`), or one of: {known}")
