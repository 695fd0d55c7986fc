"""Talking to the Docker engine through the SDK, with errors that say what to do."""

from __future__ import annotations

from typing import Any

ENGINE_HINT = ("start one: `make docker` (installs Debian's docker.io and starts dockerd in the background with "
               "--bridge=none --iptables=false), or point DOCKER_HOST at a running engine")


class DockerUnavailable(RuntimeError):
    """No Docker engine answers (or the SDK is missing)."""


def docker_client(timeout: float = 120.0) -> Any:
    """A `docker.DockerClient` for the engine in the environment (DOCKER_HOST or the local socket)."""
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise DockerUnavailable("the docker SDK is not installed: pip install docker") from exc
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except Exception as exc:  # the SDK raises DockerException, requests' errors or FileNotFoundError
        raise DockerUnavailable(f"no Docker engine answers ({str(exc).splitlines()[0][:200]}); {ENGINE_HINT}") from exc
    return client


def engine_available() -> bool:
    try:
        docker_client(timeout=5).close()
        return True
    except DockerUnavailable:
        return False
