"""`step-train demos`: the solution agent's episodes through the real EnvPool on real widget desktops, written as an
`imagefolder` dataset that Hugging Face `datasets` loads; near misses kept apart, tasks without a solution skipped,
an interrupted run resumed without a record written twice.

The suite file names two widget templates, a fixed task whose "solution" is the widget's near miss (it scores 0)
and a fixed task without a solution. A first run records 3 episodes (round 0); the last train episode's final line
is then torn, as a crash mid-append leaves it; the second run asks for 5 and must add that episode and round 1.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from step_envs.actions import ActionSet
from step_envs.episodes import Episode, StepRecord
from step_envs.pool import episode_key
from step_envs.tasks import load_task
from step_envs.tasks.suites import load_suite
from step_envs.tasks.templates.widgets import near_miss, widget_task, widget_tasks
from step_train.cli import main as cli_main
from step_train.demos import (
    DEFAULT_SEEDS,
    DemoDataset,
    DemoFormat,
    DemoRecorder,
    DemoSummary,
    demo_format,
    plan_episodes,
    record_demos,
    step_records,
)

FORMAT = demo_format(max_pixels=320 * 180)
MAX_STEPS = 5
TEMPLATES = ("widget-click-button", "widget-choose-radio")
COLUMNS = {"image", "episode_id", "task_id", "template", "seed", "step", "num_steps", "instruction", "history", "action",
           "action_text", "reward", "score", "near_miss", "reason", "dialect", "action_space", "screen_width",
           "screen_height"}


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---- the plan, the format and the records (no desktop) ------------------------------------------------------------


def test_episodes_go_round_robin_over_templates_with_increasing_seeds_and_fixed_tasks_once() -> None:
    fixed = dataclasses.replace(widget_task("widget-counter/9"), id="fixed-counter", template="", seed=None)
    suite = [widget_task("widget-click-button/3"), widget_task("widget-click-button/4"), fixed,
             widget_task("widget-choose-radio/0")]
    plan = plan_episodes(suite, 6, (10, 1000))
    assert [task.id for task in plan.instances] == [
        "widget-click-button/10", "fixed-counter", "widget-choose-radio/10",
        "widget-click-button/11", "widget-choose-radio/11", "widget-click-button/12"]
    short = plan_episodes(suite, 10, (10, 12))
    assert len(short.instances) == 5 and short.skipped == []


def test_default_seeds_are_the_training_seeds_never_the_held_out_ones() -> None:
    from step_train.config import EvalSettings

    assert DEFAULT_SEEDS == EvalSettings().train_seeds


def test_bad_plans_are_errors_that_say_what_is_valid() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        plan_episodes(widget_tasks(1), 0, (0, 10))
    with pytest.raises(ValueError, match="START STOP"):
        plan_episodes(widget_tasks(1), 4, (5, 5))
    with pytest.raises(ValueError, match="unknown dialect 'tars'; known: pyautogui"):
        demo_format("tars")


def test_image_frame_dialects_leave_the_rendering_to_the_trainer_and_others_render_each_action() -> None:
    task = widget_task("widget-click-button/0")
    episode = Episode(task.id, task.instruction, task.seed, [StepRecord(action) for action in task.solution], 1.0)
    grid = step_records(task, episode, dataclasses.replace(FORMAT, dialect="qwen2vl"), [None, None])
    assert grid[0]["action_text"] == ActionSet("qwen2vl").render(task.solution[0], (1280, 720))
    assert grid[0]["action_text"] != task.solution[0] and grid[1]["history"] == [task.solution[0]]
    image_frame = step_records(task, episode, dataclasses.replace(FORMAT, dialect="qwen25vl"), [None, None])
    assert [r["action_text"] for r in image_frame] == [None, None]
    assert [r["action"] for r in image_frame] == task.solution


def test_episodes_the_env_broke_are_counted_never_written_and_retried_attempts_leave_nothing(tmp_path: Path) -> None:
    solved, broken = widget_task("widget-click-button/0"), widget_task("widget-choose-radio/0")
    summary = DemoSummary(tmp_path, 2, 2, 0, [])
    dataset = DemoDataset(tmp_path, FORMAT)
    recorder = DemoRecorder(dataset, [solved, broken], summary)
    screen = {"screenshot": np.zeros((720, 1280, 3), np.uint8)}
    recorder.keep(episode_key(solved, 0, 0, 1), 0, screen, StepRecord("WAIT"))  # the env died after this step
    retried = episode_key(solved, 0, 0, 2)
    for index, action in enumerate(solved.solution):
        recorder.keep(retried, index, screen, StepRecord(action))
    recorder.finish(Episode(solved.id, solved.instruction, 0, [StepRecord(a) for a in solved.solution], 1.0,
                            info={"key": retried, "attempts": 2}))
    given_up = episode_key(broken, 0, 1, 3)
    recorder.keep(given_up, 0, screen, StepRecord(broken.solution[0]))
    recorder.finish(Episode(broken.id, broken.instruction, 0, [StepRecord(broken.solution[0])], None,
                            env_error="env 1 stopped answering", info={"key": given_up, "attempts": 3}))
    assert recorder.frames == {}
    assert summary.env_errors == ["widget-choose-radio/0: env 1 stopped answering"] and summary.retries == 3
    assert list(dataset.episodes) == ["widget-click-button-0"]
    assert len(read_records(tmp_path / "train" / "metadata.jsonl")) == len(solved.solution)
    assert not (tmp_path / "train" / "widget-choose-radio-0").exists()


def test_a_dataset_recorded_in_another_format_is_an_error_naming_the_difference(tmp_path: Path) -> None:
    DemoDataset(tmp_path, FORMAT)
    with pytest.raises(ValueError, match=r"dialect 'pyautogui' \(asked: 'uitars'\).*same options"):
        DemoDataset(tmp_path, dataclasses.replace(FORMAT, dialect="uitars"))


def test_a_corrupt_line_inside_the_metadata_is_an_error_naming_it(tmp_path: Path) -> None:
    DemoDataset(tmp_path, FORMAT)
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "metadata.jsonl").write_text('{"broken\n{"also": 1}\n')
    with pytest.raises(ValueError, match=r"metadata.jsonl:1 is not JSON"):
        DemoDataset(tmp_path, FORMAT)
    (tmp_path / "train" / "metadata.jsonl").write_text('{"also": 1}\n')
    with pytest.raises(ValueError, match=r"metadata.jsonl:1 is not a demonstration record"):
        DemoDataset(tmp_path, FORMAT)


def test_demos_help_names_its_options(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["demos", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--suite", "--out", "--episodes", "--envs", "--dialect", "--max-pixels", "--a11y", "--seeds",
                   "imagefolder"):
        assert option in text


# ---- real desktops -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo-suite")
    missed = widget_task("widget-click-button/7")
    for name, solution in (("click-near-miss", near_miss(missed)), ("no-solution", [])):
        (folder / f"{name}.json").write_text(json.dumps(
            {"id": name, "instruction": missed.instruction, "config": missed.config, "evaluator": missed.evaluator,
             "solution": solution}))
    suite = folder / "suite.txt"
    suite.write_text("widget-click-button/0\nwidget-choose-radio/3\nclick-near-miss.json\nno-solution.json\n")
    return suite


@pytest.fixture(scope="module")
def pool():
    from step_envs.pool import EnvPool

    with EnvPool(2, "local", env_kwargs=FORMAT.env_kwargs(MAX_STEPS)) as envs:
        yield envs


@pytest.fixture(scope="module")
def runs(tmp_path_factory, suite_file: Path, pool) -> dict:
    """A 3-episode run, a crash mid-append simulated on it, then a 5-episode run into the same directory."""
    out = tmp_path_factory.mktemp("demos") / "widgets"
    tasks = load_suite(suite_file)
    first = record_demos(tasks, out, FORMAT, episodes=3, seeds=DEFAULT_SEEDS, max_steps=MAX_STEPS, pool=pool)
    snapshot = out.parent / "after-first"
    shutil.copytree(out, snapshot)
    metadata = out / "train" / "metadata.jsonl"
    lines = metadata.read_text().splitlines()
    torn = json.loads(lines[-1])["episode_id"]
    metadata.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    second = record_demos(tasks, out, FORMAT, episodes=5, seeds=DEFAULT_SEEDS, max_steps=MAX_STEPS, pool=pool)
    return {"out": out, "first": first, "snapshot": snapshot, "torn": torn, "second": second}


@pytest.mark.desktop
def test_each_step_is_a_record_with_the_screenshot_the_policy_sees(runs: dict) -> None:
    out = runs["out"]
    records = read_records(out / "train" / "metadata.jsonl")
    assert sorted({r["task_id"] for r in records}) == sorted(f"{t}/{s}" for t in TEMPLATES for s in (0, 1))
    for record in records:
        task = load_task(record["task_id"])
        assert record["action"] == task.solution[record["step"]] == record["action_text"]
        assert record["history"] == task.solution[: record["step"]]
        assert record["instruction"] == task.instruction and record["num_steps"] == len(task.solution)
        assert (record["score"], record["near_miss"], record["screen_width"], record["dialect"]) == (
            1.0, False, 1280, "pyautogui")
        with Image.open(out / "train" / record["file_name"]) as image:
            assert image.size == (320, 180)


@pytest.mark.desktop
def test_near_misses_are_kept_apart_and_labelled(runs: dict) -> None:
    records = read_records(runs["out"] / "near_miss" / "metadata.jsonl")
    assert {r["task_id"] for r in records} == {"click-near-miss"}
    assert all(r["near_miss"] and r["score"] == 0.0 and r["template"] == "" for r in records)
    assert runs["first"].units["click-near-miss"].near_misses == 1


@pytest.mark.desktop
def test_tasks_without_a_solution_are_skipped_and_reported(runs: dict) -> None:
    summary = runs["first"]
    assert summary.skipped == ["no-solution"]
    assert "skipped 1 task(s) without a solution: no-solution" in summary.lines()
    assert "no-solution" not in summary.units


@pytest.mark.desktop
def test_an_interrupted_run_resumes_without_recording_anything_twice(runs: dict) -> None:
    first, second, out = runs["first"], runs["second"], runs["out"]
    assert (first.planned, first.already, first.env_errors) == (3, 0, [])
    assert (second.planned, second.already, second.env_errors) == (5, 2, [])
    assert sum(c.episodes for c in second.units.values()) == 3
    records = read_records(out / "train" / "metadata.jsonl")
    keys = [(r["episode_id"], r["step"]) for r in records]
    assert len(keys) == len(set(keys)) == sum(len(load_task(r["task_id"]).solution) for r in records if r["step"] == 0)
    assert runs["torn"] in {r["episode_id"] for r in records}
    before = read_records(runs["snapshot"] / "train" / "metadata.jsonl")
    assert [r for r in records if r["episode_id"] != runs["torn"]][: len(before) - 2] == [
        r for r in before if r["episode_id"] != runs["torn"]]
    images = sorted(str(p.relative_to(out / "train")) for p in (out / "train").rglob("*.png"))
    assert images == sorted(r["file_name"] for r in records)
    assert second.totals == {"train": (4, 8), "near_miss": (1, 2)}


@pytest.mark.desktop
def test_datasets_loads_the_demonstrations_and_the_near_misses(runs: dict, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    out = runs["out"]
    demos = datasets.load_dataset("imagefolder", data_dir=str(out), split="train", cache_dir=str(tmp_path))
    assert set(demos.column_names) == COLUMNS and len(demos) == 8
    assert demos[0]["image"].size == (320, 180)
    near = datasets.load_dataset("imagefolder", data_dir=str(out / "near_miss"), split="train",
                                 cache_dir=str(tmp_path))
    assert len(near) == 2 and all(near["near_miss"])


@pytest.mark.desktop
def test_the_cli_on_a_complete_dataset_records_nothing_more(runs: dict, suite_file: Path, capsys) -> None:
    out = runs["out"]
    before = (out / "train" / "metadata.jsonl").read_text()
    assert cli_main(["demos", "--suite", str(suite_file), "--out", str(out), "--episodes", "5",
                     "--max-pixels", str(320 * 180)]) == 0
    text = capsys.readouterr().out
    assert "planned 5 of 5 episodes (5 already" in text and "skipped 1 task(s)" in text
    assert (out / "train" / "metadata.jsonl").read_text() == before


def test_format_of_a_dataset_is_stored_with_it(tmp_path: Path) -> None:
    DemoDataset(tmp_path, FORMAT)
    stored = json.loads((tmp_path / "demos.json").read_text())
    assert DemoFormat(**{**stored, "screen_size": tuple(stored["screen_size"])}) == FORMAT
