"""Held-out evaluation: the seed partition between training and evaluation, greedy episodes on real desktops through
the real EnvPool, the `eval/...` keys in the run log, and `step-train eval` on a run directory.

The tiny model is steered (tests/tiny_vlm.py) to answer FAIL, WAIT or DONE with FAIL the most likely: sampling
gives training some contrast, and greedy decoding always answers FAIL, which solves every instance of the
infeasible template `terminal-infeasible` and none of `widget-click-button`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import random
from pathlib import Path

import pytest
import torch
from tiny_vlm import build_tiny_qwen2vl, steer

from step_envs.episodes import Episode
from step_envs.tasks import load_task
from step_envs.tasks.suites import load_suite
from step_train.algos import AlgoConfig, AugmentConfig, SamplerConfig
from step_train.cli import main as cli_main
from step_train.config import (
    BudgetSettings,
    EnvSettings,
    EvalSettings,
    OptimizerSettings,
    TrainConfig,
    load_config,
)
from step_train.eval import EvalResult, check_training_tasks, evaluate, held_out_tasks, result_row
from step_train.policy import LoraSettings, ModelSettings, SamplingSettings, VLMPolicy
from step_train.trainer import Trainer

MAX_PIXELS = 56 * 56 * 4
TRAIN_IDS = ("widget-click-button/0", "terminal-infeasible/0")
EVAL = EvalSettings(seeds=(1000, 1002), max_steps=1)
TEMPLATES = ("terminal-infeasible", "widget-click-button")


# ---- the seed partition (no desktop) ------------------------------------------------------------------------------


def test_overlapping_train_and_eval_seeds_are_an_error_that_names_the_overlap() -> None:
    with pytest.raises(ValueError, match=r"overlap at seeds 5\.\.9"):
        EvalSettings(seeds=(5, 20), train_seeds=(0, 10))
    with pytest.raises(ValueError, match="overlap"):
        load_config(overrides=["eval.seeds=[999, 1001]"])
    assert load_config(overrides=["eval.seeds=[1000, 1001]"]).eval.seeds == (1000, 1001)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("eval.seeds=[3]", "expected 2 values"),
        ("eval.seeds=[7, 7]", "0 <= start < stop"),
        ("eval.train_seeds=[-1, 10]", "0 <= start < stop"),
        ("eval.seeds=1000", "must be \\[start, stop\\]"),
        ("eval.every=-1", "eval.every must be >= 0"),
        ("eval.max_steps=0", "eval.max_steps must be >= 1"),
        ("eval.step_slack=-1", "eval.step_slack must be >= 0"),
        ("eval.rounds=3", "unknown key.*known: every, max_steps, sampled, seeds, step_slack, suite, train, train_seeds"),
    ],
)
def test_bad_eval_sections_are_errors_that_say_what_is_valid(override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(overrides=[override])


def test_held_out_instances_never_overlap_the_training_suite() -> None:
    training = load_suite("widgets")
    settings = EvalSettings()
    check_training_tasks(training, settings)
    held_out = held_out_tasks(training, settings)
    templates = {t.template for t in training}
    assert {t.template for t in held_out} == templates
    assert len(held_out) == len(templates) * 4
    assert not {t.id for t in held_out} & {t.id for t in training}
    assert all(1000 <= t.seed < 1004 for t in held_out)
    assert all(t.seed < 1000 for t in training)


def test_fixed_tasks_are_left_out_and_a_source_without_templates_is_an_error() -> None:
    fixed = load_task("os-infeasible-8k-display")
    held_out = held_out_tasks([fixed, load_task("widget-click-button/0")], EVAL)
    assert [t.id for t in held_out] == ["widget-click-button/1000", "widget-click-button/1001"]
    with pytest.raises(ValueError, match="no template tasks.*os-infeasible-8k-display.*eval.every = 0"):
        held_out_tasks([fixed], EVAL)


def test_training_on_a_seed_outside_train_seeds_is_an_error(tmp_path: Path) -> None:
    check_training_tasks([load_task("os-infeasible-8k-display"), load_task("widget-click-button/999")], EVAL)
    with pytest.raises(ValueError, match=r"widget-click-button/1000 have seeds outside eval.train_seeds \[0, 1000\)"):
        check_training_tasks([load_task("widget-click-button/1000")], EVAL)
    config = TrainConfig(run_dir=str(tmp_path / "run"), model=ModelSettings(path=str(tmp_path / "no-model")))
    with pytest.raises(ValueError, match="outside eval.train_seeds"):
        Trainer(config, tasks=[load_task("widget-click-button/1001")])


def test_success_is_the_mean_over_valid_episodes_and_env_errors_are_counted_apart() -> None:
    tasks = [load_task(f"widget-click-button/{seed}") for seed in (1000, 1001, 1002)]
    tasks.append(load_task("terminal-infeasible/1000"))
    episodes = [Episode(tasks[0].id, score=1.0), Episode(tasks[1].id, score=0.0),
                Episode(tasks[2].id, env_error="controller died"), Episode(tasks[3].id, env_error="reset timed out")]
    result = EvalResult.of(tasks, episodes, seconds=2.0)
    assert result.row() == {"eval/success": 0.5, "eval/episodes": 4, "eval/env_errors": 2, "eval/seconds": 2.0,
                            "eval/success/terminal-infeasible": None, "eval/success/widget-click-button": 0.5}
    assert result.templates["widget-click-button"].to_dict() == {"success": 0.5, "episodes": 3,
                                                                  "valid_episodes": 2, "env_errors": 1}


def test_eval_help_names_its_options(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["eval", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("RUN_DIR", "--checkpoint N", "--suite", "--envs", "--max-steps", "--seeds START STOP", "held-out"):
        assert option in text


def test_eval_of_a_directory_that_is_not_a_run_names_the_missing_file(tmp_path: Path, capsys) -> None:
    def says(*texts: str) -> bool:
        printed = "".join(capsys.readouterr().out.split())  # rich wraps long lines anywhere
        return all("".join(text.split()) in printed for text in texts)

    assert cli_main(["eval", str(tmp_path)]) == 1
    assert says(f"{tmp_path / 'config.json'} is missing")
    (tmp_path / "config.json").write_text(json.dumps(TrainConfig().to_dict()))
    assert cli_main(["eval", str(tmp_path)]) == 1
    assert says(f"no checkpoint in {tmp_path / 'checkpoints'}")
    checkpoint = tmp_path / "checkpoints" / "round-000002"
    (checkpoint / "adapter").mkdir(parents=True)
    (checkpoint / "state.json").write_text("{}")
    (checkpoint / "adapter" / "adapter_config.json").write_text("{}")
    assert cli_main(["eval", str(tmp_path), "--checkpoint", "1"]) == 1
    assert says("no checkpoint after round 1", "rounds with a checkpoint: 2")
    assert cli_main(["eval", str(tmp_path)]) == 1
    assert says(f"{checkpoint / 'adapter' / 'adapter_model.safetensors'} is missing")


# ---- greedy episodes on real desktops ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def train_tasks():
    return [load_task(task_id) for task_id in TRAIN_IDS]


@pytest.fixture(scope="module")
def eval_tasks(train_tasks):
    return held_out_tasks(train_tasks, EVAL)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, train_tasks, eval_tasks) -> Path:
    directory = build_tiny_qwen2vl(tmp_path_factory.mktemp("steered-qwen2vl"))
    prompts = [(t.instruction, history) for t in [*train_tasks, *eval_tasks] for history in ([], ["WAIT"])]
    steer(directory, {"FAIL": 6.0, "WAIT": 5.0, "DONE": 4.5}, prompts, max_pixels=MAX_PIXELS)
    return directory


@pytest.fixture(scope="module")
def pool():
    from step_envs.pool import EnvPool

    with EnvPool(2, "local", env_kwargs={"max_steps": 1, "screen_size": (1280, 720)}) as envs:
        yield envs


def make_config(model_dir: Path, run_dir: Path, every: int) -> TrainConfig:
    """The run's config, with a suite file of the training tasks so that `step-train eval` can load them."""
    run_dir.mkdir(parents=True)
    suite = run_dir.parent / f"{run_dir.name}-suite.txt"
    suite.write_text("\n".join(TRAIN_IDS) + "\n")
    return TrainConfig(
        run_dir=str(run_dir),
        seed=3,
        model=ModelSettings(path=str(model_dir), lora=LoraSettings(rank=4, alpha=8)),
        sampling=SamplingSettings(max_new_tokens=4, max_pixels=MAX_PIXELS),
        env=EnvSettings(suite=str(suite), num_envs=2, max_steps=1),
        budget=BudgetSettings(rounds=3, tasks_per_round=2),
        optim=OptimizerSettings(lr=5e-3, minibatch_size=4, micro_batch_size=4),
        algo=AlgoConfig(algorithm="step", sampler=SamplerConfig(copies=2),
                        augment=AugmentConfig(max_states=1, group_size=2)),
        eval=dataclasses.replace(EVAL, every=every),
        tensorboard=True,
    )


