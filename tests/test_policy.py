"""The VLM policy on a tiny random Qwen2-VL loaded from a directory: prompts, seeded batched generation,
log-probs that the training pass reproduces, LoRA placement, the adapters-off reference, the config files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_vlm import build_tiny_qwen2vl

from step_envs.pool.agent import AgentAction, Turn
from step_envs.tasks import Task
from step_train.config import load_config
from step_train.policy import LoraSettings, ModelSettings, SamplingSettings, Trajectory, VLMPolicy
from step_train.policy.model import is_vision_module

MAX_PIXELS = 56 * 56 * 4
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny_qwen2vl(tmp_path_factory.mktemp("tiny-qwen2vl"))


def make_policy(model_dir: Path, context: str = "step", max_new_tokens: int = 10) -> VLMPolicy:
    torch.manual_seed(0)
    return VLMPolicy(
        ModelSettings(path=str(model_dir), lora=LoraSettings(rank=4, alpha=8)),
        SamplingSettings(max_pixels=MAX_PIXELS, max_new_tokens=max_new_tokens, context=context),
    )


@pytest.fixture(scope="module")
def policy(model_dir: Path) -> VLMPolicy:
    return make_policy(model_dir)


def turn(key: str, step: int = 0, history: list[str] | None = None, seed: int = 0, size=(720, 1280)) -> Turn:
    screenshot = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    task = Task(id="t", instruction="Click the button labelled OK.")
    return Turn(key=key, task=task, observation={"screenshot": screenshot, "instruction": task.instruction},
                step=step, history=history or [])


def test_loads_through_auto_classes_with_lora_on_the_language_model_only(policy: VLMPolicy) -> None:
    trainable = [n for n, p in policy.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert not any(is_vision_module(n) for n in trainable)
    assert policy.dtype == torch.float32 and policy.device.type == "cpu"


def test_missing_model_directory_says_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config.json"):
        VLMPolicy(ModelSettings(path=str(tmp_path / "nope")))


def test_act_returns_actions_with_tokens_and_unparsable_replies_are_waits(policy: VLMPolicy) -> None:
    actions = policy.act([turn("a"), turn("b", 1, ["WAIT"], seed=1)])
    assert len(actions) == 2
    for action in actions:
        assert isinstance(action, AgentAction)
        assert len(action.token_ids) == len(action.logprobs) >= 1
        assert all(lp <= 0 for lp in action.logprobs)
        if action.parse_error:  # a random model mostly writes noise: a no-op step, not a crash
            assert action.text == "WAIT"


def test_generation_logprobs_equal_recomputed_logprobs_on_cpu(policy: VLMPolicy) -> None:
    turns = [turn("a"), turn("b", 2, ["WAIT", "DONE"], seed=1, size=(600, 800)), turn("c", 1, ["FAIL"], seed=2)]
    actions = policy.act(turns)
    encodings = [
        policy.encode_step(t.observation["instruction"], policy.observe(t.observation["screenshot"]), t.history,
                           response=a.token_ids)
        for t, a in zip(turns, actions, strict=True)
    ]
    with torch.no_grad():
        logprobs, mask = policy.response_logprobs(encodings)
    for row, action in enumerate(actions):
        n = len(action.logprobs)
        assert mask[row].sum() == n
        torch.testing.assert_close(logprobs[row, :n], torch.tensor(action.logprobs), atol=1e-5, rtol=0)


def test_trajectory_prompt_logprobs_equal_recomputed_logprobs(model_dir: Path) -> None:
    policy = make_policy(model_dir, context="trajectory")
    keys = ["x", "y"]
    replies: dict[str, list[AgentAction]] = {k: [] for k in keys}
    screens = {k: [] for k in keys}
    for step in range(3):
        turns = [turn(k, step, [a.text for a in replies[k]], seed=10 * i + step) for i, k in enumerate(keys)]
        for t, action in zip(turns, policy.act(turns), strict=True):
            replies[t.key].append(action)
            screens[t.key].append(policy.observe(t.observation["screenshot"]))
    encodings = [policy.trajectory_windows(Trajectory("Click the button labelled OK.", screens[k],
                                                      [a.token_ids for a in replies[k]])) for k in keys]
    with torch.no_grad():
        logprobs, mask = policy.response_logprobs(encodings)
    for row, k in enumerate(keys):
        expected = torch.tensor([lp for a in replies[k] for lp in a.logprobs])
        assert mask[row].sum() == len(expected)
        torch.testing.assert_close(logprobs[row, : len(expected)], expected, atol=1e-5, rtol=0)


def test_a_turn_samples_the_same_reply_whatever_else_is_in_the_batch(policy: VLMPolicy) -> None:
    alone = policy.act([turn("k", seed=3)])[0]
    batched = policy.act([turn("other", 1, ["WAIT"], seed=4), turn("k", seed=3)])[1]
    assert alone.token_ids == batched.token_ids
    policy.round += 1
    try:
        next_round = policy.act([turn("k", seed=3)])[0]
    finally:
        policy.round -= 1
    assert next_round.token_ids != alone.token_ids or next_round.logprobs != alone.logprobs


def test_reference_policy_is_the_model_with_adapters_disabled(model_dir: Path) -> None:
    policy = make_policy(model_dir)
    action = policy.act([turn("a")])[0]
    encoded = [policy.encode_step("Click the button labelled OK.", policy.observe(turn("a").observation["screenshot"]),
                                  [], response=action.token_ids)]
    with torch.no_grad():
        before = policy.response_logprobs(encoded)[0]
        for name, parameter in policy.model.named_parameters():
            if "lora_B" in name:
                parameter.add_(0.5)
        changed = policy.response_logprobs(encoded)[0]
        with policy.reference():
            reference = policy.response_logprobs(encoded)[0]
    assert not torch.allclose(before, changed)
    torch.testing.assert_close(reference, before, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["step-qwen2vl-2b.toml", "tgrpo-qwen2vl-2b.yaml"])
def test_example_configs_load_and_flags_override(name: str) -> None:
    config = load_config(REPO / "configs" / name, ["model.path=/models/x", "env.num_envs=2", "algo.sampler.copies=4"])
    assert config.model.path == "/models/x" and config.env.num_envs == 2 and config.algo.sampler.copies == 4
    expected = "trajectory" if config.algo.algorithm == "tgrpo" else "step"
    assert config.resolved().sampling.context == expected


def test_unknown_config_key_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown key.*rnak.*known: alpha"):
        load_config(None, ["model.lora.rnak=4"])
