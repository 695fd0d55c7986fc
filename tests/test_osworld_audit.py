"""`step-envs tasks audit-osworld`: OSWorld-format task files run on real desktops (reset, a do-nothing DONE, a
solution), the rows resumable, the per-domain table and the page written; and the project's solutions well formed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from step_envs.actions.env_actions import parse_pyautogui
from step_envs.cli.main import main
from step_envs.desktop import vscode
from step_envs.osworld import OSWORLD_SCREEN
from step_envs.osworld.audit import read_rows, summarize
from step_envs.osworld.solutions import SOLUTIONS_DIR, load_solutions, read_solution

EXAMPLES = Path(__file__).parent / "data" / "osworld" / "examples"
FOLDER_TASK = "3b27600c-3668-4abd-8f84-7bcdebbccbdb"
"""An OSWorld-format os task: make ~/reports_2024/summary.txt."""
VSCODE_TASK = "0ed39f63-6049-43d4-ba4d-5fa2fe04a951"
"""An OSWorld-format vs_code task: set the default tab size to 4 (VS Code's user settings.json)."""
VSCODE_SOLUTION = [  # as the project's vs_code solutions do it: the settings JSON from the command palette
    "pyautogui.hotkey('ctrl', 'shift', 'p')",
    "import time; time.sleep(1)",
    "pyautogui.typewrite('Preferences: Open User Settings (JSON)', interval=0.02)",
    "import time; time.sleep(1); pyautogui.press('enter')",  # once the list has settled on the typed command
    *["import subprocess, time\ntry:\n    subprocess.run(['xdotool', 'search', '--sync', '--onlyvisible', '--name', "
      "'^settings\\\\.json '], timeout=8, capture_output=True)\nexcept subprocess.TimeoutExpired:\n    pass\n"
      "time.sleep(0.5)"] * 2,  # until its window's title names the file (twice: an action has 10 s)
    "pyautogui.hotkey('ctrl', 'a'); pyautogui.press('backspace')",
    "pyautogui.typewrite('{\"editor.tabSize\": 4}', interval=0.05)",
    "pyautogui.hotkey('ctrl', 's')",
    "import os, time\npath = os.path.expanduser('~/.config/Code/User/settings.json')\nfor _ in range(80):\n"
    "    if os.path.exists(path) and 'tabSize' in open(path).read():\n        break\n    time.sleep(0.1)"]
TERMINAL = ["pyautogui.hotkey('ctrl', 'alt', 't')",
            "import subprocess; subprocess.run(['xdotool', 'search', '--sync', '--onlyvisible', '--class', "
            "'xfce4-terminal'], timeout=20, capture_output=True)"]


def test_every_project_solution_is_well_formed_and_its_actions_parse() -> None:
    solutions = load_solutions()
    assert len(solutions) >= 1
    for key, solution in solutions.items():
        assert key == f"{solution.domain}/{solution.id}" and solution.path.parent.name == solution.domain
        assert solution.path.is_relative_to(SOLUTIONS_DIR) and solution.how, key
        for action in solution.actions:
            parsed = parse_pyautogui(action, *OSWORLD_SCREEN)
            assert parsed.kind in ("code", "WAIT"), (key, action, parsed.error)


def test_a_solution_file_that_is_not_one_is_refused_with_its_name(tmp_path: Path) -> None:
    bad = tmp_path / "os" / "abc.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"id": "other", "actions": "ls"}))
    with pytest.raises(ValueError, match=f"{bad}: 'actions' must be a list of strings"):
        read_solution(bad)
    bad.write_text(json.dumps({"id": "other", "actions": []}))
    with pytest.raises(ValueError, match="'id' 'other' is not the file's name"):
        read_solution(bad)


@pytest.mark.desktop
def test_the_audit_runs_task_files_and_reports_resets_no_ops_and_solutions(tmp_path: Path, capsys) -> None:
    solutions = tmp_path / "solutions" / "os"
    solutions.mkdir(parents=True)
    (solutions / f"{FOLDER_TASK}.json").write_text(json.dumps({
        "id": FOLDER_TASK, "domain": "os", "how": "make the folder and the file in a terminal",
        "actions": [*TERMINAL,
                    "pyautogui.typewrite('mkdir -p ~/reports_2024 && touch ~/reports_2024/summary.txt\\n', "
                    "interval=0.01)",
                    "import os, time\nfor _ in range(100):\n    if os.path.exists(os.path.expanduser("
                    "'~/reports_2024/summary.txt')):\n        break\n    time.sleep(0.1)"]}))
    (tmp_path / "solutions" / "vs_code").mkdir()
    (tmp_path / "solutions" / "vs_code" / f"{VSCODE_TASK}.json").write_text(json.dumps({
        "id": VSCODE_TASK, "domain": "vs_code", "how": "the settings JSON", "actions": VSCODE_SOLUTION}))
    has_vscode = vscode.installed() is not None  # code-server, which make install installs where it can
    assert has_vscode or vscode.missing() is not None, "code-server can be installed here but is not: make install"
    out = tmp_path / "audit"
    # the docker-only task (sudo) is left out: the local provider is what every machine has
    only = [FOLDER_TASK[:8], "7a4deb26", "0ed39f63", "94d95f96", "1d17d234", "897e3b53"]
    args = ["tasks", "audit-osworld", str(EXAMPLES), "--out", str(out), "--solutions", str(tmp_path / "solutions"),
            "--only", *only]
    assert main(args) == 0
    rows = {row["id"][:8]: row for row in read_rows(out / "audit.jsonl")}
    assert set(rows) == set(only)
    folder = rows[FOLDER_TASK[:8]]
    assert folder["status"] == "ran" and folder["reset_error"] is None and folder["reset_s"] > 0
    assert folder["noop_score"] == 0.0 and folder["solution_score"] == 1.0, folder
    assert (out / folder["screenshot"]).is_file() and (out / folder["end_screenshot"]).is_file()
    infeasible = rows["7a4deb26"]  # an infeasible task: DONE scores 0, FAIL (its built-in solution) scores 1
    assert (infeasible["infeasible"], infeasible["noop_score"], infeasible["solution"],
            infeasible["solution_score"]) == (True, 0.0, "FAIL", 1.0)
    code = rows["0ed39f63"]
    if has_vscode:  # VS Code's window, its workbench loaded; the solution's keys set the tab size
        assert code["status"] == "ran" and code["reset_error"] is None, code
        assert code["noop_score"] == 0.0 and code["solution_score"] == 1.0, code
    else:  # VS Code is not installed: an env_error naming what to install, at once
        assert code["status"] == "reset error" and code["reset_s"] < 2.0
        assert "VS Code is not installed" in code["reset_error"] and "make install" in code["reset_error"]
    assert rows["1d17d234"]["status"] == "needs network" and rows["1d17d234"]["reasons"][0].startswith("network")
    assert rows["897e3b53"]["status"] == "unsupported" and "account" in rows["897e3b53"]["reasons"][0]
    summary = json.loads((out / "summary.json").read_text())
    assert summary == summarize(list(rows.values()))
    assert summary["total"]["reset_clean"] == 3 + has_vscode and summary["total"]["solved"] == 1 + has_vscode
    assert summary["total"]["infeasible_fail"] == 1 and summary["total"]["reset_error"] == 1 - has_vscode
    assert "| **all** |" in (out / "summary.md").read_text()
    page = (out / "index.html").read_text()
    assert folder["screenshot"] in page and (has_vscode or "VS Code is not installed" in page)
    # a second run resumes: no desktop task runs again (those that could not run are looked at again, and still
    # cannot), the outputs are rewritten from the rows
    capsys.readouterr()
    assert main(args) == 0
    again = read_rows(out / "audit.jsonl")
    assert len(again) == len(only) + 2 and {r["status"] for r in again[len(only):]} == {"needs network", "unsupported"}
    assert json.loads((out / "summary.json").read_text()) == summary
    assert "auditing 6 OSWorld task files" in capsys.readouterr().out
