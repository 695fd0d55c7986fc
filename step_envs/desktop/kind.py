"""The desktop kind (:mod:`step_envs.kinds`): a Linux X desktop (`DesktopEnv`) on the ``local``, ``docker`` or
``ray`` provider, pyautogui or computer_13 actions, the built-in tasks, templates, task files and OSWorld's files,
and the named suites of :mod:`step_envs.tasks.suites`."""

from __future__ import annotations

from typing import Any

from step_envs.core import DEFAULT_SCREEN, EnvKind
from step_envs.tasks import load_task
from step_envs.tasks.suites import SUITES


def make_provider(name: str, width: int, height: int, **kwargs: Any) -> Any:
    from step_envs.providers import make_provider as make

    return make(name, width=width, height=height, **kwargs)


def make_env(provider: Any, name: str, env_kwargs: dict[str, Any]) -> Any:
    from step_envs.desktop.env import DesktopEnv

    return DesktopEnv(provider=provider, **env_kwargs)


DESKTOP = EnvKind(
    name="desktop", providers=("local", "docker", "ray"), make_provider=make_provider, make_env=make_env,
    load_task=load_task, suites=SUITES, default_screen=DEFAULT_SCREEN,
    observation_keys=lambda env_kwargs: ("a11y_tree",) if env_kwargs.get("a11y_tree") else (),
    provider_options=lambda env_kwargs: {"a11y": True} if env_kwargs.get("a11y_tree") else {},
    records=True)
