"""Task templates: a parameter generator seeded by ``(template id, seed)`` that yields one task instance per seed.

An instance's id is ``<template>/<seed>``; the same id gives the same instruction, setup, checker and generated files
on any machine (the generator draws from ``random.Random("<template>/<seed>")``, never from Python's salted
``hash``). Generated binary files (spreadsheets, documents, images) are written into a cache folder keyed by the
instance id, which becomes the task's ``base_dir``: setup steps upload them from there and checkers read expected
files from there, exactly as for a fixed task's shipped files.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from step_envs.tasks.model import Task, TaskError
from step_envs.tasks.templates.recipes import Recipe
from step_envs.tasks.templates.steps import INFEASIBLE

CONTROL_ACTIONS = ("DONE", "FAIL", "WAIT")
EASY_MAX_STEPS, MEDIUM_MAX_STEPS = 2, 4
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*")


def difficulty_of(solution: list[str]) -> str:
    """easy / medium / hard by the number of actions the solution needs (DONE, FAIL and WAIT not counted):
    at most 2 is easy, 3-4 medium, 5 or more hard."""
    steps = sum(1 for action in solution if action not in CONTROL_ACTIONS)
    if steps <= EASY_MAX_STEPS:
        return "easy"
    return "medium" if steps <= MEDIUM_MAX_STEPS else "hard"


def cache_root() -> Path:
    """Where instances' generated files live: ``$STEP_ENVS_CACHE_DIR/instances`` or ``~/.cache/step-gym/instances``."""
    configured = os.environ.get("STEP_ENVS_CACHE_DIR")
    base = Path(configured) if configured else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "step-gym"
    return base / "instances"


def _materialize(folder: Path, files: dict[str, Recipe]) -> None:
    """Build each file unless the cache already holds it from the same recipe (a ``.<name>.recipe`` stamp says
    which); write-then-rename, so concurrent loaders never see half a file."""
    for name, recipe in files.items():
        path, stamp = folder / name, folder / f".{name}.recipe"
        if path.is_file() and stamp.is_file() and stamp.read_text() == recipe.digest:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        for target, data in ((path, recipe.build()), (stamp, recipe.digest.encode())):
            partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
            partial.write_bytes(data)
            os.replace(partial, target)


@dataclass(frozen=True)
class Draft:
    """What a template's generator returns for one seed (everything but the id and the difficulty)."""

    instruction: str
    setup: list[dict[str, Any]]
    evaluator: dict[str, Any]
    solution: list[str]
    """Actions that really solve the task on the desktop, ending with DONE (FAIL for an infeasible task)."""
    near_miss: list[str]
    """Actions that nearly do the task (the right value in the wrong cell, ...): they must score 0."""
    params: dict[str, Any]
    files: dict[str, Recipe] = field(default_factory=dict)
    """Generated files by name, relative to the instance's folder (setup uploads them, checkers compare to them)."""


Generator = Callable[[random.Random], Draft]


def infeasible_draft(rng: random.Random, requests: tuple[str, ...], setup: list[dict[str, Any]], pretend: list[str],
                     files: dict[str, Recipe] | None = None, **names: str) -> Draft:
    """An infeasible instance: one of ``requests`` (its ``{name}`` fields filled from ``names``) asked of the desktop
    ``setup`` leaves. Only ``FAIL`` solves it; its near miss is ``pretend`` (acting as if it could be done), then
    ``DONE``. The request is drawn from ``rng`` last: a template draws its setup first."""
    request = rng.choice(requests).format(**names)
    return Draft(instruction=request, setup=setup, evaluator=INFEASIBLE, solution=["FAIL"],
                 near_miss=[*pretend, "DONE"], params={"request": request}, files=files or {})


@dataclass(frozen=True)
class Template:
    """A family of tasks: ``generate(rng)`` draws one instance's parameters and builds its Draft."""

    id: str
    app: str
    """The app family (``os``, ``text_editor``, ``file_manager``, ``calc``, ``writer``, ``chromium``,
    ``image_viewer``): the instance's ``domain``."""
    related_apps: tuple[str, ...]
    generate: Generator
    seeds: int = 4
    """How many instances (seeds 0..seeds-1) the ``desktop-core`` suite draws."""
    feasible: bool = True

    def __post_init__(self) -> None:
        if not ID_PATTERN.fullmatch(self.id):
            raise TaskError(f"template id {self.id!r} must be lower-case letters, digits and dashes")

    def draft(self, seed: int) -> Draft:
        """The instance's Draft; the same seed gives the same Draft on any machine."""
        return self.generate(random.Random(f"{self.id}/{seed}"))

    def instance(self, seed: int) -> Task:
        """The task ``<template>/<seed>``, its generated files written to its cache folder."""
        if not isinstance(seed, int) or seed < 0:
            raise TaskError(f"template {self.id!r}: seed must be a non-negative int, got {seed!r}")
        draft = self.draft(seed)
        task_id = f"{self.id}/{seed}"
        base_dir = None
        if draft.files:
            base_dir = cache_root() / self.id / str(seed)
            _materialize(base_dir, draft.files)
        difficulty = difficulty_of(draft.solution)
        raw = {"id": task_id, "instruction": draft.instruction, "config": draft.setup, "evaluator": draft.evaluator,
               "solution": draft.solution, "difficulty": difficulty, "domain": self.app,
               "related_apps": list(self.related_apps), "template": self.id, "seed": seed, "params": draft.params}
        task = Task(id=task_id, instruction=draft.instruction, config=draft.setup, evaluator=draft.evaluator,
                    solution=draft.solution, domain=self.app, difficulty=difficulty,
                    related_apps=list(self.related_apps), base_dir=base_dir, raw=raw, template=self.id, seed=seed,
                    params=draft.params)
        task.validate()
        if task.feasible != self.feasible:
            raise TaskError(f"template {self.id!r} says feasible={self.feasible} but seed {seed} is not")
        return task

    def instances(self, count: int | None = None) -> list[Task]:
        """Seeds ``0 .. count-1`` (default: :attr:`seeds`)."""
        return [self.instance(seed) for seed in range(self.seeds if count is None else count)]


TEMPLATES: dict[str, Template] = {}
"""Every registered template by id (filled when :mod:`step_envs.tasks.templates` is imported)."""


def template(template_id: str, app: str, related_apps: tuple[str, ...], seeds: int = 4,
             feasible: bool = True) -> Callable[[Generator], Generator]:
    """Register the decorated generator as the template ``template_id``."""

    def add(generate: Generator) -> Generator:
        if template_id in TEMPLATES:
            raise ValueError(f"template {template_id!r} is registered twice")
        TEMPLATES[template_id] = Template(template_id, app, related_apps, generate, seeds, feasible)
        return generate

    return add
