"""The step-gym containers on a Docker engine: the labels that mark them and their owner, listing them, and
removing those whose owner process is gone (``step-envs docker ps`` / ``gc``, and every Docker provider once per
process)."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from typing import Any

from step_envs.docker.engine import docker_client

LABEL = "step-gym"
OWNER_PID = "step-gym.owner-pid"
OWNER_HOST = "step-gym.owner-host"
CREATED = "step-gym.created"


def owner_labels() -> dict[str, str]:
    """The labels of a container this process starts: step-gym's mark, this process and host, the time."""
    return {LABEL: "1", OWNER_PID: str(os.getpid()), OWNER_HOST: socket.gethostname(), CREATED: str(int(time.time()))}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def step_gym_containers(client: Any) -> list[Any]:
    """Every container with step-gym's label, running or not."""
    return list(client.containers.list(all=True, filters={"label": f"{LABEL}=1"}))


def gc(client: Any | None = None, everything: bool = False) -> list[str]:
    """Remove step-gym containers whose owner process (on this host) is gone; all of them with ``everything``.

    Returns the names removed."""
    client = client or docker_client()
    host, removed = socket.gethostname(), []
    for container in step_gym_containers(client):
        labels = container.labels
        owner = int(labels.get(OWNER_PID, "0") or 0)
        stale = labels.get(OWNER_HOST) == host and not _pid_alive(owner)
        if everything or stale:  # a live owner's containers, even exited ones, are its own to remove
            with contextlib.suppress(Exception):
                container.remove(force=True)
                removed.append(container.name)
    return removed
