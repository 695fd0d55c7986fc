"""The trainer's fast paths on a tiny random Qwen2-VL, without desktops: zero-advantage samples are never forwarded,
checkpoints store each screenshot once under its content hash, and trajectory prompts keep within
`sampling.max_prompt_tokens` while training recomputes the very log-probs the rollout stored."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_vlm import build_tiny_qwen2vl

from step_envs.episodes import Episode, StepRecord
from step_envs.pool.agent import AgentAction, Turn
from step_envs.tasks import Task
from step_envs.tasks.templates.widgets import widget_task
from step_train.algos import (
    AlgoConfig,
    AugmentConfig,
    LossConfig,
    SamplerConfig,
    TGRPOConfig,
    policy_loss,
    training_samples,
)
from step_train.checkpoint import OBSERVATIONS_FILE, latest_checkpoint, observation_dir
from step_train.config import BudgetSettings, EnvSettings, OptimizerSettings, TrainConfig
from step_train.policy import LoraSettings, ModelSettings, SamplingSettings, Trajectory, VLMPolicy
from step_train.policy.prompts import count_chat_tokens, encode_chat, trajectory_messages
from step_train.trainer import Trainer

MAX_PIXELS = 56 * 56 * 4
TASK_ID = "widget-click-button/0"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny_qwen2vl(tmp_path_factory.mktemp("tiny-qwen2vl"))


def make_trainer(model_dir: Path, run_dir: Path, *, resume: bool = False, kl_beta: float = 0.0,
                 skip_zero_advantage: bool = True, keep_checkpoints: int = 3, buffer_size: int = 8) -> Trainer:
    algo = AlgoConfig(algorithm="tgrpo", sampler=SamplerConfig(copies=4), tgrpo=TGRPOConfig(sample_level="trajectory"),
                      loss=LossConfig(kl_beta=kl_beta), augment=AugmentConfig(buffer_size=buffer_size))
    config = TrainConfig(
        run_dir=str(run_dir),
        seed=3,
        model=ModelSettings(path=str(model_dir), lora=LoraSettings(rank=4, alpha=8)),
        sampling=SamplingSettings(max_new_tokens=6, max_pixels=MAX_PIXELS),
        env=EnvSettings(suite="widgets", tasks=(TASK_ID,), num_envs=1, max_steps=3),
        budget=BudgetSettings(rounds=4, tasks_per_round=1),
        optim=OptimizerSettings(lr=5e-2, minibatch_size=2, micro_batch_size=2, weight_decay=0.1,
                                skip_zero_advantage=skip_zero_advantage),
        algo=algo,
        keep_checkpoints=keep_checkpoints,
        tensorboard=False,
    )
    return Trainer(config, tasks=[widget_task(TASK_ID)], resume=resume)


def screenshot(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (72, 128, 3), dtype=np.uint8)


def episode(trainer: Trainer, key: str, score: float, screens: list[int]) -> Episode:
    """An episode of the task whose step `t` was taken on `screenshot(screens[t])`, kept by the trainer's store."""
    reply = trainer.policy.tokenizer("WAIT", add_special_tokens=False)["input_ids"] + [trainer.policy.eos_ids[0]]
    steps = []
    for t, seed in enumerate(screens):
        record = StepRecord("WAIT", logprobs=[-1.0] * len(reply), token_ids=list(reply))
        trainer.store.keep(key, t, {"screenshot": screenshot(seed)}, record)
        steps.append(record)
    return Episode(TASK_ID, "Click the button labelled OK.", steps=steps, score=score)


def lora(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in trainer.policy.model.named_parameters() if "lora_" in n}


def count_training_forwards(trainer: Trainer) -> list[int]:
    """A counter of forward passes with gradients on: the training pass (generation and old log-probs run without)."""
    calls = [0]

    def hook(*_) -> None:
        calls[0] += torch.is_grad_enabled()

    trainer.policy.model.get_base_model().register_forward_pre_hook(hook)
    return calls