def train(config: TrainConfig, pool, tasks) -> tuple[Trainer, list[dict]]:
    trainer = Trainer(config, tasks=tasks)
    try:
        rows = trainer.run(pool)
    finally:
        trainer.close()
    return trainer, rows


@pytest.mark.desktop
def test_greedy_evaluation_is_deterministic_and_scores_each_template(model_dir: Path, pool, eval_tasks) -> None:
    policy = VLMPolicy(ModelSettings(path=str(model_dir), lora=LoraSettings(rank=4, alpha=8)),
                       SamplingSettings(max_new_tokens=4, max_pixels=MAX_PIXELS))
    first = evaluate(pool, policy, eval_tasks, max_steps=1)
    second = evaluate(pool, policy, eval_tasks, max_steps=1)
    assert first.instances == second.instances
    assert first.row() == {**second.row(), "eval/seconds": first.seconds}
    assert [i["actions"] for i in first.instances] == [["FAIL"]] * 4
    assert first.row() | {"eval/seconds": 0} == {
        "eval/success": 0.5, "eval/episodes": 4, "eval/env_errors": 0, "eval/seconds": 0,
        "eval/success/terminal-infeasible": 1.0, "eval/success/widget-click-button": 0.0,
    }
    assert not policy.greedy  # sampling again after the evaluation
    assert all(i["template"] in TEMPLATES and i["seed"] in (1000, 1001) for i in first.instances)


