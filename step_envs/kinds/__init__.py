"""Kinds of environment: what the pool, the benchmark runner and the command line ask instead of testing provider
names.

An :class:`EnvKind` says, for one kind of env (a Linux desktop, an Android device, or yours): the providers its
envs run on, how to make its provider and its env, its action set, how a task spec becomes a task (id, template
instance, file), its named suites and its default screen. The built-in kinds (``desktop``, ``android``) are
declared in their own packages (:mod:`step_envs.desktop.kind`, :mod:`step_envs.android.kind`; the class lives in
:mod:`step_envs.core`, below every package) and named in :data:`BUILTIN`; a new kind is one package that builds an ``EnvKind`` plus one :func:`register` call::

    from step_envs.kinds import EnvKind, register
    register(EnvKind(name="toy", providers=("toy",), make_provider=..., make_env=..., load_task=...))

after which ``EnvPool(4, "toy")`` and ``step-envs bench --provider toy`` run it, with no change to the pool, the
bench or the CLI.
"""

from __future__ import annotations

import importlib
from typing import Any

from step_envs.core import EnvKind
from step_envs.tasks import Task, TaskError

BUILTIN = {"desktop": "step_envs.desktop.kind:DESKTOP", "android": "step_envs.android.kind:ANDROID"}
"""The kinds step-gym ships, by name: ``module:attribute`` of their ``EnvKind`` (imported on first use)."""


_kinds: dict[str, EnvKind] = {}


def register(kind: EnvKind) -> EnvKind:
    """Add ``kind`` (or replace the one of that name); its providers must not belong to another kind."""
    for other in kinds().values():
        taken = set(other.providers) & set(kind.providers)
        if other.name != kind.name and taken:
            raise ValueError(f"kind {kind.name!r}: provider(s) {', '.join(sorted(taken))} already run kind "
                             f"{other.name!r}")
    _kinds[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove a registered kind (tests; built-in kinds come back on next use)."""
    _kinds.pop(name, None)


def kinds() -> dict[str, EnvKind]:
    """Every kind by name, the built-in ones first."""
    for name, spec in BUILTIN.items():
        if name not in _kinds:
            module, _, attribute = spec.partition(":")
            _kinds[name] = getattr(importlib.import_module(module), attribute)
    return dict(_kinds)


def kind_of_provider(provider: str) -> EnvKind:
    """The kind whose envs run on ``provider``; ValueError naming every known provider otherwise."""
    every = kinds()
    for kind in every.values():
        if provider in kind.providers:
            return kind
    known = ", ".join(f"{p} ({k.name})" for k in every.values() for p in k.providers)
    raise ValueError(f"unknown provider {provider!r}; known: {known}")


def kind_of_suite(suite: str) -> EnvKind | None:
    """The kind whose named suites include ``suite``, or None (a path, or a desktop suite file)."""
    return next((kind for kind in kinds().values() if suite in kind.suites), None)


def task_for(kind: EnvKind, spec: Any) -> Task:
    """``spec`` as an env of ``kind`` runs it (:attr:`EnvKind.load_task`); a `Task` of another kind (its domain is
    that kind's name, as Android tasks travel) is refused, naming the providers that run it."""
    if isinstance(spec, Task) and spec.domain != kind.name and spec.domain in kinds():
        other = kinds()[spec.domain]
        raise TaskError(f"{spec.id!r} is an {other.name} task; run it on a pool of provider "
                        f"{' or '.join(map(repr, other.providers))}, not on a {kind.name} one")
    return kind.load_task(spec)


def suite_names() -> list[str]:
    """Every named suite of every kind."""
    return [name for kind in kinds().values() for name in kind.suites]


__all__ = ["BUILTIN", "EnvKind", "kind_of_provider", "kind_of_suite", "kinds", "register", "suite_names",
           "task_for", "unregister"]
