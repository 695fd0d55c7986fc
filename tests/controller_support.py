"""The controller server without a desktop, on 127.0.0.1: its file and command routes are what most getters use, and
they need no X display, so getters can be tested against the real server in a thread of the test process."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from werkzeug.serving import make_server

from step_envs.checkers import CheckContext
from step_envs.providers.base import Endpoint
from step_envs.server.app import create_app
from step_envs.server.client import ControllerClient


@contextmanager
def headless_controller() -> Iterator[ControllerClient]:
    """A :class:`ControllerClient` talking to a controller served from this process (the test's own user and home);
    routes that need the display (screenshots, actions) fail."""
    token = secrets.token_hex(8)
    server = make_server("127.0.0.1", 0, create_app(token), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = ControllerClient(Endpoint(f"http://127.0.0.1:{server.server_port}", token, 1280, 720))
    try:
        yield client
    finally:
        client.close()
        server.shutdown()


def check_context(client: ControllerClient, folder: Path) -> CheckContext:
    """A check context on ``client`` whose fetched files go to ``folder/cache``."""
    return CheckContext(client=client, cache_dir=folder / "cache")
