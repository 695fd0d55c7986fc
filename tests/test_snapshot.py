"""Snapshot resets and forks (``reset_mode="snapshot"``): a whole session dumped and restored with CRIU.

Real parts: Xvfb, the window manager, Mousepad, the controller server, CRIU 4.2 (``make install`` puts it in
/var/lib/step-gym/criu when the system's is older). As root (CI) a missing CRIU fails these tests, naming the fix;
as another user, snapshots cannot run at all (they need root) and only the fallback is tested.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from snapshot_support import require_snapshots
from test_osworld_audit import EXAMPLES, VSCODE_SOLUTION, VSCODE_TASK

from step_envs.desktop import vscode
from step_envs.desktop.env import DesktopEnv
from step_envs.providers import criu
from step_envs.providers.base import ProviderError
from step_envs.providers.local import LocalProvider, _warn_no_snapshots
from step_envs.providers.procs import session_pids
from step_envs.server.client import ControllerClient

pytestmark = pytest.mark.desktop
TYPE = "import subprocess; subprocess.run(['xdotool', 'search', '--sync', '--onlyvisible', '--class', 'mousepad'], " \
       "timeout=30); pyautogui.write({text!r})"


def _digest(client: ControllerClient) -> str:
    return hashlib.sha256(client.screenshot().tobytes()).hexdigest()


def _where_differs(a: np.ndarray, b: np.ndarray) -> str:
    rows, cols = np.nonzero((a != b).any(-1))
    if not len(rows):
        return "nowhere now"
    return f"{len(rows)} pixels, rows {rows.min()}-{rows.max()}, columns {cols.min()}-{cols.max()}"


def _ns_pids(provider: LocalProvider) -> set[int]:
    from step_envs.providers import pidns

    return {pidns.ns_pid(pid) for pid in provider._pids()} - {None}  # type: ignore[arg-type]


def _still(client: ControllerClient, timeout: float = 20.0) -> str:
    """The screen once two grabs 0.5 s apart agree."""
    previous, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = _digest(client)
        if current == previous:
            return current
        previous = current
        time.sleep(0.5)
    raise AssertionError("the screen did not settle")


@pytest.fixture
def session() -> Iterator[LocalProvider]:
    require_snapshots()
    provider = LocalProvider(reset_mode="snapshot", a11y=True)
    try:
        provider.start()
        yield provider
    finally:
        session_id = provider.session_id
        provider.stop()
        assert not session_pids(session_id), "processes of the session outlived stop()"


def _editor_with_text(provider: LocalProvider, text: str) -> ControllerClient:
    assert provider.endpoint is not None
    client = ControllerClient(provider.endpoint)
    client.execute("echo kept > ~/Documents/kept.txt; echo tmp > /tmp/kept-tmp", shell=True)
    client.launch(["mousepad"])
    client.act(TYPE.format(text=text), timeout=40)
    return client


def test_restore_brings_back_screen_files_and_processes(session: LocalProvider) -> None:
    client = _editor_with_text(session, "as dumped")
    client.close()
    session.snapshot("edited")
    client = ControllerClient(session.endpoint)  # type: ignore[arg-type]
    dumped, processes = _still(client), _ns_pids(session)
    dumped_frame = client.screenshot()
    assert "Mousepad" in client.accessibility_tree(), "the a11y tree is readable after a dump"

    for round_ in range(2):  # every restore starts from the same state, not from the last one
        client.act("pyautogui.write(' and changed')")
        client.execute("echo changed > ~/Documents/kept.txt; echo new > ~/Documents/new.txt; "
                       "echo new > /tmp/new-tmp; rm /tmp/kept-tmp", shell=True)
        client.launch(["xfce4-terminal"])
        time.sleep(1)
        client.close()
        took = session.restore_snapshot("edited")
        client = ControllerClient(session.endpoint)  # type: ignore[arg-type]
        assert _still(client) == dumped, \
            f"restore {round_}: the screen differs from the dump's: {_where_differs(client.screenshot(), dumped_frame)}"
        listing = client.execute("cat ~/Documents/kept.txt /tmp/kept-tmp; ls ~/Documents /tmp", shell=True)["output"]
        assert listing.split()[:2] == ["kept", "tmp"], listing
        assert "new.txt" not in listing and "new-tmp" not in listing, listing
        assert _ns_pids(session) == processes, "a process started after the dump survived the restore"
        assert "Mousepad" in client.accessibility_tree(), "the a11y tree is readable after a restore"
        assert took < 30
    client.close()


def test_restart_restore_inside_a_snapshot_session(session: LocalProvider) -> None:
    """A task without a snapshot still resets the restart way in a snapshot-mode session."""
    client = _editor_with_text(session, "gone after restore")
    client.close()
    session.restore()
    client = ControllerClient(session.endpoint)  # type: ignore[arg-type]
    assert "Mousepad" not in client.accessibility_tree()
    assert client.execute("ls ~/Documents", shell=True)["output"].split() == []
    client.close()


def test_fork_starts_equal_and_diverges(session: LocalProvider) -> None:
    client = _editor_with_text(session, "before the fork")
    before = _still(client)
    client.close()
    fork = session.fork()
    try:
        parent, child = ControllerClient(session.endpoint), ControllerClient(fork.endpoint)  # type: ignore[arg-type]
        # equal to each other; not always to `before`: a restore fires the timers that came due while the tree
        # was down (the panel's clock redraws)
        before = _still(parent)
        assert _still(child) == before, "the fork's first screen is not its parent's"
        child.act("pyautogui.write(' -- fork only')")
        child.execute("echo fork > ~/Documents/fork.txt", shell=True)
        assert _still(child) != before and _still(parent) == before
        assert "fork.txt" not in parent.execute("ls ~/Documents", shell=True)["output"]
        assert not (session._pids() & fork._pids()), "a process counted in both sessions"
        parent.close()
        session.restore()  # the parent's restart restore leaves the fork alone
        assert fork.alive() and _still(child) != before
        child.close()
    finally:
        fork.stop()
    assert session.alive()


def test_stopping_the_parent_stops_its_forks(session: LocalProvider) -> None:
    fork = session.fork()
    tree = fork._pids()
    session.stop()
    assert not fork.alive()
    assert not any(Path(f"/proc/{pid}").exists() for pid in tree)


def test_env_restores_the_setup_snapshot() -> None:
    """The env snapshots a task's settled setup on its first reset and restores it on the next ones: the same
    first screen, the episode's changes gone."""
    require_snapshots()
    env = DesktopEnv(task="editor-append-line", reset_mode="snapshot", snapshot_min_s=0.0)
    try:
        first, info = env.reset(seed=0)
        assert info["snapshot"] == "taken", info
        env.step("pyautogui.write('zzz'); pyautogui.press('enter')")
        again, info = env.reset(seed=0)
        assert info["snapshot"] == "restored" and info["timings"]["setup"] == 0.0
        differ = np.argwhere((first["screenshot"] != again["screenshot"]).any(-1))
        assert not len(differ), f"{len(differ)} pixels differ, within {differ.min(0)}..{differ.max(0)}"
        _, reward, _, _, info = env.step("DONE")
        assert reward == 0.0 and not info.get("env_error"), info  # the untouched file fails the checker
    finally:
        env.close()


