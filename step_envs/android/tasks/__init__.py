"""Built-in Android tasks (AndroidWorld-style templates with seeded parameters) and how to name one.

A task spec is a template name (``"system-wifi"``: parameters drawn at reset from the env's seed), an instance
id ``"<template>/<seed>"``, a dict ``{"template": ..., "params": {...}}``, an :class:`AndroidTask`, or the `Task`
the pool carries one as (:meth:`AndroidTask.as_task`).

Suites (:data:`ANDROID_SUITES`, what ``step-envs bench --suite`` takes): ``android-smoke``, one instance of each
of eight easy templates over settings, the launcher and files; ``android-core``, seeds 0 to
``ANDROID_SEEDS - 1`` of every template.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from step_envs.android.tasks import calendar, clock, contacts, files, messages, system  # noqa: F401 - register
from step_envs.android.tasks.base import (
    ANDROID_DOMAIN,
    ANDROID_TASKS,
    AndroidTask,
    answer_matches,
    register,
    verdict,
)
from step_envs.tasks.model import Task, TaskError

ANDROID_SEEDS = 4
SMOKE = ("system-wifi/0", "system-bluetooth/0", "system-airplane-mode/0", "system-dark-theme/0",
         "system-brightness/0", "system-open-app/0", "files-create-folder/0", "files-delete/0")


def template_of(name: str) -> type[AndroidTask]:
    if name not in ANDROID_TASKS:
        raise TaskError(f"unknown Android task {name!r}; known: {', '.join(sorted(ANDROID_TASKS))}")
    return ANDROID_TASKS[name]


def make_task(spec: Any, seed: int | None = None) -> AndroidTask:
    """An :class:`AndroidTask` instance from a spec; a bare template name draws its parameters with ``seed``."""
    if isinstance(spec, AndroidTask):
        return spec
    if isinstance(spec, Task):
        if spec.domain != ANDROID_DOMAIN:
            raise TaskError(f"{spec.id!r} is a desktop task (domain {spec.domain!r}); an Android env runs the Android "
                            f"tasks: {', '.join(sorted(ANDROID_TASKS))}")
        return template_of(spec.template)(dict(spec.params), seed=spec.seed)
    if isinstance(spec, dict):
        cls = template_of(str(spec.get("template", "")))
        return cls(dict(spec.get("params", {})), seed=spec.get("seed"))
    if not isinstance(spec, str):
        raise TaskError(f"an Android task is a name, '<name>/<seed>', a dict, an AndroidTask or its Task, got {spec!r}")
    name, _, seed_text = spec.partition("/")
    if seed_text:
        if not seed_text.isdigit():
            raise TaskError(f"{spec!r}: the part after '/' must be a seed (an integer)")
        seed = int(seed_text)
    return template_of(name).from_seed(0 if seed is None else seed)


def android_tasks(seed: int = 0) -> list[AndroidTask]:
    """One instance of every built-in template."""
    return [cls.from_seed(seed) for _, cls in sorted(ANDROID_TASKS.items())]


def _core() -> list[AndroidTask]:
    return [cls.from_seed(seed) for _, cls in sorted(ANDROID_TASKS.items()) for seed in range(ANDROID_SEEDS)]


ANDROID_SUITES: dict[str, Callable[[], list[AndroidTask]]] = {
    "android-smoke": lambda: [make_task(spec) for spec in SMOKE],
    "android-core": _core,
}


def android_suite(name: str) -> list[Task]:
    """The tasks of an Android suite, as the pool and the benchmark runner take them (:meth:`AndroidTask.as_task`)."""
    if name not in ANDROID_SUITES:
        raise TaskError(f"unknown Android suite {name!r}; known: {', '.join(ANDROID_SUITES)}")
    return [task.as_task() for task in ANDROID_SUITES[name]()]


__all__ = ["ANDROID_DOMAIN", "ANDROID_SEEDS", "ANDROID_SUITES", "ANDROID_TASKS", "AndroidTask", "android_suite",
           "android_tasks", "answer_matches", "make_task", "register", "template_of", "verdict"]
