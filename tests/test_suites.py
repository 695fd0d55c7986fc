"""Named suites, suite files and `step-envs tasks list --suite`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from step_envs.tasks import TaskError, builtin_tasks, load_suite
from step_envs.tasks.suites import SUITES, WIDGET_SEEDS
from step_envs.tasks.templates import TEMPLATES


def _ids(name: str) -> list[str]:
    return [task.id for task in load_suite(name)]


def test_desktop_core_is_the_fixed_tasks_and_every_templates_seeds() -> None:
    ids = _ids("desktop-core")
    assert len(ids) == len(set(ids))
    assert set(builtin_tasks()) <= set(ids)
    assert len(ids) == len(builtin_tasks()) + sum(template.seeds for template in TEMPLATES.values())


def test_smoke_keeps_office_tasks_few_and_is_part_of_desktop_core() -> None:
    smoke = load_suite("smoke")
    assert 8 <= len(smoke) <= 15
    assert sum(task.domain in ("calc", "writer") for task in smoke) <= 1
    assert {task.id for task in smoke} <= set(_ids("desktop-core"))


def test_widgets_and_all_suites() -> None:
    widgets = load_suite("widgets")
    assert widgets and all(task.id == f"{task.template}/{task.seed}" for task in widgets)
    assert max(task.seed for task in widgets) == WIDGET_SEEDS - 1
    assert _ids("all") == _ids("desktop-core") + [task.id for task in widgets]


def test_suite_files_list_ids_and_task_paths(tmp_path: Path) -> None:
    (tmp_path / "tasks").mkdir()
    task_file = tmp_path / "tasks" / "mine.json"
    task_file.write_text(json.dumps({"id": "mine", "instruction": "Say FAIL.", "evaluator": {"func": "infeasible"}}))
    specs = ["os-create-folder", "terminal-chmod/2", "tasks/mine.json"]
    (tmp_path / "suite.json").write_text(json.dumps({"tasks": specs}))
    (tmp_path / "suite.txt").write_text("# a comment\nos-create-folder\n\nterminal-chmod/2  # inline\ntasks/mine.json\n")
    for name in ("suite.json", "suite.txt"):
        assert [task.id for task in load_suite(tmp_path / name)] == ["os-create-folder", "terminal-chmod/2", "mine"]
    assert [task.id for task in load_suite(task_file)] == ["mine"]
    assert [task.id for task in load_suite(tmp_path / "tasks")] == ["mine"]


def test_unknown_suite_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="unknown suite 'nope'; use one of smoke, desktop-core, widgets, all"):
        load_suite("nope")
    (tmp_path / "bad.json").write_text(json.dumps({"tasks": "terminal-chmod/0"}))
    with pytest.raises(TaskError, match="must hold a list"):
        load_suite(tmp_path / "bad.json")


def test_tasks_list_suite_json_prints_one_object_per_instance() -> None:
    result = subprocess.run([sys.executable, "-m", "step_envs.cli", "tasks", "list", "--suite", "smoke", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["id"] for row in rows] == _ids("smoke")
    for row in rows:
        assert {"id", "template", "app", "difficulty", "feasible"} <= set(row)
        assert row["id"] == f"{row['template']}/{row['id'].rsplit('/', 1)[1]}"


def test_tasks_list_suite_prints_a_table_and_a_clear_error() -> None:
    table = subprocess.run([sys.executable, "-m", "step_envs.cli", "tasks", "list", "--suite", "smoke"],
                           capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and "tasks in suite smoke" in table.stdout
    bad = subprocess.run([sys.executable, "-m", "step_envs.cli", "tasks", "list", "--suite", "nope"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown suite 'nope'" in bad.stderr
    assert set(SUITES) == {"smoke", "desktop-core", "widgets", "all"}
