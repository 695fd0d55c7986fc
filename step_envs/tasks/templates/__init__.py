"""Parameterized task templates: ``<template>/<seed>`` instances over the desktop apps.

Importing this package registers every template (one module per app family) in :data:`TEMPLATES`.
"""

from __future__ import annotations

from typing import TypeGuard

from step_envs.tasks.model import Task, TaskError
from step_envs.tasks.templates import (  # noqa: F401 - each module registers its templates
    calc,
    chromium,
    editor,
    file_manager,
    terminal,
    viewer,
    writer,
)
from step_envs.tasks.templates.base import TEMPLATES, Draft, Template, difficulty_of
from step_envs.tasks.templates.widgets import WIDGET_TEMPLATES, widget_task


def get_template(template_id: str) -> Template:
    if template_id not in TEMPLATES:
        raise TaskError(f"unknown template {template_id!r}; known: {', '.join(sorted(TEMPLATES))}")
    return TEMPLATES[template_id]


def instance(task_id: str) -> Task:
    """The task ``<template>/<seed>`` of a desktop template or of a widget template (:mod:`.widgets`)."""
    template_id, _, seed = task_id.rpartition("/")
    if not template_id or not seed.isdigit():
        raise TaskError(f"{task_id!r} is not a template instance id (<template>/<seed>, e.g. terminal-chmod/0)")
    if template_id in TEMPLATES:
        return TEMPLATES[template_id].instance(int(seed))
    if template_id in WIDGET_TEMPLATES:
        return widget_task(task_id)
    known = ", ".join(sorted([*TEMPLATES, *WIDGET_TEMPLATES]))
    raise TaskError(f"unknown template {template_id!r}; known: {known}")


def is_template(name: object) -> TypeGuard[str]:
    """True for the id of a desktop or widget template (``terminal-chmod``): an env given one as its task runs
    the instance its seed draws (`step_envs.tasks.model.draw_instance_seed`)."""
    return isinstance(name, str) and (name in TEMPLATES or name in WIDGET_TEMPLATES)


__all__ = ["TEMPLATES", "Draft", "Template", "difficulty_of", "get_template", "instance", "is_template"]
