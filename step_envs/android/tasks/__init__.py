"""Built-in Android tasks (AndroidWorld-style templates with seeded parameters) and how to name one.

A task spec is a template name (``"system-wifi"``: parameters drawn at reset from the env's seed), an instance
id ``"<template>/<seed>"``, a dict ``{"template": ..., "params": {...}}``, or an :class:`AndroidTask`.
"""

from __future__ import annotations

from typing import Any

from step_envs.android.tasks import calendar, clock, contacts, files, messages, system  # noqa: F401 - register
from step_envs.android.tasks.base import ANDROID_TASKS, AndroidTask, answer_matches, register, verdict
from step_envs.tasks.model import TaskError


def template_of(name: str) -> type[AndroidTask]:
    if name not in ANDROID_TASKS:
        raise TaskError(f"unknown Android task {name!r}; known: {', '.join(sorted(ANDROID_TASKS))}")
    return ANDROID_TASKS[name]


def make_task(spec: Any, seed: int | None = None) -> AndroidTask:
    """An :class:`AndroidTask` instance from a spec; a bare template name draws its parameters with ``seed``."""
    if isinstance(spec, AndroidTask):
        return spec
    if isinstance(spec, dict):
        cls = template_of(str(spec.get("template", "")))
        return cls(dict(spec.get("params", {})), seed=spec.get("seed"))
    if not isinstance(spec, str):
        raise TaskError(f"an Android task is a name, '<name>/<seed>', a dict or an AndroidTask, got {spec!r}")
    name, _, seed_text = spec.partition("/")
    if seed_text:
        if not seed_text.isdigit():
            raise TaskError(f"{spec!r}: the part after '/' must be a seed (an integer)")
        seed = int(seed_text)
    return template_of(name).from_seed(0 if seed is None else seed)


def android_tasks(seed: int = 0) -> list[AndroidTask]:
    """One instance of every built-in template."""
    return [cls.from_seed(seed) for _, cls in sorted(ANDROID_TASKS.items())]


__all__ = ["ANDROID_TASKS", "AndroidTask", "android_tasks", "answer_matches", "make_task", "register",
           "template_of", "verdict"]
