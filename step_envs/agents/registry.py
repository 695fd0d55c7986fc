"""Agents by name: the built-in ones, or any class named as `module:Class` that follows the Agent protocol."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from step_envs.pool.agent import Agent

AGENTS = {
    "solution": "step_envs.agents.simple:SolutionAgent",
    "noop": "step_envs.agents.simple:NoopAgent",
    "replay": "step_envs.agents.simple:ReplayAgent",
    "random": "step_envs.agents.simple:RandomAgent",
    "random-widget": "step_envs.agents.simple:RandomWidgetAgent",
    "openai": "step_envs.agents.openai_agent:OpenAIAgent",
    "hf": "step_envs.agents.hf_agent:HFAgent",
}
"""Built-in agents; entries are import paths so that `hf` loads transformers only when asked for."""


def _load_class(spec: str) -> type:
    module_name, _, class_name = AGENTS.get(spec, spec).partition(":")
    if not class_name:
        raise ValueError(f"unknown agent {spec!r}: use one of {', '.join(AGENTS)} or module:Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r} for agent {spec!r}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ValueError(f"module {module_name!r} has no {class_name!r} (agent {spec!r})")
    return cls


def make_agent(spec: str, options: dict[str, Any] | None = None, **defaults: Any) -> Agent:
    """Build an agent from its name or `module:Class`.

    `options` go to the constructor as they are (a name it does not take is an error, so a typo in
    `--agent-arg` is caught); `defaults` are the CLI's shared flags (model, seed, ...): dropped when the class does
    not take them or when None, so one command line serves every agent.
    """
    cls = _load_class(spec)
    params = inspect.signature(cls).parameters
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = [k for k in options or {} if not open_ended and k not in params]
    if unknown:
        raise ValueError(f"agent {spec!r} takes no {', '.join(map(repr, unknown))}; it takes "
                         f"{', '.join(k for k in params if k != 'self') or 'no arguments'}")
    kwargs = {k: v for k, v in defaults.items() if v is not None and (open_ended or k in params)}
    agent = cls(**{**kwargs, **(options or {})})
    missing = [m for m in ("reset", "act", "end") if not callable(getattr(agent, m, None))]
    if missing:
        raise ValueError(f"agent {spec!r} lacks {', '.join(missing)}: an agent has reset(task, key), "
                         "act(turns) -> actions and end(key)")
    if not getattr(agent, "name", None):
        agent.name = spec
    return agent
