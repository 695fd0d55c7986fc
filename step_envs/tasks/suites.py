"""Named task suites: ``smoke``, ``desktop-core``, ``widgets``, ``all``; or a task folder or suite file.

- ``smoke``: a dozen fast, reliable template instances (terminal, editor, file manager, image viewer, Chromium,
  one Calc task), each solved in seconds; the solution agent runs it in well under 2 minutes.
- ``desktop-core``: the fixed built-in tasks plus seeds ``0 .. seeds-1`` of every desktop template.
- ``widgets``: the MiniWoB-style widget tasks (:mod:`step_envs.tasks.templates.widgets`, in the app of
  :mod:`step_envs.widgets`), :data:`WIDGET_SEEDS` seeds per template.
- ``all``: ``desktop-core`` then ``widgets``.

A suite file is JSON, ``{"tasks": [spec, ...]}`` or a bare list, or text with one spec a line (``#`` comments);
a spec is anything :func:`~step_envs.tasks.loader.load_task` takes (a built-in id, ``<template>/<seed>``, a task
JSON path relative to the suite file).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from step_envs.tasks.loader import builtin_tasks, load_dir, load_task, task_from_file
from step_envs.tasks.model import Task, TaskError

WIDGET_SEEDS = 5
SMOKE = ("terminal-make-dirs/0", "terminal-count-lines/0", "terminal-chmod/0", "terminal-grep-count/0",
         "terminal-infeasible/0", "editor-append-item/0", "editor-remove-line/0", "files-new-folder/0",
         "files-rename-file/0", "viewer-delete-picture/0", "chromium-table-lookup/0", "calc-fix-city/0")


def smoke() -> list[Task]:
    return [load_task(spec) for spec in SMOKE]


def desktop_core() -> list[Task]:
    from step_envs.tasks.templates import TEMPLATES

    fixed = list(builtin_tasks().values())
    return fixed + [task for template_id in sorted(TEMPLATES) for task in TEMPLATES[template_id].instances()]


def widgets() -> list[Task]:
    from step_envs.tasks.templates.widgets import widget_tasks

    return widget_tasks(seeds_per_template=WIDGET_SEEDS)


def everything() -> list[Task]:
    return desktop_core() + widgets()


SUITES: dict[str, Callable[[], list[Task]]] = {"smoke": smoke, "desktop-core": desktop_core, "widgets": widgets,
                                               "all": everything}


def _suite_file(path: Path) -> list[Task]:
    """The tasks a suite file lists (JSON list / ``{"tasks": [...]}``, or text lines); a task JSON file is itself."""
    text = path.read_text()
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TaskError(f"cannot read suite file {path}: {exc}") from exc
        if isinstance(data, dict) and "instruction" in data:
            return [task_from_file(path)]
        specs = data.get("tasks") if isinstance(data, dict) else data
        if not isinstance(specs, list) or not all(isinstance(spec, str) for spec in specs):
            raise TaskError(f"suite file {path} must hold a list of task specs or {{\"tasks\": [...]}}")
    else:
        specs = [line.split("#", 1)[0].strip() for line in text.splitlines()]
        specs = [spec for spec in specs if spec]
    return [load_task(str(path.parent / spec) if spec.endswith(".json") else spec) for spec in specs]


def load_suite(name_or_path: str | Path) -> list[Task]:
    """The tasks of a named suite (:data:`SUITES`), a folder of task JSON files, or a suite file."""
    name = str(name_or_path)
    if name in SUITES:
        return SUITES[name]()
    path = Path(name_or_path)
    if path.is_dir():
        return load_dir(path)
    if path.is_file():
        return _suite_file(path)
    raise TaskError(f"unknown suite {name!r}; use one of {', '.join(SUITES)}, a folder of task JSON files, or a "
                    "suite file (JSON list of task ids, or one id a line)")
