"""`benchmarks/reproduce_step.py --quick` end to end, as a user runs it: a tiny model, demonstrations, a warm start,
baselines and two methods' RL runs on real local widget desktops, then the CSV, the curves and the tables; a rerun
finds every step's output and redoes nothing. Bad settings are errors that say what is valid."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from step_train.experiment import load_experiment

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "reproduce_step.py"
CONFIG = REPO / "configs" / "reproduce-widgets.toml"
NAME = "reproduce-widgets-quick"


def reproduce(*args: str, timeout: float = 1400) -> subprocess.CompletedProcess:  # ~5 min quiet; loaded, more
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> tuple[Path, Path, str]:
    work, out = tmp_path_factory.mktemp("work"), tmp_path_factory.mktemp("results")
    result = reproduce("--quick", "--work", str(work), "--out", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work, out, result.stdout


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.desktop
@pytest.mark.timeout(1500)
def test_quick_run_logs_held_out_success_against_the_same_trajectories_for_every_method(quick) -> None:
    _, out, _ = quick
    config, settings = load_experiment(CONFIG, quick=True)
    rows = read_csv(out / f"{NAME}.csv")
    assert list(rows[0])[:10] == ["method", "seed", "sample_level", "round", "trajectories", "wall_seconds",
                                  "train_success_sampled", "train_success_greedy", "heldout_success_sampled",
                                  "heldout_success_greedy"]
    assert {"aug_samples", "copies_moved"} <= set(rows[0])
    metrics = ("train_success_sampled", "train_success_greedy", "heldout_success_sampled", "heldout_success_greedy")
    assert {f"{m}/{t}" for m in metrics for t in settings.templates} <= set(rows[0])
    per_round = config.budget.tasks_per_round * config.algo.sampler.copies
    for method in settings.methods:
        run = [r for r in rows if r["method"] == method and r["seed"] == "0"]
        evaluated = list(range(0, config.budget.rounds + 1, config.eval.every))  # 0: the warm start
        assert [int(r["round"]) for r in run] == evaluated
        assert [int(r["trajectories"]) for r in run] == [k * per_round for k in evaluated]
        assert all(0.0 <= float(r[m]) <= 1.0 for r in run for m in metrics)
        assert int(run[-1]["heldout_episodes"]) == len(settings.templates) * (config.eval.seeds[1] - config.eval.seeds[0])
        assert int(run[-1]["train_episodes"]) == len(settings.templates) * settings.train_instances
        walls = [float(r["wall_seconds"]) for r in run]
        assert walls == sorted(walls) and walls[-1] > 0 and float(run[-1]["peak_rss_mb"]) > 0
    # T-GRPO never augments or resamples
    assert {(r["aug_samples"], r["copies_moved"]) for r in rows if r["method"] == "tgrpo"} == {("0", "0")}
    # the config's T-GRPO trains on step samples (its trajectory prompts would show screenshots, not the tree the
    # full run shows; the quick run shows the tiny model screenshots)
    assert config.algo.tgrpo.sample_level == "step"
    assert {r["sample_level"] for r in rows if r["method"] == "tgrpo"} == {"step"}


@pytest.mark.desktop
@pytest.mark.timeout(1500)
def test_quick_run_reports_baselines_per_template_curves_and_the_tables(quick) -> None:
    _, out, stdout = quick
    baselines = {r["template"]: r for r in read_csv(out / f"{NAME}-baselines.csv")}
    assert set(baselines) == {"widget-click-button", "widget-choose-radio", "widget-type-text",
                              "widget-tick-boxes", "all"}
    assert {"untrained", "warm-start", "warm-start-sampled", "random-widget"} <= set(baselines["all"])
    assert float(baselines["all"]["random-widget"]) > 0  # chance is not zero
    for suffix in ("trajectories", "wall"):
        assert (out / f"{NAME}-success-vs-{suffix}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / f"{NAME}.md").read_text()
    for section in ("## Final success", "trajectories to reach T-GRPO's final train_success_sampled",
                    "## Where each mechanism acted", "## Cost per update", "peak RSS", "OSWorld", "23.8", "21.7",
                    "23.0", "21.4", "## Baselines", "## Steps", "95 % CI"):
        assert section in report
    warm, untrained = float(baselines["all"]["warm-start"]), float(baselines["all"]["untrained"])
    check = f"warm start {warm:.3f} vs untrained model {untrained:.3f}"
    assert check in report and check in stdout
    # the untrained model writes no action; the tiny warm start writes valid clicks at typical places, which hit
    # the right widget by chance
    assert warm > untrained and "the warm start beats the untrained model" in stdout


@pytest.mark.desktop
@pytest.mark.timeout(1500)
def test_a_rerun_finds_every_output_and_redoes_nothing(quick) -> None:
    work, out, _ = quick
    before = (out / f"{NAME}.csv").read_text()
    result = reproduce("--quick", "--work", str(work), "--out", str(out), timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    steps = [json.loads(line) for line in (work / "steps.jsonl").read_text().splitlines()]
    rerun = steps[len(steps) // 2 :]
    assert [s["name"] for s in rerun] == [s["name"] for s in steps[: len(steps) // 2]]
    assert {s["status"] for s in rerun if s["name"] != "report"} == {"cached"}
    assert (out / f"{NAME}.csv").read_text() == before
    # the report of the finished runs only: a seed never trained is named and left out, nothing trains
    result = reproduce("--quick", "--work", str(work), "--out", str(out), "--seeds", "0", "5", "--report-only",
                       timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "left out of the report: step seed 5 (0/4 rounds), tgrpo seed 5 (0/4 rounds)" in result.stdout
    assert (out / f"{NAME}.csv").read_text() == before and not (work / "rl" / "step-seed5").exists()


def test_help_describes_the_steps_and_the_options() -> None:
    result = reproduce("--help", timeout=60)
    assert result.returncode == 0
    for text in ("--quick", "--model", "--work", "--out", "--methods", "--seeds", "--set", "--report-only", "warm start",
                 "random widget", "trajectories"):
        assert text in result.stdout


@pytest.mark.parametrize(("override", "message"), [
    ("experiment.model_size=huge", "unknown experiment.model_size 'huge'; known: tiny, small, base, medium"),
    ("experiment.methods=[step, ppo]", "known: step, step-no-resample"),
    ("experiment.variants.x={algorithm: ppo}", "experiment.variants.x needs algorithm = one of step"),
    ("experiment.demo_seeds=[900, 1100]", "must lie inside eval.train_seeds"),
    ("experiment.templates=[widget-nope]", "widget-nope"),
    ("experiment.color=red", "unknown key(s) color; known:"),
])
def test_bad_experiment_settings_are_errors_that_say_what_is_valid(override: str, message: str) -> None:
    key, _, value = override.partition("=")
    with pytest.raises(ValueError) as error:
        load_experiment(CONFIG, overrides=[(key, yaml.safe_load(value))])
    assert message in str(error.value)


def test_the_config_is_a_training_config_and_quick_replaces_only_what_it_lists() -> None:
    from step_train.config import load_config
    from step_train.experiment import arm_config

    config = load_config(CONFIG)
    full, settings = load_experiment(CONFIG)
    quick, quick_settings = load_experiment(CONFIG, quick=True)
    assert config.experiment["methods"] == list(settings.methods) and len(settings.seeds) >= 3
    assert set(settings.methods) == {"step", "tgrpo", "gigpo", "step-no-resample", "step-no-aug",
                                     "step-no-resample-no-aug", "step-baseline", "tgrpo-seq-mean"}
    # the paper's setting: 128 fixed training tasks revisited every round, 128 held-out episodes, both decodings
    assert len(settings.templates) * settings.train_instances == 128
    assert len(settings.templates) * (full.eval.seeds[1] - full.eval.seeds[0]) >= 128
    assert full.eval.sampled and full.eval.train and settings.demo_seeds[0] >= settings.train_instances
    step_baseline = arm_config(full, "step-baseline", 1, Path("rl"), Path("sft"), settings.variants)
    assert (step_baseline.algo.algorithm, step_baseline.algo.step.mode, step_baseline.seed) == ("step", "baseline", 1)
    seq_mean = arm_config(full, "tgrpo-seq-mean", 0, Path("rl"), Path("sft"), settings.variants)
    assert (seq_mean.algo.algorithm, seq_mean.algo.loss.aggregation) == ("tgrpo", "seq-mean-token-mean")
    assert arm_config(full, "tgrpo", 0, Path("rl"), Path("sft"), settings.variants).algo.loss.aggregation == "token-mean"
    assert quick_settings.model_size == "tiny" and quick.budget.rounds < full.budget.rounds
    assert quick.eval.train_seeds == full.eval.train_seeds and quick.env == full.env


def evaluated(success: float, episodes: int = 4) -> dict:
    return {"success": success, "episodes": episodes, "env_errors": 0, "templates": {"widget-a": success}}


def metrics(round_index: int, success: float | None, *, samples: int, skipped: int = 0,
            update_seconds: float = 1.0, peak: float = 100.0, augment: int = 2, moved: int = 0) -> dict:
    row = {"round": round_index, "episodes": 8, "round_seconds": 10.0, "update_seconds": update_seconds,
           "samples": samples, "augment_samples": augment, "copies_moved": moved, "skipped_samples": skipped,
           "train_tokens": 50, "peak_rss_mb": peak, "peak_cuda_mb": None}
    if success is not None:
        for prefix, value in (("eval", success), ("eval/train_sampled", success / 2)):
            row.update({f"{prefix}/success": value, f"{prefix}/episodes": 4, f"{prefix}/env_errors": 0,
                        f"{prefix}/success/widget-a": value})
    return row


def test_curves_tables_and_costs_follow_the_numbers_worked_out_by_hand() -> None:
    from step_train.experiment_report import (
        ci95,
        cost_table,
        curve_rows,
        final_table,
        mechanism_table,
        wilson,
    )

    start = {"heldout": evaluated(0.25), "train_sampled": evaluated(0.125)}
    rows = []
    for seed, finals in ((0, (0.5, 0.75)), (1, (0.25, 0.25))):  # step: 0.75 and 0.25 after 2 rounds
        rows += curve_rows("step", seed, "step", start,
                           [metrics(0, finals[0], samples=6, skipped=2, moved=3),
                            metrics(1, finals[1], samples=6, peak=120, moved=1)])
        rows += curve_rows("tgrpo", seed, "trajectory", start,
                           [metrics(0, 0.25, samples=8, update_seconds=3.0, augment=0),
                            metrics(1, 0.5, samples=8, augment=0)])
    first = [r for r in rows if r["method"] == "step" and r["seed"] == 0]
    assert [(r["round"], r["trajectories"], r["wall_seconds"]) for r in first] == [(0, 0, 0.0), (1, 8, 10.0),
                                                                                   (2, 16, 20.0)]
    assert first[-1]["samples"] == (6 + 2 - 2) + (6 + 2) and first[-1]["peak_rss_mb"] == 120
    assert (first[-1]["aug_samples"], first[-1]["copies_moved"]) == (4, 4)
    assert first[-1]["heldout_success_greedy/widget-a"] == 0.75 and first[-1]["train_success_sampled"] == 0.375
    assert first[0]["train_success_greedy"] is None and first[0]["heldout_success_greedy"] == 0.25
    table, note = final_table(rows, metric="heldout_success_greedy")
    # step: mean 0.5, sample std sqrt(((0.75-0.5)^2 + (0.25-0.5)^2) / 1) = 0.354, 95 % half-width
    # 12.706 * 0.354 / sqrt(2) = 3.176; T-GRPO's final mean 0.5, which step's mean curve (0.25, 0.375, 0.5) first
    # reaches at 16 trajectories, T-GRPO's own (0.25, 0.25, 0.5) too
    assert "| step | step | 2 | 0.250 ± 1.588 | 0.500 ± 3.176 | 16 | 16 |" in table
    assert "| tgrpo | trajectory | 2 | 0.250 ± 0.000 | 0.500 ± 0.000 | 16 | 16 |" in table
    (a, b), (c, d) = wilson(0.5, 4), wilson(1, 4)  # 0.125 and 0.25 of 4 episodes
    assert f"| warm start (round 0) | - | - | 0.125 [{a:.2f}, {b:.2f}] | 0.250 [{c:.2f}, {d:.2f}] | 0 | - |" in table
    assert (round(c, 3), round(d, 3)) == (0.046, 0.699)
    assert "T-GRPO's final mean heldout_success_greedy is 0.500" in note
    assert ci95([0.5]) == (0.5, None) and wilson(0, 10)[0] == 0.0
    assert "| step | 4, 4 | 4, 4 | 16, 16 |" in mechanism_table(rows)
    assert "| tgrpo | 0, 0 | 0, 0 | 16, 16 |" in mechanism_table(rows)
    costs = cost_table(rows)
    # per update (2 rounds): step (6 + 8) / 2 = 7 samples, 1 s, 10 s a round, peak 120 MB; tgrpo 8, 2 s
    assert "| step | step | 7.0 | 50 | 1.00 | 10.0 | 120 | - |" in costs
    assert "| tgrpo | trajectory | 8.0 | 50 | 2.00 | 10.0 | 100 | - |" in costs


def test_a_run_trained_from_an_earlier_warm_start_is_an_error_that_says_to_delete_it(tmp_path: Path) -> None:
    from step_train.config import TrainConfig
    from step_train.experiment import completed_rounds
    from step_train.policy import ModelSettings

    def checkpoint(run: Path, round_index: int, init: str = "") -> Path:
        path = run / "checkpoints" / f"round-{round_index:06d}"
        (path / "model").mkdir(parents=True)
        (path / "model" / "config.json").write_text("{}")
        (path / "state.json").write_text(json.dumps({"round": round_index, "config": {"model": {"init": init}}}))
        return path

    warm, run = tmp_path / "sft", tmp_path / "rl"
    first = checkpoint(warm, 10)
    checkpoint(run, 3, init=str(first))
    config = TrainConfig(run_dir=str(run), model=ModelSettings(init=str(warm)))
    assert completed_rounds(config) == 3
    checkpoint(warm, 20)  # the warm start trained further
    with pytest.raises(ValueError, match=f"delete {run} to train it again from the new warm start"):
        completed_rounds(config)
