"""A checkpoint's `generation_config.json` never changes what the policy samples from: the tokens are the seeded
draws from `softmax(logits / T)` of the training forward pass, the distribution whose log-probs are stored, unless
`sampling.use_generation_config` asks for the checkpoint's temperature (other options are then refused)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_vlm import build_tiny_qwen2vl

from step_train.policy import LoraSettings, ModelSettings, SamplingSettings, VLMPolicy, turn_seed
from step_train.policy.prompts import Encoded
from step_train.policy.sampling import suppress

MAX_PIXELS = 56 * 56 * 4
INSTRUCTION = "Click the button labelled OK."
QWEN_STYLE_DEFAULTS = {"do_sample": True, "temperature": 0.7, "top_k": 20, "top_p": 0.8, "repetition_penalty": 1.05,
                       "no_repeat_ngram_size": 1}
"""What Qwen Instruct checkpoints ship (plus an n-gram ban, so that a processor run before ours shows plainly)."""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny_qwen2vl(tmp_path_factory.mktemp("tiny-qwen2vl"))


def with_generation_defaults(model_dir: Path, directory: Path, options: dict) -> Path:
    """A copy of the checkpoint whose `generation_config.json` also sets `options`."""
    shutil.copytree(model_dir, directory)
    path = directory / "generation_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **options}))
    return directory


def load(directory: Path, **sampling) -> VLMPolicy:
    torch.manual_seed(0)
    return VLMPolicy(ModelSettings(path=str(directory), lora=LoraSettings(rank=4, alpha=8)),
                     SamplingSettings(max_pixels=MAX_PIXELS, max_new_tokens=12, **sampling))


def screenshot(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (720, 1280, 3), dtype=np.uint8)


def replayed_draws(policy: VLMPolicy, encoded: Encoded, seed: int) -> list[int]:
    """What a generator seeded with `seed` draws, token after token, from `softmax(logits / T)` of one full forward
    pass over the prompt and reply (the placeholder tokens suppressed, as in the policy)."""
    logits = policy.model(**policy._batch([encoded]), use_cache=False).logits[0].float()
    start, end = encoded.reply_spans[0]
    probs = torch.softmax(suppress(logits[start - 1 : end - 1], policy.suppressed_ids) / policy.sampling.temperature,
                          dim=-1)
    generator = torch.Generator().manual_seed(seed)
    return [int(torch.multinomial(p, 1, generator=generator)) for p in probs]


def test_checkpoint_generation_defaults_are_ignored_so_tokens_are_draws_from_the_stored_distribution(
    model_dir: Path, tmp_path: Path
) -> None:
    policy = load(with_generation_defaults(model_dir, tmp_path / "qwen-style", QWEN_STYLE_DEFAULTS))
    assert policy.sampling.temperature == 1.0
    images = [policy.observe(screenshot(seed)) for seed in range(3)]
    prompts = [policy.encode_step(INSTRUCTION, image, history) for image, history in
               zip(images, ([], ["WAIT"], ["WAIT", "DONE"]), strict=True)]
    seeds = [turn_seed(0, 0, key, 0) for key in "abc"]
    generations = policy.generate(prompts, seeds)
    encodings = [policy.encode_step(INSTRUCTION, image, history, response=g.token_ids) for image, history, g in
                 zip(images, ([], ["WAIT"], ["WAIT", "DONE"]), generations, strict=True)]
    with torch.no_grad():
        logprobs, mask = policy.response_logprobs(encodings)
        replayed = [replayed_draws(policy, e, seed) for e, seed in zip(encodings, seeds, strict=True)]
    for row, generation in enumerate(generations):
        n = len(generation.token_ids)
        assert mask[row].sum() == n == len(generation.logprobs)
        torch.testing.assert_close(logprobs[row, :n], torch.tensor(generation.logprobs), atol=1e-5, rtol=0)
        assert replayed[row] == generation.token_ids


def test_use_generation_config_adopts_the_checkpoint_temperature(model_dir: Path, tmp_path: Path) -> None:
    directory = with_generation_defaults(model_dir, tmp_path / "sampling-only",
                                         {"do_sample": True, "temperature": 0.7, "top_k": 0, "top_p": 1.0})
    assert load(directory, use_generation_config=True).sampling.temperature == 0.7
    assert load(directory).sampling.temperature == 1.0


def test_use_generation_config_refuses_options_the_loss_cannot_recompute_and_lists_them(
    model_dir: Path, tmp_path: Path
) -> None:
    directory = with_generation_defaults(model_dir, tmp_path / "qwen-style", QWEN_STYLE_DEFAULTS)
    with pytest.raises(ValueError, match=r"no_repeat_ngram_size=1, repetition_penalty=1\.05, top_k=20, top_p=0\.8: "
                                         r".*use_generation_config = false"):
        load(directory, use_generation_config=True)


def test_use_generation_config_refuses_a_greedy_checkpoint(model_dir: Path, tmp_path: Path) -> None:
    directory = with_generation_defaults(model_dir, tmp_path / "greedy", {"do_sample": False, "temperature": 0.1})
    with pytest.raises(ValueError, match="does not set do_sample=true.*must sample"):
        load(directory, use_generation_config=True)
