"""The controller's accessibility reader: one long-lived `a11y.py --serve` child per session, reused tree after tree,
killed and replaced when a tree does not come in time, and the `active` scope, which walks the active window only
and gives a policy the same table as the whole tree does.

The first tests drive `A11yReader` with a stand-in for the dumper that speaks its protocol (no desktop); the rest run
the real one in a real session with the widget app."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from step_envs.agents.a11y import a11y_text
from step_envs.desktop.env import DesktopEnv
from step_envs.providers.procs import _alive
from step_envs.server import commands
from step_envs.server.client import ControllerClient
from step_envs.server.commands import A11yReader
from step_envs.tasks.templates.widgets import widget_task
from step_envs.widgets.app import PROGRAM

FAKE_DUMPER = textwrap.dedent("""
    import json, os, sys, time
    assert sys.argv[1:] == ["--serve"], sys.argv
    sys.stderr.write("chatter\\n" * 100_000)  # more than a pipe holds: the reader must drain it
    sys.stderr.flush()
    print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if request["max_depth"] == 0:  # a hung application
            time.sleep(3600)
        xml = f'<desktop-frame pid="{os.getpid()}" depth="{request["max_depth"]}" scope="{request["scope"]}"/>'
        print(json.dumps({"ok": True, "xml": xml}), flush=True)
""")


def _executable(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def fake_dumper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`a11y.py` replaced by the stand-in, and a first interpreter without pyatspi (exit code 3) before this one."""
    script = tmp_path / "fake_a11y.py"
    script.write_text(FAKE_DUMPER)
    no_pyatspi = _executable(tmp_path / "python-without-pyatspi", "#!/bin/sh\necho 'no pyatspi here' >&2\nexit 3\n")
    monkeypatch.setattr(commands, "A11Y_SCRIPT", script)
    monkeypatch.setattr(commands, "A11Y_PYTHONS", [str(tmp_path / "missing-python"), no_pyatspi, sys.executable])
    return tmp_path


def test_one_child_answers_every_tree_and_a_hung_one_is_killed_and_replaced(fake_dumper: Path) -> None:
    reader = A11yReader()
    try:
        assert reader.pid is None  # it starts at the first request
        xml, error = reader.tree(50, 1024, 5.0)
        assert error is None and reader.pid is not None and xml == (
            f'<desktop-frame pid="{reader.pid}" depth="50" scope="all"/>')
        first = reader.pid
        assert reader.tree(7, 1024, 5.0, "active") == (f'<desktop-frame pid="{first}" depth="7" scope="active"/>', None)
        assert reader.pid == first and reader.starts == 1
        assert reader.tree(50, 1024, 5.0, "window") == (None, "unknown scope 'window'; known: all, active")

        start = time.monotonic()
        xml, error = reader.tree(0, 1024, 0.5)  # hangs: killed at the time limit + 5 s
        assert xml is None and error == "the accessibility tree did not come within 5.5 s"
        assert 5.4 < time.monotonic() - start < 8 and reader.pid is None and not _alive(first)
        xml, error = reader.tree(50, 1024, 5.0)
        assert error is None and reader.pid not in (None, first) and reader.starts == 2

        os.kill(reader.pid, signal.SIGKILL)  # a child that died between trees is replaced at the next one
        killed = reader.pid
        while _alive(killed):
            time.sleep(0.01)
        assert reader.tree(50, 1024, 5.0)[1] is None and reader.pid not in (None, killed)
    finally:
        reader.close()
    assert reader.pid is None and reader.tree(50, 1024, 5.0) == (None, "the accessibility reader is closed")


