"""The benchmark runner: results directory, resume, summary, report (rendered by headless Chromium), compare,
and a real run on the local provider that is killed mid-way and resumed."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from rich.console import Console

from step_envs.bench import (
    ResultsDir,
    compare_table,
    differing_tasks,
    plan,
    render_report,
    summary_table,
    write_report,
    write_summary,
)
from step_envs.bench.stats import mcnemar, two_proportions, wilson
from step_envs.bench.tables import spread_table, verdict
from step_envs.tasks import Task, builtin_tasks

META = {"agent": "solution", "suite": "unit", "max_steps": 5, "action_space": "pyautogui"}


def _row(task, score=1.0, env_error=None, seed=None, domain="os", difficulty="easy", directory=""):
    return {"task": task, "seed": seed, "score": None if env_error else score, "steps": 2, "time_s": 1.5,
            "reason": "ok" if score else "wrong", "env_error": env_error, "domain": domain,
            "difficulty": difficulty, "instruction": f"do {task}", "dir": directory}


def _results(path, rows, meta=META):
    results = ResultsDir.open(path)
    results.start(meta)
    for row in rows:
        results.append(row)
    return results


def test_plan_runs_each_task_once_per_seed_without_duplicates():
    a = Task(id="a", instruction="", evaluator={})
    b = Task(id="b", instruction="", evaluator={})
    assert [r.id for r in plan([a, b, a])] == [("a", None), ("b", None)]
    assert [r.id for r in plan([a], seeds=[1, 2, 1])] == [("a", 1), ("a", 2)]


def test_final_rows_prefer_a_score_and_done_excludes_env_errors(tmp_path):
    results = _results(tmp_path, [_row("a", env_error="reset failed"), _row("b", 0.0), _row("a", 1.0),
                                  _row("c", env_error="x"), _row("a", env_error="late"), _row("c", env_error="y")])
    final = {row["task"]: row for row in results.final_rows()}
    assert [row["task"] for row in results.final_rows()] == ["a", "b", "c"]
    assert final["a"]["score"] == 1.0 and final["c"]["env_error"] == "y"
    assert results.done() == {("a", None), ("b", None)}


def test_a_partial_last_line_is_ignored_and_cut_before_the_next_append(tmp_path):
    results = _results(tmp_path, [_row("a")])
    with results.episodes_file.open("a") as handle:
        handle.write('{"task": "b", "sco')  # killed mid-write
    reopened = ResultsDir.open(tmp_path)
    assert [row["task"] for row in reopened.rows] == ["a"] and reopened.skipped_lines == 1
    reopened.start(META)
    reopened.append(_row("c"))
    lines = reopened.episodes_file.read_text().splitlines()
    assert [json.loads(line)["task"] for line in lines] == ["a", "c"]


def test_a_directory_of_another_run_is_refused(tmp_path):
    _results(tmp_path, [])
    with pytest.raises(ValueError, match="agent='solution' \\(now 'random'\\)"):
        ResultsDir.open(tmp_path).start(META | {"agent": "random"})
    assert ResultsDir.open(tmp_path).start(META | {"envs": 4}) == 2  # same identity: a second run


def test_summary_counts_success_per_domain_and_difficulty_with_env_errors_apart(tmp_path):
    results = _results(tmp_path, [_row("a", 1.0), _row("b", 0.0, domain="calc", difficulty="hard"),
                                  _row("c", 0.5, domain="calc"), _row("d", env_error="died", domain="calc")])
    summary = write_summary(results)
    interval = summary["overall"]["interval"]
    assert {k: v for k, v in summary["overall"].items() if k != "interval"} == {"episodes": 4, "scored": 3, "solved": 1, "env_errors": 1, "success_rate": 0.5,
                                  "mean_steps": 2.0, "mean_time_s": 1.5}
    assert interval == pytest.approx([0.1253, 0.8747], abs=1e-3)  # Wilson, 1.5 of 3
    assert summary["by_domain"]["calc"]["success_rate"] == 0.25
    assert summary["by_domain"]["calc"]["env_errors"] == 1
    assert summary["by_difficulty"]["hard"]["solved"] == 0
    assert json.loads((tmp_path / "summary.json").read_text())["overall"]["solved"] == 1
    console = Console(width=140, record=True)
    console.print(summary_table(summary, "unit"))
    text = console.export_text()
    assert "domain: calc" in text and "25.0% [3-80] (0/2)" in text and "50.0% [13-87] (1/3)" in text


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.fail("chromium is not installed: `make install` installs it (step_envs/data/desktop/apt-packages.txt)")


def _dump_dom(page: Path) -> str:
    result = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             "--user-data-dir=" + str(page.parent / ".chromium"), "--dump-dom", page.as_uri()],
                            capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_report_is_self_contained_and_renders_its_tables_in_chromium(tmp_path):
    steps = tmp_path / "steps" / "r1" / "a"
    steps.mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (64, 40), (10, 200, 10)).save(steps / "000.jpg")
    (steps / "steps.json").write_text(json.dumps([
        {"index": 0, "action": "pyautogui.click(1, 2)", "action_error": None, "raw": "```python\n<b>x</b>\n```",
         "screenshot": "000.jpg", "timings": {}},
        {"index": 1, "action": "WAIT", "action_error": "no action found", "raw": "hmm", "screenshot": None}]))
    results = _results(tmp_path, [_row("a", 1.0, directory="steps/r1/a"), _row("b<script>", 0.0, domain="calc"),
                                  _row("c", env_error="container died")])
    page = write_report(results)
    html = page.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html  # nothing fetched, no JS
    assert "b&lt;script&gt;" in html and "&lt;b&gt;x&lt;/b&gt;" in html
    dom = _dump_dom(page)
    assert '<table class="summary" id="by-domain">' in dom and 'id="by-difficulty"' in dom
    assert dom.count('<tr class="') == 3  # one row per episode
    assert '<a href="#ep-0">a</a>' in dom and 'src="steps/r1/a/000.jpg"' in dom
    assert "container died" in dom and "no action found" in dom
    assert render_report(results).count("<section") == 3  # a step viewer per episode


def test_compare_puts_two_runs_side_by_side(tmp_path):
    first = _results(tmp_path / "solution", [_row("a", 1.0), _row("b", 1.0, domain="calc")])
    second = _results(tmp_path / "random", [_row("a", 0.0), _row("b", 1.0, domain="calc")],
                      META | {"agent": "random"})
    console = Console(width=140, record=True)
    console.print(compare_table(first, second))
    text = console.export_text()
    assert "solution (solution)" in text and "random (random)" in text
    assert "domain: os" in text and "-100.0" in text and "-50.0" in text
    assert differing_tasks(first, second) == [("a", None, "1.00", "0.00")]
    assert verdict(first, second).startswith("overall -50.0 points: not significant at 5 % (p = 1.000, McNemar")


def test_intervals_are_wilson_and_compare_says_which_differences_are_more_than_chance(tmp_path):
    assert wilson(12, 12) == pytest.approx((0.7575, 1.0), abs=1e-3)  # 100 % of 12 is not 100 % of 64
    assert wilson(64, 64) == pytest.approx((0.9434, 1.0), abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)
    assert two_proportions(30, 40, 10, 40) == pytest.approx(7.7e-6, rel=0.05)
    assert two_proportions(6, 12, 7, 12) > 0.5
    assert mcnemar(0, 10) == pytest.approx(2 / 1024) and mcnemar(3, 3) == 1.0
    tasks = [f"t{i}" for i in range(40)]
    first = _results(tmp_path / "a", [_row(t, 1.0 if i < 10 else 0.0) for i, t in enumerate(tasks)])
    better = _results(tmp_path / "b", [_row(t, 1.0 if i < 30 else 0.0) for i, t in enumerate(tasks)])
    close = _results(tmp_path / "c", [_row(t, 1.0 if i < 12 else 0.0) for i, t in enumerate(tasks)])
    console = Console(width=160, record=True)
    console.print(compare_table(first, better))
    assert "+50.0 │ 0.000 *" in console.export_text()
    assert verdict(first, better).startswith("overall +50.0 points: significant at 5 % (p = 0.000, McNemar's exact "
                                             "test on 40 paired episodes (0 solved only by the first, 20 only by")
    assert "not significant" in verdict(first, close)
    unpaired = _results(tmp_path / "d", [_row(f"u{i}", 1.0 if i < 30 else 0.0) for i in range(40)])
    assert "two-proportion z-test (no episode ran in both)" in verdict(first, unpaired)


def test_repeated_runs_report_each_task_s_spread(tmp_path):
    rows = [_row("steady", 1.0, seed=s) for s in range(3)] + [_row("flaky", float(s % 2), seed=s) for s in range(4)]
    summary = write_summary(_results(tmp_path, rows + [_row("once", 1.0)]))
    assert summary["by_task"] == {"flaky": {"runs": 4, "mean": 0.5, "std": 0.5},
                                  "steady": {"runs": 3, "mean": 1.0, "std": 0.0}}
    console = Console(width=140, record=True)
    console.print(spread_table(summary))
    text = console.export_text()
    assert "1 of 2" in text and "flaky" in text and "steady" not in text
    assert spread_table(write_summary(_results(tmp_path / "one", [_row("once", 1.0)]))) is None


# --- a real run: local provider, solution agent, killed mid-way, resumed -------------------------------------

TASK_IDS = ["os-create-folder", "os-count-lines", "os-infeasible-8k-display"]
RUNNER = textwrap.dedent("""
    import sys
    from step_envs.agents import make_agent
    from step_envs.bench import run_bench
    from step_envs.tasks import builtin_tasks
    tasks = [builtin_tasks()[i] for i in sys.argv[2].split(",")]
    run_bench(make_agent("solution"), tasks, sys.argv[1], agent_spec="solution", suite="unit", envs=1, max_steps=5)