def test_env_fork_branches_an_episode() -> None:
    """``DesktopEnv.fork()`` mid-episode: the fork's first screen is its parent's, its step count too; then the
    two run apart, and closing the parent ends the fork."""
    require_snapshots()
    env = DesktopEnv(task="editor-append-line", reset_mode="snapshot")
    try:
        env.reset(seed=0)
        obs, *_ = env.step("pyautogui.write('shared prefix')")
        twin = env.fork()
        same, _, _, _, info = twin.step("WAIT")
        obs, *_ = env.step("WAIT")
        assert (same["screenshot"] == obs["screenshot"]).all(), "the fork's first screen is not its parent's"
        assert info["step"] == 2
        theirs, *_ = twin.step("pyautogui.write(' fork')")
        ours, *_ = env.step("WAIT")
        assert (ours["screenshot"] == obs["screenshot"]).all()
        assert not (theirs["screenshot"] == ours["screenshot"]).all()
    finally:
        env.close()
    assert not twin.provider.alive()  # type: ignore[union-attr]
    twin.close()


def test_a_vscode_session_is_restored_and_its_workbench_reconnects() -> None:
    """VS Code (code-server in Chromium's app window): a restore closes the workbench's connection to its server
    (``--tcp-close``); the workbench reconnects by itself, so the restored screen is the first one and a solution
    typed through the command palette after the restore still scores 1.0."""
    require_snapshots()
    if vscode.installed() is None:  # as test_osworld_audit: where make install can put it, it must be there
        assert vscode.missing() is not None, "code-server can be installed here but is not: make install"
        return
    env = DesktopEnv(task=str(EXAMPLES / "vs_code" / f"{VSCODE_TASK}.json"), reset_mode="snapshot",
                     snapshot_min_s=0.0, max_steps=30)
    try:
        first, info = env.reset(seed=0)
        assert info["snapshot"] == "taken" and not info.get("env_error"), info
        again, info = env.reset(seed=0)
        assert info["snapshot"] == "restored", info
        assert not (first["screenshot"] != again["screenshot"]).any(-1).sum(), _where_differs(
            first["screenshot"], again["screenshot"])
        for action in VSCODE_SOLUTION:
            env.step(action)
        _, reward, _, _, info = env.step("DONE")
        assert reward == 1.0, info
    finally:
        env.close()