def test_concurrent_requests_take_turns_on_the_one_child(fake_dumper: Path) -> None:
    reader = A11yReader()
    answers: dict[int, tuple[str | None, str | None]] = {}

    def ask(depth: int) -> None:
        answers[depth] = reader.tree(depth, 1024, 5.0)

    try:
        threads = [threading.Thread(target=ask, args=(depth,)) for depth in range(1, 9)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert {depth: ET.fromstring(xml or "").get("depth") for depth, (xml, _) in answers.items()} == {
            depth: str(depth) for depth in range(1, 9)}
        assert reader.starts == 1
    finally:
        reader.close()


def test_no_interpreter_with_pyatspi_is_an_error_saying_so(fake_dumper: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_pyatspi = str(fake_dumper / "python-without-pyatspi")
    monkeypatch.setattr(commands, "A11Y_PYTHONS", [no_pyatspi])
    assert A11yReader().tree(50, 1024, 5.0) == (None, "no pyatspi here")
    monkeypatch.setattr(commands, "A11Y_PYTHONS", [str(fake_dumper / "missing-python")])
    assert A11yReader().tree(50, 1024, 5.0) == (None, commands.NO_PYATSPI_ERROR)


# --- a real session --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env() -> Iterator[DesktopEnv]:
    env = DesktopEnv(max_steps=10, a11y_tree=True, a11y_scope="active")
    yield env
    env.close()


def _reader_pid(client: ControllerClient) -> int | None:
    return requests.get(f"{client.endpoint.url}/health", timeout=5).json()["a11y_pid"]


def _applications(xml: str) -> list[str]:
    return [app.get("name", "") for app in ET.fromstring(xml) if app.tag == "application"]


@pytest.mark.desktop
def test_scope_active_reads_the_active_window_only_and_gives_the_same_table(env: DesktopEnv) -> None:
    obs, info = env.reset(options={"task": widget_task("widget-click-button/3")})
    assert "a11y_error" not in info, info
    client = env.client
    assert client is not None
    full, active = client.accessibility_tree(), client.accessibility_tree(scope="active")
    assert "xfce4-panel" in _applications(full) and PROGRAM in _applications(full)
    assert _applications(active) == [PROGRAM] and _applications(obs["a11y_tree"]) == [PROGRAM]
    root = ET.fromstring(active)
    assert root.tag == "desktop-frame" and [child.tag for child in root[0]] == ["frame"]
    assert len(active) < len(full) / 3
    table = a11y_text(full, (env.width, env.height), scope="active")
    assert "Planet" in table and "xfce4-panel" not in table
    for tree in (active, obs["a11y_tree"]):
        assert a11y_text(tree, (env.width, env.height), scope="active") == table
        assert a11y_text(tree, (env.width, env.height)) == table  # nothing else in it
    with pytest.raises(ValueError, match="scope must be one of all, active, got 'window'"):
        client.accessibility_tree(scope="window")
    response = client.session.get(f"{client.endpoint.url}/accessibility", params={"scope": "window"}, timeout=10)
    assert response.status_code == 400 and "scope must be one of all, active" in response.json()["error"]


@pytest.mark.desktop
def test_the_reader_lives_through_trees_and_resets_and_is_replaced_after_a_kill(env: DesktopEnv) -> None:
    env.reset(options={"task": widget_task("widget-click-button/3")})
    client = env.client
    assert client is not None
    client.accessibility_tree()
    reader = _reader_pid(client)
    assert reader is not None
    for _ in range(3):
        client.accessibility_tree(scope="active")
    obs, _, _, _, info = env.step("WAIT")
    assert "a11y_error" not in info and PROGRAM in _applications(obs["a11y_tree"])
    env.reset(options={"task": widget_task("widget-choose-radio/2")})  # a restore kills the apps, not the reader
    assert _reader_pid(client) == reader

    # an app that dies under it: the next tree leaves it out, from the same reader
    pid = client.execute(["xdotool", "search", "--class", PROGRAM, "getwindowpid"])["output"].split()[0]
    assert client.execute(["kill", "-9", pid])["returncode"] == 0
    deadline = time.monotonic() + 10
    while PROGRAM in _applications(client.accessibility_tree()):
        assert time.monotonic() < deadline, "the killed app stays in the tree"
        time.sleep(0.1)
    assert _reader_pid(client) == reader and PROGRAM not in _applications(client.accessibility_tree(scope="active"))

    # the reader itself killed: the next tree comes from a new one
    assert client.execute(["kill", "-9", str(reader)])["returncode"] == 0
    env.reset(options={"task": widget_task("widget-click-button/3")})
    obs, _, _, _, info = env.step("WAIT")
    assert "a11y_error" not in info and _applications(obs["a11y_tree"]) == [PROGRAM]
    assert _reader_pid(client) not in (None, reader)


def test_the_env_refuses_an_unknown_scope() -> None:
    with pytest.raises(ValueError, match="a11y_scope must be one of all, active, got 'window'"):
        DesktopEnv(a11y_tree=True, a11y_scope="window")
    env = DesktopEnv(a11y_tree=True, a11y_scope="active")
    assert env.a11y_scope == "active"
    env.close()
