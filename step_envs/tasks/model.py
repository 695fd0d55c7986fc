"""The Task: data that says what to set up and what to check, in OSWorld's JSON format plus our extensions.

OSWorld fields: ``id``, ``instruction``, ``config`` (setup steps), ``evaluator`` (``func``, ``result``,
``expected``, ``options``, ``postconfig``, ``conj``), ``related_apps``. An infeasible task has
``evaluator.func == "infeasible"``. Ours: ``solution`` (a list of actions that solves the task),
``difficulty``, ``domain``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from step_envs.tasks.steps import validate_steps

if TYPE_CHECKING:
    import numpy as np

DIFFICULTIES = ("easy", "medium", "hard")


class TaskError(ValueError):
    """A task definition is malformed or names something that does not exist."""


@dataclass
class Task:
    """A desktop task as data: what to set up (``config``), how to score (``evaluator``), and how to solve it
    (``solution``), in OSWorld's JSON format with this project's fields (this module's docstring); a template
    instance also carries its ``template``, ``seed`` and drawn ``params``. An env runs it; the task runs nothing.

    An Android task travels through the pool and the benchmark runner as one too
    (`step_envs.android.tasks.AndroidTask.as_task`): domain ``android``, no setup steps and no evaluator.
    """

    id: str
    instruction: str
    config: list[dict[str, Any]] = field(default_factory=list)
    evaluator: dict[str, Any] = field(default_factory=dict)
    solution: list[Any] = field(default_factory=list)
    domain: str = ""
    difficulty: str = "easy"
    related_apps: list[str] = field(default_factory=list)
    base_dir: Path | None = None
    """Where the task's own files live: relative paths in setup steps resolve against it."""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    template: str = ""
    """The template this instance was generated from ("" for a fixed task); the instance id is `<template>/<seed>`."""
    seed: int | None = None
    """The seed the template's parameters were drawn with (None for a fixed task)."""
    params: dict[str, Any] = field(default_factory=dict)
    """The drawn parameters, for reports and debugging."""

    @property
    def feasible(self) -> bool:
        return not self.infeasible

    @property
    def infeasible(self) -> bool:
        func = self.evaluator.get("func")
        return func == "infeasible" or (isinstance(func, list) and "infeasible" in func)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base_dir: Path | None = None, domain: str = "") -> Task:
        for key in ("id", "instruction", "evaluator"):
            if key not in data:
                raise TaskError(f"task {data.get('id', '?')!r} has no {key!r} field")
        difficulty = data.get("difficulty", "easy")
        if difficulty not in DIFFICULTIES:
            raise TaskError(f"task {data['id']!r}: difficulty {difficulty!r} is not one of {DIFFICULTIES}")
        task = cls(id=str(data["id"]), instruction=str(data["instruction"]), config=list(data.get("config", [])),
                   evaluator=dict(data["evaluator"]), solution=list(data.get("solution", [])),
                   domain=data.get("domain", domain), difficulty=difficulty,
                   related_apps=list(data.get("related_apps", [])), base_dir=base_dir, raw=data)
        task.validate()
        return task

    @classmethod
    def from_file(cls, path: str | Path) -> Task:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise TaskError(f"cannot read task file {path}: {exc}") from exc
        return cls.from_dict(data, base_dir=path.parent, domain=path.parent.name)

    def validate(self) -> None:
        """Fail at load time, not mid-episode: unknown setup steps, getters or metrics."""
        from step_envs.checkers import UnknownCheckerError, validate_evaluator

        try:
            validate_steps(self.config + list(self.evaluator.get("postconfig", [])))
            if not self.infeasible:
                validate_evaluator(self.evaluator)
        except (UnknownCheckerError, ValueError) as exc:
            raise TaskError(f"task {self.id!r}: {exc}") from exc


def draw_instance_seed(rng: np.random.Generator) -> int:
    """The seed of the instance an env runs when its task is a bare template name (``terminal-chmod``,
    ``system-wifi``): drawn from the env's ``np_random``, which ``reset(seed=...)`` seeds, so equal reset seeds
    give the same instance ``<template>/<drawn seed>`` and no seed gives a random one. Every env draws this way."""
    return int(rng.integers(2**31))
