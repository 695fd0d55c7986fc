"""The Android kind (:mod:`step_envs.kinds`): `AndroidEnv` on an emulator slot (``emulator``) or android-env's
FakeSimulator (``fake-emulator``), AndroidWorld's JSON actions, the Android task templates and their suites."""

from __future__ import annotations

from typing import Any

from step_envs.android.actions import ACTION_SPACE
from step_envs.android.env import DEFAULT_SCREEN_SIZE
from step_envs.android.tasks import ANDROID_SUITES, android_suite, make_task
from step_envs.core import EnvKind
from step_envs.providers import ANDROID_PROVIDERS
from step_envs.tasks import Task


def make_provider(name: str, width: int, height: int, **kwargs: Any) -> Any:
    from step_envs.providers import make_provider as make

    return make(name, width=width, height=height, **kwargs)


def make_env(provider: Any, name: str, env_kwargs: dict[str, Any]) -> Any:
    from step_envs.android.env import AndroidEnv

    return AndroidEnv(provider=provider, simulator=ANDROID_PROVIDERS[name], **env_kwargs)


def load_android_task(spec: Any) -> Task:
    """An Android task id (``system-wifi/3``; a bare template name is its instance 0), an `AndroidTask` or the
    `Task` it travels as."""
    return make_task(spec).as_task()


ANDROID = EnvKind(
    name="android", providers=tuple(ANDROID_PROVIDERS), make_provider=make_provider, make_env=make_env,
    load_task=load_android_task, suites={name: (lambda n=name: android_suite(n)) for name in ANDROID_SUITES},
    default_screen=DEFAULT_SCREEN_SIZE, action_space=ACTION_SPACE, observation_keys=lambda env_kwargs: ("ui_tree",))