@pytest.fixture(scope="module")
def evaluated_run(model_dir: Path, pool, train_tasks, tmp_path_factory) -> tuple[TrainConfig, list[dict]]:
    """3 rounds with an evaluation every 2 rounds: after round 2 and after the last round."""
    config = make_config(model_dir, tmp_path_factory.mktemp("runs") / "evaluated", every=2)
    _, rows = train(config, pool, train_tasks)
    return config, rows


@pytest.mark.desktop
def test_eval_success_is_logged_every_eval_rounds_and_after_the_last(evaluated_run) -> None:
    config, rows = evaluated_run
    logged = [json.loads(line) for line in (Path(config.run_dir) / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in logged] == [0, 1, 2]
    assert [("eval/success" in r) for r in logged] == [False, True, True]
    for row in logged[1:]:
        assert 0 <= row["eval/success"] <= 1 and row["eval/episodes"] == 4 and row["eval/env_errors"] == 0
        assert {k for k in row if k.startswith("eval/success/")} == {f"eval/success/{t}" for t in TEMPLATES}
        assert row["success_rate"] is not None  # the training success sits next to it
    with open(Path(config.run_dir) / "metrics.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [r["eval/success"] != "" for r in table] == [False, True, True]
    assert cli_main(["plot", config.run_dir]) == 0
    assert (Path(config.run_dir) / "plots" / "eval_templates.png").stat().st_size > 0


@pytest.mark.desktop
def test_evaluation_draws_none_of_the_training_random_numbers(model_dir: Path, pool, train_tasks, tmp_path) -> None:
    """What a resumed run replays (sampler and augmentation RNGs, torch's and Python's global RNGs, the policy's
    per-episode state) is the same after an evaluation as before it."""
    trainer = Trainer(make_config(model_dir, tmp_path / "run", every=1), tasks=train_tasks)
    try:
        def training_state() -> tuple:
            return (trainer.state_dict(), torch.get_rng_state(), random.getstate(), trainer.policy.greedy,
                    dict(trainer.policy._episodes))

        before = training_state()
        result = trainer.evaluate_held_out(pool)
        after = training_state()
    finally:
        trainer.close()
    assert result.overall.episodes == 4
    assert before[0] == after[0] and torch.equal(before[1], after[1]) and before[2:] == after[2:]


@pytest.mark.desktop
def test_step_train_eval_scores_a_checkpoint_as_the_trainer_did(evaluated_run, tmp_path: Path, capsys) -> None:
    config, rows = evaluated_run
    out = tmp_path / "eval-out"
    assert cli_main(["eval", config.run_dir, "--envs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "held-out evaluation" in printed and "widget-click-button" in printed
    result = json.loads((out / "round-000003.json").read_text())
    assert result["round"] == 3 and result["seeds"] == [1000, 1002] and result["max_steps"] == 1
    assert result["success"] == rows[-1]["eval/success"]
    assert {t: s["success"] for t, s in result["templates"].items()} == {
        t: rows[-1][f"eval/success/{t}"] for t in TEMPLATES
    }
    with open(out / "round-000003.csv") as handle:
        assert [r["template"] for r in csv.DictReader(handle)] == [*TEMPLATES, "all"]


@pytest.mark.desktop
def test_sampled_and_training_task_evaluations_are_logged_and_leave_the_rollouts_as_they_were(
        model_dir: Path, pool, train_tasks, tmp_path) -> None:
    """`eval.sampled` / `eval.train`: four evaluations after the round, each under its own keys; the sampled ones
    are seeded apart from the rollouts (the policy's round is restored, the training RNGs untouched) and repeat
    exactly for the same run seed and round."""
    config = make_config(model_dir, tmp_path / "run", every=1)
    config = dataclasses.replace(config, eval=dataclasses.replace(config.eval, sampled=True, train=True,
                                                                  step_slack=0))
    trainer = Trainer(config, tasks=train_tasks)
    try:
        trainer.policy.round = 5
        before = (trainer.state_dict(), torch.get_rng_state(), random.getstate())
        first = trainer.evaluate(pool)
        again = trainer.evaluate(pool)
        assert (trainer.state_dict(), random.getstate()) == (before[0], before[2])
        assert torch.equal(torch.get_rng_state(), before[1]) and trainer.policy.round == 5
        assert not trainer.policy.greedy
    finally:
        trainer.close()
    assert list(first) == ["heldout", "heldout_sampled", "train", "train_sampled"]
    assert [first[name].overall.episodes for name in first] == [4, 4, len(train_tasks), len(train_tasks)]
    assert first["train_sampled"].instances == again["train_sampled"].instances  # seeded by run and round
    row = result_row(first)
    assert {"eval/success", "eval/heldout_sampled/success", "eval/train/success", "eval/train_sampled/success",
            "eval/train/success/widget-click-button"} <= set(row)
