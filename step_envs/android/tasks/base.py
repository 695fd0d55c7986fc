"""The Android task model, after AndroidWorld's ``TaskEval``: a template plus seeded parameters, ``initialize``
(adb setup), ``is_successful`` (reads device state over adb), ``tear_down``.

A task class is a template (``system-wifi``: "Turn Wi-Fi {state}."); an instance has drawn parameters and the
id ``<template>/<seed>``. Everything a task does to or reads from the device goes through an
:class:`~step_envs.providers.adb.AdbRunner`, so the same code runs on an emulator and against recorded responses.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from step_envs.checkers.registry import Score
from step_envs.providers.adb import AdbRunner, shell
from step_envs.tasks.model import DIFFICULTIES, Task, TaskError

ANDROID_TASKS: dict[str, type[AndroidTask]] = {}
ANDROID_DOMAIN = "android"
"""The ``domain`` of an Android task carried as a `Task` (:meth:`AndroidTask.as_task`)."""


def register(cls: type[AndroidTask]) -> type[AndroidTask]:
    """Class decorator: make a task template known by its ``name``."""
    if cls.name in ANDROID_TASKS:
        raise ValueError(f"two Android tasks are named {cls.name!r}")
    if cls.difficulty not in DIFFICULTIES:
        raise ValueError(f"{cls.name}: difficulty {cls.difficulty!r} is not one of {DIFFICULTIES}")
    ANDROID_TASKS[cls.name] = cls
    return cls


class AndroidTask(ABC):
    """An Android task template and, as an instance, its drawn parameters (AndroidWorld's ``TaskEval``).

    A subclass names the template (``name``), its instruction (``template``, formatted with ``params``), its app,
    difficulty and step budget, draws parameters in ``generate_params``, and reads the device in
    ``is_successful``; ``setup`` / ``cleanup`` put the device in the start state and undo it. Instances come from
    ``from_seed(n)`` (id ``<name>/<n>``) or from explicit ``params``.
    """

    name: ClassVar[str]
    """The template's id, e.g. ``system-wifi``."""
    template: ClassVar[str]
    """The instruction, with ``{param}`` fields."""
    app: ClassVar[str]
    """The app the task is about (for tables and suites): settings, contacts, messages, files, clock, calendar."""
    packages: ClassVar[tuple[str, ...]] = ()
    """Packages force-stopped before and after the task, so it starts from the app's first screen."""
    difficulty: ClassVar[str] = "easy"
    max_steps: ClassVar[int] = 10
    """A step budget, like AndroidWorld's complexity x 10."""
    params_doc: ClassVar[dict[str, str]] = {}
    """Each parameter and what values it takes (docs/android.md's task table)."""
    answers: ClassVar[bool] = False
    """True when the agent must reply with an ``answer`` action (information retrieval)."""

    def __init__(self, params: dict[str, Any], seed: int | None = None) -> None:
        missing = set(self.params_doc) - set(params)
        unknown = set(params) - set(self.params_doc)
        if missing or unknown:
            raise TaskError(f"task {self.name!r}: missing params {sorted(missing)}, unknown params {sorted(unknown)}; "
                            f"it takes {sorted(self.params_doc) or 'none'}")
        self.params = dict(params)
        self.seed = seed

    @classmethod
    def from_seed(cls, seed: int) -> AndroidTask:
        return cls(cls.generate_params(random.Random(seed)), seed=seed)

    @classmethod
    @abstractmethod
    def generate_params(cls, rng: random.Random) -> dict[str, Any]:
        """Draw this template's parameters."""

    @property
    def id(self) -> str:
        return self.name if self.seed is None else f"{self.name}/{self.seed}"

    @property
    def goal(self) -> str:
        return self.template.format(**self.params)

    # --- lifecycle -------------------------------------------------------------------------------------

    def initialize(self, adb: AdbRunner) -> None:
        """Start from the home screen with the task's apps closed, then put the device in the task's start state."""
        self._close_apps(adb)
        shell(adb, "input keyevent KEYCODE_HOME")
        self.setup(adb)

    def setup(self, adb: AdbRunner) -> None:
        """The task's own start state (settings, files, content providers, app data); nothing by default."""
        return None

    @abstractmethod
    def is_successful(self, adb: AdbRunner, answer: str | None = None) -> Score:
        """Read the device (and the agent's ``answer``, for questions) and score the outcome."""

    def tear_down(self, adb: AdbRunner) -> None:
        """Close the task's apps and undo what ``setup`` created that would leak into the next task."""
        self._close_apps(adb)
        self.cleanup(adb)

    def cleanup(self, adb: AdbRunner) -> None:
        """Task-specific undo; nothing by default."""
        return None

    def _close_apps(self, adb: AdbRunner) -> None:
        for package in self.packages:
            shell(adb, f"am force-stop {package}")

    def as_task(self) -> Task:
        """This instance as the pool, the benchmark runner and agents carry a task: a `Task` with its id,
        instruction, difficulty, template, seed and params, domain :data:`ANDROID_DOMAIN` and its app in
        ``related_apps``. It has no setup steps or evaluator: an `AndroidEnv` turns it back into this instance
        (:func:`~step_envs.android.tasks.make_task`) and runs that."""
        return Task(id=self.id, instruction=self.goal, domain=ANDROID_DOMAIN, difficulty=self.difficulty,
                    related_apps=[self.app], template=self.name, seed=self.seed, params=dict(self.params))

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "template": self.name, "app": self.app, "difficulty": self.difficulty,
                "instruction": self.goal, "params": dict(self.params), "max_steps": self.max_steps}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r}, {self.params!r})"


def verdict(ok: bool, success: str, failure: str) -> Score:
    return Score(1.0 if ok else 0.0, success if ok else failure)


def answer_matches(answer: str | None, expected: str) -> Score:
    """Questions: the agent's answer must equal the expected text (case, spaces and a final period aside)."""
    if answer is None:
        return Score(0.0, f"no answer given (expected {expected!r}); reply with an answer action")
    normalised = answer.strip().rstrip(".").strip().lower()
    return verdict(normalised == expected.strip().lower(), f"answered {expected!r}",
                   f"answered {answer!r}, expected {expected!r}")
