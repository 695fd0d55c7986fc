"""`step-train init-model` and `step-train sft`: a small random Qwen2-VL whose tokenizer splits digits, supervised
fine-tuning on a demonstration dataset with the RL policy's own prompt (LoRA or every weight), checkpoints that
`step-train train --init` and `step-envs bench --agent hf` load, exact resume, and bad datasets refused naming the
record.

The dataset is written by `step_train.demos` itself from the solutions of two widget episodes (4 records), with
random screenshots: no desktop is needed except for the held-out evaluation test.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_vlm import build_tiny_qwen2vl

from step_envs.actions import ActionSet
from step_envs.agents import make_agent
from step_envs.episodes import Episode, StepRecord
from step_envs.pool.agent import Turn
from step_envs.tasks.templates.widgets import widget_task
from step_train.cli import main as cli_main
from step_train.config import EnvSettings, EvalSettings, SFTSettings, TrainConfig
from step_train.demos import DemoDataset, demo_format, episode_id, step_records
from step_train.policy import LoraSettings, ModelSettings, SamplingSettings, VLMPolicy
from step_train.policy.init_model import parameter_count
from step_train.sft import SFTTrainer
from step_train.sft_data import read_demos
from step_train.trainer import Trainer

MAX_PIXELS = 56 * 56 * 4
TASK_IDS = ("widget-click-button/0", "widget-choose-radio/1")
METADATA = "train/metadata.jsonl"
A11Y_NS = ('xmlns:st="https://accessibility.ubuntu.example.org/ns/state" '
           'xmlns:cp="https://accessibility.ubuntu.example.org/ns/component"')


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny_qwen2vl(tmp_path_factory.mktemp("tiny-qwen2vl"))


def write_demos(directory: Path, a11y_tree: str | None = None) -> Path:
    """The solution episodes of TASK_IDS as a demonstration dataset (random 149x84 screenshots; with `a11y_tree`,
    recorded with --a11y, every step observing that tree)."""
    fmt = demo_format(max_pixels=MAX_PIXELS, a11y=a11y_tree is not None)
    dataset = DemoDataset(directory, fmt)
    rng = np.random.default_rng(0)
    for task_id in TASK_IDS:
        task = widget_task(task_id)
        episode = Episode(task.id, task.instruction, task.seed, [StepRecord(a) for a in task.solution], 1.0)
        records = step_records(task, episode, fmt, [a11y_tree] * len(task.solution))
        images = [Image.fromarray(rng.integers(0, 256, (84, 149, 3), dtype=np.uint8)) for _ in records]
        dataset.add(episode_id(task), "train", records, images)
    return directory


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> Path:
    return write_demos(tmp_path_factory.mktemp("demos") / "widgets")


def make_config(model_dir: Path, run_dir: Path, **sft) -> TrainConfig:
    settings = {"epochs": 4, "lr": 1e-2, "batch_size": 4, "micro_batch_size": 2, "checkpoint_every": 100, **sft}
    return TrainConfig(run_dir=str(run_dir), seed=1,
                       model=ModelSettings(path=str(model_dir), lora=LoraSettings(rank=4, alpha=8)),
                       sampling=SamplingSettings(max_new_tokens=32, max_pixels=MAX_PIXELS),
                       sft=SFTSettings(**settings), tensorboard=True)


def train(config: TrainConfig, demos: Path, **kwargs) -> tuple[SFTTrainer, list[dict]]:
    trainer = SFTTrainer(config, demos, **kwargs)
    try:
        rows = trainer.run()
    finally:
        trainer.close()
    return trainer, rows


def logged(run_dir: str | Path) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


# ---- init-model ----------------------------------------------------------------------------------------------------


def test_init_model_writes_a_loadable_model_whose_tokenizer_splits_digits(tmp_path: Path, capsys) -> None:
    directory = tmp_path / "tiny"
    assert cli_main(["init-model", str(directory), "--size", "tiny", "--suite", "widgets", "--seed", "3"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    parameters = parameter_count(directory)
    assert f"{parameters:,} parameters" in out and str(directory) in out and 100_000 < parameters < 300_000
    policy = VLMPolicy(ModelSettings(path=str(directory)))
    tokens = policy.tokenizer.tokenize("pyautogui.click(476, 170)")
    assert tokens[tokens.index("(") + 1 : tokens.index(",")] == ["4", "7", "6"]
    digit_tokens = [t for t in policy.tokenizer.get_vocab() if any(c in "0123456789" for c in t)]
    assert sorted(digit_tokens) == list("0123456789")  # no merge holds a digit
    instruction = widget_task("widget-click-button/5").instruction
    assert len(policy.tokenizer.tokenize(instruction)) < len(instruction) / 3  # the suite's words are merged
    assert cli_main(["init-model", str(directory), "--size", "tiny"]) == 1
    assert "not an empty directory" in " ".join(capsys.readouterr().out.split())


def test_init_model_and_sft_help_name_their_options(capsys) -> None:
    for command, options in (("init-model", ("--size", "tiny", "small", "base", "medium", "--suite", "--seed", "~1.3M")),
                             ("sft", ("--demos", "--epochs", "--lr", "--batch-size", "--eval-every", "--full",
                                      "--near-miss", "--init", "--resume", "FILE:LINE", "--init CHECKPOINT"))):
        with pytest.raises(SystemExit) as exit_info:
            cli_main([command, "--help"])
        assert exit_info.value.code == 0
        text = " ".join(capsys.readouterr().out.split())
        for option in options:
            assert option in text, (command, option)


# ---- training ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lora_run(model_dir: Path, demos: Path, tmp_path_factory) -> tuple[SFTTrainer, list[dict]]:
    return train(make_config(model_dir, tmp_path_factory.mktemp("runs") / "lora", epochs=8), demos)


def test_lora_sft_lowers_the_loss_trains_only_adapters_and_logs_every_step(lora_run, model_dir: Path) -> None:
    trainer, rows = lora_run
    losses = [row["loss"] for row in rows]
    assert len(rows) == 8 and losses[-1] < losses[0] - 0.1
    assert all(row["train_tokens"] == sum(map(len, trainer.replies)) for row in rows)  # every record, each epoch
    assert [row["round"] for row in logged(trainer.config.run_dir)] == list(range(8))
    checkpoint = Path(trainer.config.run_dir) / "checkpoints" / "round-000008"
    assert (checkpoint / "adapter" / "adapter_model.safetensors").is_file() and not (checkpoint / "model").exists()
    state = json.loads((checkpoint / "state.json").read_text())
    assert (state["kind"], state["round"], state["demos"]["records"]) == ("sft", 8, 4)
    assert (Path(trainer.config.run_dir) / "metrics.csv").read_text().count("\n") == 9
    assert list((Path(trainer.config.run_dir) / "tensorboard").iterdir())
    fresh = dict(VLMPolicy(ModelSettings(path=str(model_dir))).model.named_parameters())
    trained = dict(trainer.policy.model.named_parameters())
    assert all(torch.equal(trained[n], p) for n, p in fresh.items() if "lora_" not in n)
    assert any(not torch.equal(trained[n], p) for n, p in fresh.items() if "lora_B" in n)


def test_the_response_is_the_action_in_the_models_dialect_after_the_rl_step_prompt(model_dir: Path, demos: Path,
                                                                                    tmp_path: Path) -> None:
    """An example is exactly the rollout's step prompt plus the dialect's rendering of the action and the end of
    turn: for qwen2vl the click is on the 0-1000 grid, in the reply and in the history."""
    config = dataclasses.replace(make_config(model_dir, tmp_path / "run", epochs=1),
                                 model=ModelSettings(path=str(model_dir), dialect="qwen2vl"))
    trainer = SFTTrainer(config, demos)
    step = trainer.demos.steps[1]  # widget-click-button/0, after its click
    assert step.history == tuple(widget_task(TASK_IDS[0]).solution[:1])
    encoded = trainer.encode(1)
    policy = trainer.policy
    prompt = policy.encode_step(step.instruction, policy.observe(step.image()), list(step.history))
    assert encoded.input_ids == prompt.input_ids + trainer.replies[1]
    assert encoded.reply_spans == [(len(prompt.input_ids), len(encoded.input_ids))]
    first, click = trainer.replies[0], widget_task(TASK_IDS[0]).solution[0]
    grid = ActionSet("qwen2vl").render(click, (1280, 720))
    assert grid != click and policy.tokenizer.decode(first[:-1]) == grid and first[-1] == policy.eos_ids[0]
    trainer.close()


def test_an_a11y_observation_trains_on_each_records_accessibility_tree(model_dir: Path, demos: Path,
                                                                      tmp_path: Path) -> None:
    tree = (f'<desktop-frame {A11Y_NS}><push-button name="Planet" st:showing="true" st:visible="true" '
            'cp:screencoord="(312, 218)" cp:size="(120, 36)" /></desktop-frame>')
    config = make_config(model_dir, tmp_path / "run", epochs=1)
    config = dataclasses.replace(config, sampling=dataclasses.replace(config.sampling, observation="screenshot+a11y"))
    with pytest.raises(ValueError, match="recorded without it; record them with --a11y"):
        read_demos(demos, config)
    trainer = SFTTrainer(config, write_demos(tmp_path / "a11y", tree))
    prompt = trainer.policy.tokenizer.decode(trainer.encode(0).input_ids)
    assert "Accessibility tree:" in prompt and "push-button\tPlanet\t\t\t(372, 236)" in prompt
    trainer.close()


@pytest.fixture(scope="module")
def full_run(model_dir: Path, demos: Path, tmp_path_factory) -> tuple[SFTTrainer, list[dict]]:
    config = make_config(model_dir, tmp_path_factory.mktemp("runs") / "full", epochs=80, full=True)
    return train(config, demos)


def test_full_sft_trains_every_weight_until_the_policy_writes_the_demonstrated_actions(full_run) -> None:
    trainer, rows = full_run
    assert rows[-1]["loss"] < 0.2 < 6 < rows[0]["loss"]
    policy = trainer.policy
    assert all(p.requires_grad == ("lora_" not in n) for n, p in policy.model.named_parameters())
    policy.greedy = True
    for index, step in enumerate(trainer.demos.steps):
        prompt = policy.encode_step(step.instruction, policy.observe(step.image()), list(step.history))
        (reply,) = policy.generate([prompt], [0])
        assert reply.token_ids == trainer.replies[index]
        assert policy.parse(reply.text, "pyautogui", (1280, 720), policy.observe(step.image())).action == step.action


def test_a_full_checkpoint_is_a_model_directory_that_loads_like_any_model(full_run) -> None:
    trainer, _ = full_run
    model = Path(trainer.config.run_dir) / "checkpoints" / "round-000080" / "model"
    assert not model.parent.joinpath("adapter").exists()
    loaded = VLMPolicy(ModelSettings(path=str(model)))
    trained = {n: p for n, p in trainer.policy.model.named_parameters() if "lora_" not in n}
    assert all(torch.equal(trained[n], p) for n, p in loaded.model.named_parameters() if "lora_" not in n)
    from step_envs.agents import make_agent

    agent = make_agent("hf", model=str(model))  # the hf agent reads the run's settings from the checkpoint
    config = trainer.config
    assert (agent.dialect, agent.max_history, agent.max_pixels) == (
        config.model.dialect, config.algo.history, config.sampling.max_pixels)


# ---- starting RL and benchmarks from an SFT checkpoint -------------------------------------------------------------


def rl_config(run_dir: Path, model: str, init: str) -> TrainConfig:
    return TrainConfig(run_dir=str(run_dir), model=ModelSettings(path=model, init=init, lora=LoraSettings(rank=4)),
                       sampling=SamplingSettings(max_pixels=MAX_PIXELS), env=EnvSettings(tasks=TASK_IDS[:1]),
                       tensorboard=False)


def test_train_init_continues_the_sft_adapters(lora_run, tmp_path: Path) -> None:
    sft, _ = lora_run
    trainer = Trainer(rl_config(tmp_path / "rl", "", sft.config.run_dir), tasks=[widget_task(TASK_IDS[0])])
    checkpoint = Path(sft.config.run_dir) / "checkpoints" / "round-000008"
    assert trainer.config.model.path == sft.config.model.path  # the SFT run's base model
    assert trainer.config.model.init == str(checkpoint)
    saved = {n: p for n, p in sft.policy.model.named_parameters() if "lora_" in n}
    loaded = {n: p for n, p in trainer.policy.model.named_parameters() if "lora_" in n}
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[n], loaded[n]) for n in saved)
    assert all(p.requires_grad for p in loaded.values())
    trainer.close()


def test_train_init_from_a_full_checkpoint_trains_fresh_adapters_on_it(full_run, tmp_path: Path) -> None:
    sft, _ = full_run
    checkpoint = Path(sft.config.run_dir) / "checkpoints" / "round-000080"
    trainer = Trainer(rl_config(tmp_path / "rl", sft.config.model.path, str(checkpoint)),
                      tasks=[widget_task(TASK_IDS[0])])
    assert trainer.config.model.path == str(checkpoint / "model")
    saved = {n: p for n, p in sft.policy.model.named_parameters() if "lora_" not in n}
    assert all(torch.equal(saved[n], p) for n, p in trainer.policy.model.named_parameters() if "lora_" not in n)
    assert json.loads((tmp_path / "rl" / "config.json").read_text())["model"]["path"] == str(checkpoint / "model")
    trainer.close()


def test_train_init_flag_sets_model_init_and_a_wrong_dialect_is_refused(lora_run, tmp_path: Path) -> None:
    from step_train.cli import FLAG_KEYS, build_parser

    args = build_parser().parse_args(["train", "c.toml", "--init", "runs/sft"])
    assert ("init", "model.init") in FLAG_KEYS.items() and args.init == "runs/sft"
    sft, _ = lora_run
    config = dataclasses.replace(rl_config(tmp_path / "rl", "", sft.config.run_dir),
                                 model=ModelSettings(init=sft.config.run_dir, dialect="uitars"))
    with pytest.raises(ValueError, match="dialect 'pyautogui'.*set model.dialect = 'pyautogui'"):
        Trainer(config, tasks=[widget_task(TASK_IDS[0])])
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        Trainer(rl_config(tmp_path / "rl2", "", str(tmp_path)), tasks=[widget_task(TASK_IDS[0])])


def test_the_hf_bench_agent_loads_an_sft_adapter_checkpoint_with_its_prompt(lora_run, demos: Path) -> None:
    sft, _ = lora_run
    checkpoint = Path(sft.config.run_dir) / "checkpoints" / "round-000008"
    agent = make_agent("hf", model=sft.config.model.path, adapter=str(checkpoint), options={"max_new_tokens": 4})
    assert (agent.dialect, agent.max_history, agent.max_pixels) == ("pyautogui", 3, MAX_PIXELS)
    saved = {n: p for n, p in sft.policy.model.named_parameters() if "lora_" in n}
    loaded = {n: p for n, p in agent.model.named_parameters() if "lora_" in n}
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[n], loaded[n]) for n in saved)
    step = sft.demos.steps[1]
    screenshot = np.asarray(step.image())
    task = widget_task(TASK_IDS[0])
    turn = Turn("k", task, {"screenshot": screenshot, "instruction": task.instruction}, 1, list(step.history))
    inputs, _ = agent._inputs(turn)
    assert inputs["input_ids"][0].tolist() == sft.encode(1).input_ids[: -len(sft.replies[1])]


# ---- resume --------------------------------------------------------------------------------------------------------


def test_an_interrupted_sft_resumes_exactly_without_repeating_steps(model_dir: Path, demos: Path,
                                                                    tmp_path: Path) -> None:
    """6 steps (3 epochs of 2 batches) uninterrupted, against a run killed after step 3 with its last checkpoint
    after step 2, then resumed: the same losses, the same adapters, each step logged once."""
    settings = {"epochs": 3, "batch_size": 2, "checkpoint_every": 2}
    whole, whole_rows = train(make_config(model_dir, tmp_path / "whole", **settings), demos)
    config = make_config(model_dir, tmp_path / "killed", **settings)
    killed = SFTTrainer(config, demos)
    killed.run(stop_after=3)  # step 3 is logged, its checkpoint never written
    killed.close()
    assert [row["round"] for row in logged(config.run_dir)] == [0, 1, 2]
    resumed, rows = train(config, demos, resume=True)
    assert [row["round"] for row in rows] == [2, 3, 4, 5]
    assert [row["round"] for row in logged(config.run_dir)] == list(range(6))
    assert [row["loss"] for row in logged(config.run_dir)] == [row["loss"] for row in whole_rows]
    final = {n: p for n, p in whole.policy.model.named_parameters() if "lora_" in n}
    assert all(torch.equal(final[n], p) for n, p in resumed.policy.model.named_parameters() if "lora_" in n)


def test_sft_into_a_run_with_checkpoints_needs_resume_and_resume_needs_the_same_data(lora_run, demos: Path,
                                                                                    tmp_path: Path) -> None:
    sft, _ = lora_run
    with pytest.raises(ValueError, match="already holds checkpoints.*--resume"):
        SFTTrainer(sft.config, demos)
    other = write_demos(tmp_path / "other")
    lines = (other / METADATA).read_text().splitlines()
    (other / METADATA).write_text("\n".join(lines[:2]) + "\n")  # only the first episode
    with pytest.raises(ValueError, match="not the ones .* trained on"):
        SFTTrainer(sft.config, other, resume=True)
    with pytest.raises(FileNotFoundError, match="start without --resume"):
        SFTTrainer(make_config(sft.config.model.path, tmp_path / "new"), demos, resume=True)


def test_near_misses_are_left_out_unless_sft_near_miss_is_on(demos: Path, model_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(demos, tmp_path / "demos")
    fmt = demo_format(max_pixels=MAX_PIXELS)
    task = widget_task("widget-click-button/2")
    missed = Episode(task.id, task.instruction, task.seed, [StepRecord("pyautogui.click(10, 10)"), StepRecord("DONE")],
                     0.0)
    records = step_records(task, missed, fmt, [None, None])
    DemoDataset(copy, fmt).add(episode_id(task), "near_miss", records, [Image.new("RGB", (149, 84))] * 2)
    assert len(read_demos(copy, make_config(model_dir, tmp_path / "run"))) == 4
    with_near_misses = read_demos(copy, make_config(model_dir, tmp_path / "run", near_miss=True))
    assert [step.action for step in with_near_misses.steps[4:]] == ["pyautogui.click(10, 10)", "DONE"]


# ---- bad datasets --------------------------------------------------------------------------------------------------


def _edit_line(number: int, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(directory: Path) -> None:
        path = directory / METADATA
        lines = path.read_text().splitlines()
        record = json.loads(lines[number - 1])
        change(record)
        lines[number - 1] = json.dumps(record)
        path.write_text("\n".join(lines) + "\n")

    return edit


def _lines(keep: Callable[[list[str]], list[str]], end: str = "\n") -> Callable[[Path], None]:
    def edit(directory: Path) -> None:
        path = directory / METADATA
        path.write_text("\n".join(keep(path.read_text().splitlines())) + end)

    return edit


def _screenshot(line: int, damage: Callable[[Path], None]) -> Callable[[Path], None]:
    def edit(directory: Path) -> None:
        record = json.loads((directory / METADATA).read_text().splitlines()[line - 1])
        damage(directory / "train" / record["file_name"])

    return edit


BAD_DATASETS = {
    "empty": (_lines(lambda lines: [], end=""), r"train/metadata.jsonl: no records"),
    "torn last line": (_lines(lambda lines: [*lines[:-1], lines[-1][:40]], end=""),
                       r"metadata.jsonl:4: the last record is cut short"),
    "not JSON": (_lines(lambda lines: [lines[0], "{oops", *lines[2:]]), r"metadata.jsonl:2: not JSON"),
    "missing field": (_edit_line(3, lambda r: r.pop("action")), r"metadata.jsonl:3: the record has no 'action'"),
    "partial episode": (_lines(lambda lines: [lines[0], *lines[2:]]),
                        r"metadata.jsonl:1: episode widget-click-button-0 is partial: it has steps \[0\] of "
                        r"num_steps 2"),
    "repeated step": (_lines(lambda lines: [lines[0], *lines]), r"metadata.jsonl:2: episode widget-click-button-0 "
                                                                r"step 0 again \(first at line 1\)"),
    "missing screenshot": (_screenshot(3, Path.unlink), r"metadata.jsonl:3: screenshot .*step-000.png is missing"),
    "corrupt screenshot": (_screenshot(3, lambda path: path.write_bytes(b"not a png")),
                           r"metadata.jsonl:3: screenshot .* is not a readable image"),
    "invalid action": (_edit_line(1, lambda r: r.update(action="pyautogui.click(5000, 10)")),
                       r"metadata.jsonl:1: action 'pyautogui.click\(5000, 10\)' is not a valid pyautogui action"),
    "held-out seed": (_edit_line(1, lambda r: r.update(seed=1000)),
                      r"metadata.jsonl:1: widget-click-button/0 has seed 1000, outside eval.train_seeds"),
    "not a dataset": (lambda directory: (directory / "demos.json").unlink(), r"demos.json is missing"),
    "other screen": (lambda directory: (directory / "demos.json").write_text(json.dumps(
        {**json.loads((directory / "demos.json").read_text()), "screen_size": [800, 600]})),
        r"demos.json: the demonstrations have screen_size \[800, 600\]"),
}


@pytest.mark.parametrize("case", list(BAD_DATASETS))
def test_a_bad_dataset_is_an_error_naming_the_record(case: str, demos: Path, model_dir: Path,
                                                     tmp_path: Path) -> None:
    damage, message = BAD_DATASETS[case]
    copy = shutil.copytree(demos, tmp_path / "demos")
    damage(copy)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        read_demos(copy, make_config(model_dir, tmp_path / "run"))


def test_sft_cli_stops_on_a_corrupt_record_before_training(demos: Path, model_dir: Path, tmp_path: Path,
                                                           capsys) -> None:
    copy = shutil.copytree(demos, tmp_path / "demos")
    _lines(lambda lines: [lines[0], "{oops", *lines[2:]])(copy)
    config = tmp_path / "sft.toml"
    config.write_text(f'run_dir = "{tmp_path / "run"}"\n[model]\npath = "{model_dir}"\n'
                      f"[sampling]\nmax_pixels = {MAX_PIXELS}\n")
    assert cli_main(["sft", str(config), "--demos", str(copy), "--epochs", "1"]) == 1
    out = "".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert f"{copy / METADATA}:2:notJSON" in out
    assert not (tmp_path / "run" / "checkpoints").exists()


# ---- held-out evaluation on real desktops ---------------------------------------------------------------------------


@pytest.mark.desktop
def test_sft_evaluates_held_out_instances_every_eval_every_steps_and_step_train_eval_scores_it(
        model_dir: Path, demos: Path, tmp_path: Path) -> None:
    """A full fine-tuning run evaluated after steps 4 and 6; `step-train eval` of its last checkpoint (a whole
    model, no adapter) replays the last evaluation."""
    from step_envs.pool import EnvPool
    from step_train.eval import evaluate_checkpoint

    config = dataclasses.replace(
        make_config(model_dir, tmp_path / "run", epochs=3, batch_size=2, eval_every=4, full=True),
        eval=EvalSettings(seeds=(1000, 1001), max_steps=1), env=EnvSettings(num_envs=1, tasks=TASK_IDS))
    with EnvPool(1, "local", env_kwargs={"max_steps": 1, "screen_size": (1280, 720)}) as pool:
        trainer = SFTTrainer(config, demos)
        try:
            rows = trainer.run(pool)
        finally:
            trainer.close()
    evaluated = [row["round"] for row in rows if "eval/success" in row]
    assert evaluated == [3, 5]  # after step 4 and after the last (6)
    for row in rows:
        if "eval/success" in row:
            assert row["eval/episodes"] == 2 and row["eval/env_errors"] == 0
            assert {"eval/success/widget-click-button", "eval/success/widget-choose-radio"} <= row.keys()
    assert [t.id for t in trainer.eval_tasks] == ["widget-choose-radio/1000", "widget-click-button/1000"]
    result, _ = evaluate_checkpoint(config.run_dir, out_dir=tmp_path / "eval")
    assert result.row() | {"eval/seconds": 0} == {key: value for key, value in rows[-1].items()
                                                   if key.startswith("eval/")} | {"eval/seconds": 0}


def test_with_tags_a_click_on_an_elements_centre_is_trained_as_its_tag(model_dir: Path, tmp_path: Path) -> None:
    task = widget_task(TASK_IDS[0])
    x, y = (int(v) for v in re.search(r"\((\d+), (\d+)\)", task.solution[0]).groups())
    tree = (f'<desktop-frame {A11Y_NS}>'
            '<push-button name="Other" st:showing="true" st:visible="true" cp:screencoord="(900, 600)" '
            'cp:size="(80, 30)" />'
            f'<push-button name="Target" st:showing="true" st:visible="true" cp:screencoord="({x - 60}, {y - 18})" '
            'cp:size="(120, 36)" /></desktop-frame>')
    config = make_config(model_dir, tmp_path / "run", epochs=1)
    config = dataclasses.replace(config, sampling=dataclasses.replace(config.sampling, observation="a11y",
                                                                      a11y_tags=True))
    trainer = SFTTrainer(config, write_demos(tmp_path / "a11y", tree))
    policy = trainer.policy
    first = next(i for i, s in enumerate(trainer.demos.steps) if s.action == task.solution[0])
    assert policy.tokenizer.decode(trainer.replies[first][:-1]) == "pyautogui.click(tag_2)"
    assert "2\tpush-button\tTarget" in policy.tokenizer.decode(trainer.encode(first).input_ids)
    image = policy.observe(trainer.demos.steps[first].image())
    assert policy.parse("pyautogui.click(tag_2)", "pyautogui", (1280, 720), image, tree).action == \
        policy.parse(task.solution[0], "pyautogui", (1280, 720), image).action
    bad = policy.parse("pyautogui.click(tag_7)", "pyautogui", (1280, 720), image, tree)
    assert bad.action == "WAIT" and bad.error == "tag_7 is not in the table (tags 1-2)"
    trainer.close()
