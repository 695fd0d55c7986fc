"""Shared fixtures: real desktop sessions on this host (Xvfb + Xfce + the controller server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from step_envs.providers.local import LocalProvider
from step_envs.server.client import ControllerClient


@pytest.fixture(scope="module")
def session() -> Iterator[LocalProvider]:
    provider = LocalProvider()
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture(scope="module")
def client(session: LocalProvider) -> Iterator[ControllerClient]:
    assert session.endpoint is not None
    client = ControllerClient(session.endpoint)
    yield client
    client.close()
