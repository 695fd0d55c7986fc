"""VS Code as code-server: the install's checks (step_envs/desktop/vscode.py) and the session's `code` launcher
without code-server (a fast exit naming make install). The launcher's real window is tested by
tests/test_osworld_audit.py, which resets a vs_code task and solves it where code-server is installed."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from step_envs.desktop import vscode
from step_envs.providers.local import STAND_INS

LAUNCHER = STAND_INS / "code"


def _run_launcher(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), "XDG_RUNTIME_DIR": str(tmp_path / "run"),
           "STEP_ENVS_CODE_SERVER": str(tmp_path / "none")}
    start = time.monotonic()
    proc = subprocess.run([str(LAUNCHER), *args], env=env, capture_output=True, text=True, timeout=10)
    return proc, time.monotonic() - start


def test_the_launcher_without_code_server_exits_127_at_once_naming_make_install(tmp_path: Path) -> None:
    for args in ((), ("--version",), (str(tmp_path),)):
        proc, took = _run_launcher(tmp_path, *args)
        assert proc.returncode == 127 and proc.stdout == "" and took < 2.0, (args, proc)
        assert "VS Code is not installed" in proc.stderr and "make install" in proc.stderr
        assert str(tmp_path / "none") in proc.stderr
    assert not (tmp_path / "home").exists()  # it wrote nothing


def test_the_install_is_found_by_its_stamp_and_entry_script(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STEP_ENVS_CODE_SERVER", str(tmp_path))
    assert vscode.prefix() == tmp_path and vscode.installed() is None
    vscode.entry().parent.mkdir(parents=True)
    vscode.entry().write_text("")
    assert vscode.installed() is None  # npm's install did not finish: no stamp
    (tmp_path / vscode.STAMP).write_text(vscode.VERSION + "\n")
    assert vscode.installed() == vscode.VERSION
    assert vscode.install() == 0  # the installed version: nothing to do, no npm run
    assert vscode.main(["check"]) == 0


def test_the_install_skips_with_a_note_where_it_cannot_run(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("STEP_ENVS_CODE_SERVER", str(tmp_path / "code-server"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no node, no npm
    assert vscode.install() == 0
    out = capsys.readouterr().out
    assert "not installed" in out and "Node.js 20" in out and "skipped" in out
    assert not (tmp_path / "code-server").exists()
    assert vscode.main(["check"]) == 1 and "cannot install here" in capsys.readouterr().out
