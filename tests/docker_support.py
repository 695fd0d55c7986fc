"""Whether the Docker tests can run here: one answer for every test module that needs an engine and an image."""

from __future__ import annotations

import os
from typing import Any

import pytest


def docker_ready(variant: str = "slim") -> tuple[Any, str | None]:
    """``(client, None)`` when an engine answers and the ``variant`` image is built, else ``(None, why not)``."""
    try:
        from step_envs.docker.engine import docker_client
        from step_envs.docker.image import image_tag
        from step_envs.providers.docker import DockerProvider  # noqa: F401 - importable is part of ready
    except ImportError as exc:
        return None, f"no docker provider ({exc})"
    try:
        client = docker_client(timeout=30)
        client.images.get(image_tag(variant))
    except Exception as exc:  # noqa: BLE001 - no engine or no image: say which
        return None, str(exc).splitlines()[0][:200]
    return client, None


def skip_docker_tests(reason: str | None) -> bool:
    """Skip a Docker test where Docker is not ready, except in CI: there `make test` set it up, so it must run."""
    if reason is not None and os.environ.get("CI"):
        raise RuntimeError(f"docker not ready in CI: {reason}")
    return reason is not None


def require_docker(variant: str = "slim") -> Any:
    """The Docker client, or skip the test (outside CI) with how to get one."""
    client, reason = docker_ready(variant)
    if skip_docker_tests(reason):
        pytest.skip(f"docker not ready here ({reason}); `make test` starts the engine and builds the image")
    return client