""")


@pytest.mark.desktop
def test_a_killed_run_resumes_and_loses_only_the_episode_in_flight(tmp_path):
    from step_envs.agents import make_agent
    from step_envs.bench import run_bench

    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-c", RUNNER, str(out), ",".join(TASK_IDS)],
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    rows_file = out / "episodes.jsonl"
    while time.monotonic() < deadline and not (rows_file.exists() and rows_file.read_text().count("\n") >= 1):
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the runner and its desktop, mid-episode
    process.wait(30)
    before = ResultsDir.open(out).done()
    assert 1 <= len(before) < len(TASK_IDS)

    tasks = [builtin_tasks()[i] for i in TASK_IDS]
    result = run_bench(make_agent("solution"), tasks, out, agent_spec="solution", suite="unit", envs=1,
                       max_steps=5)
    assert result.skipped == len(before) and result.ran == len(TASK_IDS) - len(before)
    rows = ResultsDir.open(out).rows
    assert sorted(row["task"] for row in rows) == sorted(TASK_IDS)  # each exactly once
    assert all(row["score"] == 1.0 and row["env_error"] is None for row in rows)
    assert result.summary["overall"]["solved"] == len(TASK_IDS)
    for row in rows:
        steps = json.loads((out / row["dir"] / "steps.json").read_text())
        assert len(steps) == row["steps"]
        assert all((out / row["dir"] / step["screenshot"]).stat().st_size > 1000 for step in steps)
    again = run_bench(make_agent("solution"), tasks, out, agent_spec="solution", suite="unit", envs=1, max_steps=5)
    assert (again.ran, again.skipped) == (0, len(TASK_IDS))
    assert "report.html" in {p.name for p in out.iterdir()}


@pytest.mark.desktop
def test_bench_cli_runs_a_suite_file_writes_the_results_and_compares(tmp_path, capsys):
    from step_envs.cli.main import main

    suite = tmp_path / "suite.txt"
    suite.write_text("os-create-folder\nwidget-click-button/0\n")
    out = tmp_path / "run"
    assert main(["bench", "--suite", str(suite), "--agent", "solution", "--envs", "2", "--out", str(out)]) == 0
    rows = ResultsDir.open(out).rows
    assert sorted(row["task"] for row in rows) == ["os-create-folder", "widget-click-button/0"]
    assert all(row["score"] == 1.0 for row in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["solved"] == 2
    assert (out / "report.html").stat().st_size > 1000
    capsys.readouterr()
    assert main(["bench", "compare", str(out), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "widgets" in printed and "overall +0.0 points: not significant at 5 %" in printed
    # a task author's checks: doing nothing scores 0; one's own actions (here the solution's) through the real env
    noop = tmp_path / "noop"
    assert main(["bench", "--suite", str(suite), "--agent", "noop", "--envs", "2", "--out", str(noop)]) == 0
    assert [row["score"] for row in ResultsDir.open(noop).rows] == [0.0, 0.0]
    from step_envs.tasks import load_task

    actions = tmp_path / "my-actions.json"
    actions.write_text(json.dumps(load_task("widget-click-button/0").solution))
    replay = tmp_path / "replay"
    one = tmp_path / "one.txt"
    one.write_text("widget-click-button/0\n")
    assert main(["bench", "--suite", str(one), "--agent", "replay", "--agent-arg", f"file={actions}",
                 "--repeats", "2", "--out", str(replay)]) == 0
    rows = ResultsDir.open(replay).rows
    assert sorted(row["seed"] for row in rows) == [0, 1] and all(row["score"] == 1.0 for row in rows)
    assert json.loads((replay / "summary.json").read_text())["by_task"] == {
        "widget-click-button/0": {"runs": 2, "mean": 1.0, "std": 0.0}}


@pytest.mark.desktop
def test_bench_record_keeps_an_mp4_per_episode_beside_its_steps_and_the_report_links_it(tmp_path):
    from step_envs.cli.main import main

    suite = tmp_path / "suite.txt"
    suite.write_text("os-create-folder\nwidget-click-button/0\n")
    out = tmp_path / "run"
    assert main(["bench", "--suite", str(suite), "--agent", "solution", "--envs", "1", "--seeds", "3", "--record",
                 "--out", str(out)]) == 0
    rows = ResultsDir.open(out).rows
    assert len(rows) == 2 and all(row["score"] == 1.0 for row in rows)
    report = (out / "report.html").read_text()
    for row in rows:
        assert row["recording"] == f"{row['dir']}/recording.mp4"
        video = (out / row["recording"]).read_bytes()
        assert len(video) > 1000 and video[4:8] == b"ftyp"  # a finished mp4
        assert f'href="{row["recording"]}"' in report
    assert not (out / "steps" / "r1" / ".recordings").exists()  # the staging folder is gone
