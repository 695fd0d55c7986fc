"""`optim.recompute_old_logprobs`: before the first epoch the old log-probs come from the training forward pass,
so the first optimizer step starts on-policy (`rho = 1`) whatever rounding the rollout's `generate` did.

No desktops: the samples are the policy's own sampled replies to screenshots in the trainer's store, on a tiny
random Qwen2-VL in fp32 on the CPU, where generation and the training pass agree to ~1e-6. A shift added to the
stored log-probs stands in for bf16's disagreement.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_vlm import build_tiny_qwen2vl

from step_envs.episodes import StepRecord
from step_envs.tasks import Task
from step_train.algos import StepPrompt, StepSample, TrajectorySample
from step_train.algos.batch import with_old_logprobs
from step_train.config import BudgetSettings, OptimizerSettings, TrainConfig, load_config
from step_train.policy import LoraSettings, ModelSettings, SamplingSettings
from step_train.trainer import Trainer

MAX_PIXELS = 56 * 56 * 4
TASK = Task(id="t", instruction="Click the button labelled OK.")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny_qwen2vl(tmp_path_factory.mktemp("tiny-qwen2vl"))


def make_trainer(model_dir: Path, run_dir: Path, recompute: bool | str) -> Trainer:
    config = TrainConfig(
        run_dir=str(run_dir),
        model=ModelSettings(path=str(model_dir), lora=LoraSettings(rank=4, alpha=8)),
        sampling=SamplingSettings(max_new_tokens=6, max_pixels=MAX_PIXELS),
        budget=BudgetSettings(rounds=1, tasks_per_round=1),
        optim=OptimizerSettings(lr=1e-3, minibatch_size=8, micro_batch_size=2, recompute_old_logprobs=recompute),
        tensorboard=False,
    )
    return Trainer(config, tasks=[TASK])


def policy_samples(trainer: Trainer, shift: float = 0.0) -> list[StepSample]:
    """Four samples (advantages -1, +1, -1, +1) of the policy's replies to four screenshots; the stored old
    log-probs are the rollout's plus `shift`."""
    prompts = []
    for i in range(4):
        record = StepRecord(action="")
        screenshot = np.random.default_rng(i).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
        trainer.store.keep(f"episode-{i}", 0, {"screenshot": screenshot}, record)
        prompts.append(StepPrompt(TASK.instruction, record.observation_ref))
    policy = trainer.policy
    replies = policy.generate([policy.encode_step(p.instruction, trainer.store[p.observation_ref], p.history)
                               for p in prompts], seeds=range(4))
    return [
        StepSample(task_id=TASK.id, prompt=prompt, action="WAIT", token_ids=tuple(reply.token_ids),
                   old_logprobs=tuple(lp + shift for lp in reply.logprobs), advantage=1.0 if i % 2 else -1.0)
        for i, (prompt, reply) in enumerate(zip(prompts, replies, strict=True))
    ]


def update(model_dir: Path, tmp_path: Path, recompute: bool | str, shift: float = 0.0) -> dict:
    trainer = make_trainer(model_dir, tmp_path / f"run-{recompute}-{shift}", recompute)
    try:
        return trainer.update(policy_samples(trainer, shift))
    finally:
        trainer.close()


def test_recomputed_old_logprobs_equal_the_rollouts_in_fp32_and_the_update_runs(model_dir: Path, tmp_path) -> None:
    stats = update(model_dir, tmp_path, recompute=True)
    assert stats["optimizer_steps"] == 1 and stats["train_tokens"] > 0
    assert stats["logprob_drift"] < 1e-5
    assert stats["approx_kl"] < 1e-8 and stats["clip_fraction"] == 0.0


def test_recomputed_old_logprobs_replace_the_rollouts_in_the_loss(model_dir: Path, tmp_path: Path) -> None:
    # stored log-probs 0.3 below the policy's: rho = e^0.3 = 1.35 > 1 + clip_high unless they are recomputed
    recomputed = update(model_dir, tmp_path, recompute=True, shift=-0.3)
    assert recomputed["logprob_drift"] == pytest.approx(0.3, abs=1e-5)
    assert recomputed["approx_kl"] < 1e-8 and recomputed["clip_fraction"] == 0.0
    stored = update(model_dir, tmp_path, recompute=False, shift=-0.3)
    assert stored["logprob_drift"] is None
    assert stored["approx_kl"] == pytest.approx(np.expm1(0.3) - 0.3, rel=1e-3)  # k3 of log rho = 0.3
    assert stored["clip_fraction"] > 0


def test_auto_recomputes_on_cuda_only(model_dir: Path, tmp_path: Path) -> None:
    stats = update(model_dir, tmp_path, recompute="auto", shift=-0.3)
    assert (stats["logprob_drift"] is not None) == torch.cuda.is_available()


def test_unknown_recompute_setting_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="recompute_old_logprobs 'sometimes'; known: auto, true, false"):
        load_config(None, ["optim.recompute_old_logprobs=sometimes"])


def test_recomputed_logprobs_are_cut_back_into_a_trajectorys_steps() -> None:
    sample = TrajectorySample(task_id="t", instruction="i", observation_refs=("a", "b", "c"), actions=("x", "y", "z"),
                              old_logprobs=((-1.0, -2.0), (), (-3.0,)), token_ids=((1, 2), (), (3,)), advantage=1.0)
    assert with_old_logprobs(sample, [-0.5, -0.25, -0.125]).old_logprobs == ((-0.5, -0.25), (), (-0.125,))
    with pytest.raises(ValueError, match="has 3 response tokens, got 2 log-probs"):
        with_old_logprobs(sample, [-0.5, -0.25])