# ---- zero-advantage samples ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("skip", [True, False])
def test_zero_advantage_samples_are_forwarded_only_with_skipping_off(model_dir, tmp_path, skip: bool) -> None:
    """An all-fail T-GRPO round: with skipping (the default) no forward pass and no optimizer step; without, two
    minibatches go through and AdamW's weight decay moves the adapters on zero gradients."""
    trainer = make_trainer(model_dir, tmp_path / "run", skip_zero_advantage=skip)
    forwards = count_training_forwards(trainer)
    episodes = [episode(trainer, f"e{i}", 0.0, [i, i + 10]) for i in range(4)]
    trainer.record.update(episodes)
    samples = training_samples(episodes, trainer.record, trainer.algo)
    assert len(samples) == 4 and all(s.advantage == 0 for s in samples)
    before = lora(trainer)
    stats = trainer.update(samples)
    unchanged = all(torch.equal(before[n], p) for n, p in lora(trainer).items())
    if skip:
        assert forwards[0] == 0 and unchanged
        assert stats["skipped_samples"] == 4 and stats["optimizer_steps"] == 0 and stats["train_tokens"] == 0
    else:
        assert forwards[0] == 2 and not unchanged
        assert stats["skipped_samples"] == 0 and stats["optimizer_steps"] == 2


