"""Two local sessions run OSWorld's Chrome setup (Chrome on 1337, socat forwarding 9222) at the same time: each
session's app ports are its own (:mod:`step_envs.server.app_ports`), so each setup opens its tab in its own Chrome
and each checker reads its own tabs, where shared ports had the second Chrome fail to bind and both checkers read
the first one; the same for VLC's web interface (8080)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback_http import serve_files

from step_envs.checkers import GETTERS, CheckContext
from step_envs.desktop.setup import SetupRunner
from step_envs.providers.local import LocalProvider
from step_envs.server.app_ports import rewrite
from step_envs.server.client import ControllerClient
from step_envs.tasks.osworld import END_CHROMIUM

pytestmark = pytest.mark.desktop
OSWORLD_CHROME = [  # as 88 of OSWorld's Chrome tasks start it
    {"type": "launch", "parameters": {"command": ["google-chrome", "--remote-debugging-port=1337"]}},
    {"type": "launch", "parameters": {"command": ["socat", "tcp-listen:9222,fork", "tcp:localhost:1337"]},
     "ready": {}}]


def test_osworlds_ports_become_the_sessions_own_in_commands() -> None:
    ports = {"STEP_DEVTOOLS_PORT": "20010", "STEP_CHROME_DEBUG_PORT": "20011"}
    assert rewrite(["socat", "tcp-listen:9222,fork", "tcp:localhost:1337"], ports) == [
        "socat", "tcp-listen:20010,fork", "tcp:localhost:20011"]
    assert rewrite(["google-chrome", "--remote-debugging-port=1337"], ports) == [
        "google-chrome", "--remote-debugging-port=20011"]
    assert rewrite("sed -i 's#Exec=chrome#& --remote-debugging-port=1337#g' a.desktop", ports) == (
        "sed -i 's#Exec=chrome#& --remote-debugging-port=20011#g' a.desktop")
    assert rewrite(["chromium", "--remote-debugging-port=13370", "tcp:localhost:1337x"], ports) == [
        "chromium", "--remote-debugging-port=13370", "tcp:localhost:1337x"]  # other numbers stay
    assert rewrite(["socat", "tcp-listen:9222,fork"], {}) == ["socat", "tcp-listen:9222,fork"]  # a container


@pytest.fixture(scope="module")
def two() -> Iterator[list[ControllerClient]]:
    """Two local sessions at once, their clients."""
    sessions = [LocalProvider(), LocalProvider()]
    clients: list[ControllerClient] = []
    try:
        for session in sessions:
            clients.append(ControllerClient(session.start()))
        assert not set(sessions[0].session_ports.values()) & set(sessions[1].session_ports.values())
        yield clients
    finally:
        for client in clients:
            client.close()
        for session in sessions:
            session.stop()


def test_two_sessions_each_read_their_own_chromes_tabs(two: list[ControllerClient], tmp_path) -> None:
    with serve_files() as (base, files, _):
        for name in ("left", "right"):
            files[f"/{name}.html"] = f"<title>{name}</title>{name}".encode()
        for client, name in zip(two, ("left", "right"), strict=True):
            SetupRunner(client).run([*OSWORLD_CHROME, {"type": "chrome_open_tabs", "parameters": {
                "urls_to_open": [f"{base}/{name}.html"]}}])
        for client, name in zip(two, ("left", "right"), strict=True):
            tabs = GETTERS["open_tabs_info"](CheckContext(client=client, cache_dir=tmp_path), {})
            assert tabs is not None and f"{base}/{name}.html" in [tab["url"] for tab in tabs], (name, tabs)
            other = "right" if name == "left" else "left"
            assert f"{base}/{other}.html" not in [tab["url"] for tab in tabs], (name, tabs)
    for client in two:
        client.execute(END_CHROMIUM, shell=True)


def test_vlcs_web_interface_answers_only_its_own_session(two: list[ControllerClient], tmp_path) -> None:
    """VLC in the first session only: its checker reads the player's state, the second session's finds no VLC
    (with one port for all, it read the first session's)."""
    first, second = two
    SetupRunner(first).run([{"type": "launch", "parameters": {"command": ["vlc"]}}])
    try:
        status = GETTERS["vlc_playing_info"](CheckContext(client=first, cache_dir=tmp_path / "a"), {"dest": "s.xml"})
        assert status is not None and "<state>" in Path(status).read_text()
        assert GETTERS["vlc_playing_info"](CheckContext(client=second, cache_dir=tmp_path / "b"),
                                           {"dest": "s.xml"}) is None
    finally:
        first.execute(["pkill", "-x", "vlc"])
