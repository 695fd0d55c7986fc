"""Task templates without a desktop: seeded determinism, coverage of apps and difficulties, ids that load."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from step_envs.tasks import DIFFICULTIES, TaskError, builtin_tasks, load_task
from step_envs.tasks.templates import TEMPLATES, difficulty_of, get_template, instance
from step_envs.tasks.templates.base import cache_root


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEP_ENVS_CACHE_DIR", str(tmp_path / "cache"))


def _instances() -> list:
    return [task for template in TEMPLATES.values() for task in template.instances()]


def _fingerprint(task) -> str:  # noqa: ANN001 - a Task
    files = sorted((p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in
                   (task.base_dir.iterdir() if task.base_dir else []) if not p.name.startswith("."))
    return json.dumps([task.raw, files], sort_keys=True)


def test_templates_give_over_a_hundred_instances_over_thirty_templates_and_six_apps() -> None:
    tasks = _instances()
    assert len(TEMPLATES) >= 30
    assert len(tasks) >= 100
    apps = Counter(task.domain for task in tasks)
    assert {"os", "text_editor", "file_manager", "calc", "writer", "chromium", "image_viewer"} <= set(apps)
    assert Counter(task.difficulty for task in tasks).keys() == set(DIFFICULTIES)


def test_about_five_to_ten_percent_of_instances_are_infeasible() -> None:
    tasks = _instances() + list(builtin_tasks().values())
    share = sum(task.infeasible for task in tasks) / len(tasks)
    assert 0.05 <= share <= 0.10, share
    for task in tasks:
        assert (task.solution == ["FAIL"]) == task.infeasible, task.id


def test_every_instance_has_its_id_params_solution_and_a_difficulty_from_its_steps() -> None:
    for task in _instances():
        assert task.id == f"{task.template}/{task.seed}"
        assert task.params and task.solution[-1] in ("DONE", "FAIL")
        assert task.difficulty == difficulty_of(task.solution)
        near = get_template(task.template).draft(task.seed).near_miss
        assert near and near != task.solution, task.id


def test_same_seed_same_instance_with_the_same_files_and_a_seed_changes_it() -> None:
    first = {task.id: _fingerprint(task) for task in _instances()}
    again = {task.id: _fingerprint(task) for task in _instances()}
    assert first == again
    for template in TEMPLATES.values():
        drafts = {json.dumps(template.draft(seed).params, sort_keys=True) for seed in range(template.seeds)}
        assert len(drafts) > 1, f"{template.id}: every seed draws the same parameters"


def test_instances_are_the_same_in_another_process_whatever_its_hash_seed(tmp_path: Path) -> None:
    code = ("import json; from step_envs.tasks.templates import TEMPLATES\n"
            "print(json.dumps({t.id: t.raw for tpl in TEMPLATES.values() for t in tpl.instances()}, sort_keys=True))")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
                              env={"PYTHONHASHSEED": seed, "STEP_ENVS_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin"}
                              ).stdout for seed in ("1", "2")}
    assert len(outputs) == 1


def test_generated_files_land_in_the_cache_folder_keyed_by_instance_id() -> None:
    task = instance("calc-column-stat/2")
    assert task.base_dir == cache_root() / "calc-column-stat" / "2"
    upload = task.config[0]["parameters"]["files"][0]
    assert (task.base_dir / upload["local_path"]).is_file()
    assert instance("terminal-chmod/1").base_dir is None  # text-only setups need no files


def test_load_task_takes_template_instance_ids_and_names_the_known_templates() -> None:
    assert load_task("terminal-grep-count/3").params == instance("terminal-grep-count/3").params
    with pytest.raises(TaskError, match="unknown template 'no-such-template'.*terminal-chmod"):
        load_task("no-such-template/0")
    with pytest.raises(TaskError, match="not a template instance id"):
        instance("terminal-chmod/x")
    with pytest.raises(TaskError, match="non-negative"):
        get_template("terminal-chmod").instance(-1)


def test_template_ids_do_not_collide_with_fixed_task_ids() -> None:
    assert not set(TEMPLATES) & set(builtin_tasks())


def test_solutions_wait_on_state_not_on_time() -> None:
    """Every action of every desktop solution and near miss (templates and fixed tasks) is Python that compiles, and
    sleeps only inside a polling loop: a fixed pause passes on an idle machine and fails on a busy one
    (`benchmarks/bench_under_load.py`)."""
    checked = 0
    for task in [*_instances(), *builtin_tasks().values()]:
        actions = list(task.solution)
        if task.template:
            actions += get_template(task.template).draft(task.seed).near_miss
        for action in actions:
            if action in ("DONE", "FAIL", "WAIT"):
                continue
            compile(action, f"<{task.id}>", "exec")
            for line in action.splitlines():
                assert "time.sleep(" not in line or line.startswith(" "), f"{task.id}: a fixed pause: {action!r}"
            checked += 1
    assert checked > 300


def test_action_code_joins_keep_each_import_once() -> None:
    from step_envs.tasks.templates.steps import idle_wait, join, settled

    code = settled("pyautogui.press('down')")
    assert code.count("import wait_active_idle") == 1 and code.count("wait_active_idle(timeout=4.5)") == 2
    assert join("import os", "x = 1", "import os") == "import os\nx = 1"
    assert idle_wait(2).endswith("wait_active_idle(timeout=2)")