def test_zero_advantage_samples_change_a_mixed_round_by_nothing_but_their_tokens_in_the_mean() -> None:
    """Before skipping, a zero-advantage row added only its tokens to the token mean: the loss and its gradient
    without the row are the loss with it times (all tokens / kept tokens), on numbers worked out by hand."""
    old = torch.tensor([[-1.0, -2.0, 0.0], [-0.5, -0.5, -0.5], [-3.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    advantages = torch.tensor([1.5, 0.0, -0.5])
    new = (old + torch.tensor([[0.1, -0.1, 0.0], [0.3, 0.2, 0.1], [0.05, 0.0, 0.0]])).requires_grad_()
    with_zero, _ = policy_loss(new, old, advantages, mask)
    (grad_with,) = torch.autograd.grad(with_zero, new)
    kept = torch.tensor([0, 2])
    without, _ = policy_loss(new[kept], old[kept], advantages[kept], mask[kept])
    (grad_without,) = torch.autograd.grad(without, new)
    torch.testing.assert_close(without, with_zero * 6 / 3)
    torch.testing.assert_close(grad_without, grad_with * 6 / 3)
    assert torch.count_nonzero(grad_with[1]) == 0


def test_a_mixed_round_trains_as_the_round_of_its_nonzero_samples(model_dir, tmp_path) -> None:
    trainer = make_trainer(model_dir, tmp_path / "skip")
    episodes = [episode(trainer, f"e{i}", float(i == 0), [i, i + 10]) for i in range(4)]
    episodes += [dataclasses.replace(e, task_id="other") for e in
                 [episode(trainer, f"f{i}", 0.0, [i + 20]) for i in range(2)]]
    trainer.record.update(episodes)
    samples = training_samples(episodes, trainer.record, trainer.algo)
    assert sorted(s.advantage == 0 for s in samples) == [False] * 4 + [True] * 2
    stats = trainer.update(samples)

    reference = make_trainer(model_dir, tmp_path / "reference", skip_zero_advantage=False)
    reference.store = trainer.store
    reference_stats = reference.update([s for s in samples if s.advantage != 0])
    assert stats["skipped_samples"] == 2 and stats["optimizer_steps"] == reference_stats["optimizer_steps"] == 2
    after, expected = lora(trainer), lora(reference)
    for name in after:
        torch.testing.assert_close(after[name], expected[name], atol=0, rtol=0)


def test_with_a_kl_term_zero_advantage_samples_still_train(model_dir, tmp_path) -> None:
    """`beta > 0`: the KL gradient does not vanish with the advantage, so nothing is skipped."""
    trainer = make_trainer(model_dir, tmp_path / "run", kl_beta=0.1)
    episodes = [episode(trainer, f"e{i}", 0.0, [i]) for i in range(2)]
    trainer.record.update(episodes)
    stats = trainer.update(training_samples(episodes, trainer.record, trainer.algo))
    assert stats["skipped_samples"] == 0 and stats["optimizer_steps"] == 1


# ---- content-addressed screenshots ----------------------------------------------------------------------------------


def stored_files(run_dir: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in observation_dir(run_dir).iterdir()}


def checkpoint_index(trainer: Trainer) -> dict[str, str]:
    return json.loads((latest_checkpoint(trainer.config.run_dir) / OBSERVATIONS_FILE).read_text())


def test_a_checkpoint_writes_only_the_screenshots_that_are_new(model_dir, tmp_path) -> None:
    trainer = make_trainer(model_dir, tmp_path / "run")
    trainer.buffer.add([episode(trainer, "a", 1.0, [1, 2, 1])])  # the same screen twice: one file
    trainer.save_checkpoint()
    first = stored_files(tmp_path / "run")
    index = checkpoint_index(trainer)
    assert len(index) == 3 and len(first) == 2 and set(first) == {f"{h}.png" for h in index.values()}

    trainer.round = 1
    trainer.buffer.add([episode(trainer, "b", 1.0, [2, 3])])
    trainer.save_checkpoint()
    second = stored_files(tmp_path / "run")
    assert len(checkpoint_index(trainer)) == 5
    assert set(second) - set(first) == {f"{checkpoint_index(trainer)['b/step1']}.png"}
    assert all(second[name] == first[name] for name in first)  # not rewritten


def test_the_same_episode_key_in_two_rounds_keeps_two_screenshots(model_dir, tmp_path) -> None:
    trainer = make_trainer(model_dir, tmp_path / "run")
    refs = []
    for round_index in range(2):
        trainer.store.scope = f"round-{round_index:06d}/"
        record = StepRecord("WAIT", observation_ref="task|seed=None|req=0|try=1/step0")  # as the pool names it
        trainer.store.keep("task|seed=None|req=0|try=1", 0, {"screenshot": screenshot(round_index)}, record)
        refs.append(record.observation_ref)
    assert refs == ["round-000000/task|seed=None|req=0|try=1/step0", "round-000001/task|seed=None|req=0|try=1/step0"]
    assert not np.array_equal(np.asarray(trainer.store[refs[0]]), np.asarray(trainer.store[refs[1]]))


def test_pruning_deletes_only_screenshots_no_kept_checkpoint_names(model_dir, tmp_path) -> None:
    trainer = make_trainer(model_dir, tmp_path / "run", keep_checkpoints=2, buffer_size=1)
    for round_index, screens in enumerate(([1, 2], [2, 3], [4, 5])):  # each success replaces the last in the buffer
        trainer.buffer.add([episode(trainer, f"r{round_index}", 1.0, screens)])
        trainer.store.retain(trainer.buffer.get(TASK_ID))
        trainer.round = round_index
        trainer.save_checkpoint()
    kept = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("round-*"))
    assert kept == ["round-000001", "round-000002"]
    names = {f"{h}.png" for p in kept for h in
             json.loads((tmp_path / "run" / "checkpoints" / p / OBSERVATIONS_FILE).read_text()).values()}
    assert set(stored_files(tmp_path / "run")) == names and len(names) == 4  # screens 2, 3, 4, 5; 1 is gone


def test_resume_reads_back_the_pixels_a_checkpoint_names(model_dir, tmp_path) -> None:
    trainer = make_trainer(model_dir, tmp_path / "run")
    trainer.buffer.add([episode(trainer, "a", 1.0, [1, 2, 1])])
    trainer.save_checkpoint()
    resumed = make_trainer(model_dir, tmp_path / "run", resume=True)
    for ref in ("a/step0", "a/step1", "a/step2"):
        assert np.array_equal(np.asarray(resumed.store[ref]), np.asarray(trainer.store[ref]))


def test_a_missing_screenshot_file_is_an_error_naming_it(model_dir, tmp_path) -> None:
    trainer = make_trainer(model_dir, tmp_path / "run")
    trainer.buffer.add([episode(trainer, "a", 1.0, [1])])
    trainer.save_checkpoint()
    (missing,) = observation_dir(tmp_path / "run").iterdir()
    missing.unlink()
    with pytest.raises(FileNotFoundError, match=missing.name):
        make_trainer(model_dir, tmp_path / "run", resume=True)


# ---- sampling.max_prompt_tokens -----------------------------------------------------------------------------------

WIDE_PIXELS = 224 * 224
"""Screenshots of ~60 tokens each (the tiny model's processor allows 16 at most), so that they dominate a prompt
as they do on a real model."""


@pytest.fixture(scope="module")
def wide_model_dir(tmp_path_factory) -> Path:
    directory = build_tiny_qwen2vl(tmp_path_factory.mktemp("tiny-qwen2vl-wide"))
    config_file = directory / "preprocessor_config.json"
    config = json.loads(config_file.read_text())
    config["size"]["longest_edge"] = WIDE_PIXELS
    config_file.write_text(json.dumps(config))
    return directory


def capped_policy(model_dir: Path, max_prompt_tokens: int | None) -> VLMPolicy:
    torch.manual_seed(0)
    return VLMPolicy(ModelSettings(path=str(model_dir), lora=LoraSettings(rank=4, alpha=8)),
                     SamplingSettings(max_pixels=WIDE_PIXELS, max_new_tokens=6, context="trajectory",
                                      max_prompt_tokens=max_prompt_tokens))


def play(policy: VLMPolicy, keys: list[str], steps: int, on_step=None) -> dict[str, list[AgentAction]]:
    """`steps` turns of each episode in one batch per step, on screenshots seeded by (episode, step)."""
    task = Task(id=TASK_ID, instruction="Click the button labelled OK.")
    actions: dict[str, list[AgentAction]] = {k: [] for k in keys}
    for step in range(steps):
        turns = [Turn(key=k, task=task, observation={"screenshot": screenshot_of(k, step), "instruction": task.instruction},
                      step=step, history=[]) for k in keys]
        for t, action in zip(turns, policy.act(turns), strict=True):
            actions[t.key].append(action)
            if on_step is not None:
                on_step(t, action)
    return actions


def screenshot_of(key: str, step: int) -> np.ndarray:
    return np.random.default_rng([ord(c) for c in key] + [step]).integers(0, 256, (720, 1280, 3), dtype=np.uint8)


def test_a_capped_trajectory_prompt_keeps_the_latest_screens_and_says_how_many_it_dropped(wide_model_dir) -> None:
    policy = capped_policy(wide_model_dir, 400)
    replies = [a.token_ids for a in play(policy, ["x"], 3)["x"]]
    images = [policy.observe(screenshot_of("x", step)) for step in range(4)]
    prompt = Trajectory("Click the button labelled OK.", images, replies)
    omitted = policy.omitted_screens(prompt)
    assert 0 < omitted < 3
    encoded = policy.encode_trajectory(prompt)
    assert len(encoded.input_ids) <= 400
    assert sum(len(grid) for grid in encoded.image_inputs["image_grid_thw"]) == 4 - omitted
    text = policy.tokenizer.decode(encoded.input_ids)
    assert f"({omitted} earlier screens omitted)" in text and text.count("(omitted)") == omitted
    for reply in replies:  # every earlier reply stays, token for token
        assert any(encoded.input_ids[i : i + len(reply)] == reply for i in range(len(encoded.input_ids)))


def test_capped_trajectory_logprobs_equal_the_recomputed_ones_window_by_window(wide_model_dir) -> None:
    """Each step's reply is recomputed in its own rollout prompt: several windows per trajectory, one row each."""
    policy = capped_policy(wide_model_dir, 400)
    keys = ["x", "y"]
    actions = play(policy, keys, 5)
    samples = []
    for k in keys:
        images = [policy.observe(screenshot_of(k, step)) for step in range(5)]
        samples.append(policy.trajectory_windows(Trajectory("Click the button labelled OK.", images,
                                                            [a.token_ids for a in actions[k]])))
    assert all(len(windows) > 1 for windows in samples)
    assert all(len(e.input_ids) <= 400 + 6 for windows in samples for e in windows)
    with torch.no_grad():
        logprobs, mask = policy.response_logprobs(samples)
    for row, k in enumerate(keys):
        expected = torch.tensor([lp for a in actions[k] for lp in a.logprobs])
        assert mask[row].sum() == len(expected)
        torch.testing.assert_close(logprobs[row, : len(expected)], expected, atol=1e-5, rtol=0)


def test_a_capped_tgrpo_update_starts_from_the_stored_logprobs(wide_model_dir, tmp_path) -> None:
    """The trainer encodes trajectory samples window by window: the first minibatch's ratio is 1 on every token."""
    trainer = make_trainer(wide_model_dir, tmp_path / "run")
    trainer.policy.sampling = dataclasses.replace(trainer.policy.sampling, max_pixels=WIDE_PIXELS,
                                                  max_prompt_tokens=400)
    records: dict[str, list[StepRecord]] = {"x": [], "y": []}

    def keep(turn: Turn, action: AgentAction) -> None:
        record = StepRecord(action.text, logprobs=action.logprobs, token_ids=action.token_ids)
        trainer.store.keep(turn.key, turn.step, turn.observation, record)
        records[turn.key].append(record)

    play(trainer.policy, ["x", "y"], 5, on_step=keep)
    episodes = [Episode(TASK_ID, "Click the button labelled OK.", steps=records[k], score=float(k == "x"))
                for k in records]
    trainer.record.update(episodes)
    samples = training_samples(episodes, trainer.record, trainer.algo)
    trainer.config = dataclasses.replace(trainer.config, optim=dataclasses.replace(trainer.config.optim,
                                                                                   minibatch_size=2))
    stats = trainer.update(samples)
    assert stats["optimizer_steps"] == 1 and stats["clip_fraction"] == 0
    assert abs(stats["approx_kl"]) < 1e-6


def test_a_cap_below_the_current_screenshot_says_the_minimum(wide_model_dir) -> None:
    policy = capped_policy(wide_model_dir, 100)
    with pytest.raises(ValueError, match=r"max_prompt_tokens = 100 cannot hold .* set it to at least \d+"):
        play(policy, ["x"], 1)
    with pytest.raises(ValueError, match="max_prompt_tokens must be >= 0"):
        SamplingSettings(max_prompt_tokens=-1)


def test_prompt_token_counts_equal_the_encoded_lengths(wide_model_dir) -> None:
    """The cap is decided on counted tokens (no pixels processed): they must be the encoded ones."""
    policy = capped_policy(wide_model_dir, None)
    replies = [a.token_ids for a in play(policy, ["x"], 3)["x"]]
    images = [policy.observe(screenshot_of("x", step)) for step in range(4)]
    actions = policy.actions("pyautogui")
    for omitted in range(4):
        messages = trajectory_messages("Click the button labelled OK.", 4, actions, (1280, 720),
                                       policy.image_size(images[-1]), omitted=omitted)
        encoded = encode_chat(policy.processor, messages, images[omitted:], replies, eos_texts=policy.eos_texts)
        counted = count_chat_tokens(policy.processor, messages, [policy.image_tokens(i) for i in images[omitted:]],
                                    replies, eos_texts=policy.eos_texts)
        assert counted == len(encoded.input_ids)