def test_pool_fork() -> None:
    """`EnvPool.fork(source, target)`: the target env continues the source's episode from its state."""
    require_snapshots()
    from step_envs.pool import EnvPool

    with EnvPool(2, provider_kwargs={"reset_mode": "snapshot"}) as pool:
        pool.reset("editor-append-line", seeds=0)
        obs, *_ = pool.step(["pyautogui.write('branch here')", "pyautogui.write('other env')"])
        pool.fork(0, 1)
        obs, rewards, terminated, truncated, infos = pool.step(["WAIT", "WAIT"])
        assert (obs[0]["screenshot"] == obs[1]["screenshot"]).all(), infos
        assert [info["step"] for info in infos] == [2, 2] and not any(info.get("env_error") for info in infos)
        obs, *_ = pool.step(["WAIT", "pyautogui.write(' apart')"])
        assert not (obs[0]["screenshot"] == obs[1]["screenshot"]).all()
        with pytest.raises(ValueError):
            pool.fork(0, 0)


def test_falls_back_without_criu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                 caplog: pytest.LogCaptureFixture) -> None:
    """No CRIU 4.2 (here: only an old system criu on PATH, no private root): one warning, restart resets."""
    old = tmp_path / "criu"
    old.write_text("#!/bin/sh\necho 'Version: 3.17.1'\n")
    old.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.delenv("STEP_ENVS_CRIU", raising=False)
    monkeypatch.setenv("STEP_ENVS_CRIU_ROOT", str(tmp_path / "no-root"))  # no private root either
    for cached in (criu.command, criu.unavailable, _warn_no_snapshots):  # looked up (and warned) afresh
        cached.cache_clear()
    try:
        with caplog.at_level(logging.WARNING):
            provider = LocalProvider(reset_mode="snapshot")
        assert provider.reset_mode == "restart"
        why = provider.snapshot_unavailable or ""
        assert ("older than 4.2" in why or "needs root" in why), why
        assert any("reset_mode='snapshot' is not available" in r.getMessage() for r in caplog.records)
        with pytest.raises(ProviderError, match="does not take snapshots"):
            provider.snapshot("k")
        env = DesktopEnv(task="editor-append-line", provider=provider)
        try:
            _, info = env.reset(seed=0)
            assert "snapshot" not in info and not info.get("env_error"), info
            _, info = env.reset(seed=0)
            assert "snapshot" not in info
        finally:
            env.close()
    finally:
        for cached in (criu.command, criu.unavailable, _warn_no_snapshots):
            cached.cache_clear()


def test_reset_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="reset_mode"):
        LocalProvider(reset_mode="hibernate")
