"""The local provider leaves nothing behind: after close(), an exception, SIGTERM, or even SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from step_envs.providers.local import LocalProvider
from step_envs.providers.procs import session_pids

pytestmark = pytest.mark.desktop

CHILD = textwrap.dedent("""
    import sys, time
    from step_envs.providers.local import LocalProvider
    provider = LocalProvider()
    provider.start()
    print(provider.session_id, provider.dir, provider.display, flush=True)
    time.sleep(600)
""")


def _gone_within(session_id: str, directory: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not session_pids(session_id) and not directory.exists():
            return True
        time.sleep(0.1)
    return False


def _display_lock(display: str) -> Path:
    return Path(f"/tmp/.X{display.lstrip(':')}-lock")


def test_stop_ends_every_process_and_removes_the_session_directory() -> None:
    provider = LocalProvider()
    provider.start()
    session_id, directory, display = provider.session_id, provider.dir, provider.display
    assert len(session_pids(session_id)) >= 6  # Xvfb, dbus, xfwm4, panel, desktop, server, worker, ...
    provider.stop()
    assert session_pids(session_id) == set()
    assert not directory.exists()
    assert not _display_lock(display).exists()
    provider.stop()  # idempotent


def test_an_exception_inside_with_still_cleans_up() -> None:
    with pytest.raises(RuntimeError), LocalProvider() as provider:
        session_id, directory = provider.session_id, provider.dir
        raise RuntimeError("agent crashed")
    assert _gone_within(session_id, directory, 5)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_parent_leaves_no_processes(sig: signal.Signals) -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        session_id, directory, display = proc.stdout.readline().split()
        assert session_pids(session_id)
        os.kill(proc.pid, sig)
        proc.wait(timeout=20)
        assert _gone_within(session_id, Path(directory), 10), session_pids(session_id)
        assert not _display_lock(display).exists() or sig == signal.SIGKILL  # SIGKILLed Xvfb leaves its lock
    finally:
        proc.kill()


def test_concurrent_sessions_get_their_own_display_and_screen() -> None:
    from step_envs.server.client import ControllerClient

    first, second = LocalProvider(), LocalProvider()
    try:
        first.start()
        second.start()
        assert first.display != second.display
        one, two = ControllerClient(first.endpoint), ControllerClient(second.endpoint)
        one.launch(["xfce4-terminal", "--title", "only-in-first"])
        deadline = time.monotonic() + 20
        while not any(w["title"] == "only-in-first" for w in one.windows()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert not any(w["title"] == "only-in-first" for w in two.windows())
    finally:
        first.stop()
        second.stop()
