"""The lean decode loop (`sampling.lean_decode`, `step_train.policy.decode`) against transformers' `generate` on
tiny random Qwen2-VLs: the same tokens and log-probs, sampled and greedy, with screenshots or the accessibility
table, left padding, merged and unmerged LoRA, the pointer head's forced digits; a model it cannot write, or
whose check fails, decodes with `generate`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from test_pointer import NAMES, Scripted, tree
from tiny_vlm import build_tiny_qwen2vl

from step_train.policy import LoraSettings, ModelSettings, SamplingSettings, VLMPolicy
from step_train.policy import vlm as vlm_module
from step_train.policy.decode import LeanDecoder

IMAGE_PIXELS = 56 * 56 * 4


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny_qwen2vl(tmp_path_factory.mktemp("tiny-qwen2vl"))


def policy_pair(model_dir: Path, **sampling) -> tuple[VLMPolicy, VLMPolicy]:
    """The same model and adapters twice: one decoding with the lean loop, one with `generate`."""
    pointer = sampling.pop("pointer_head", False)
    settings = SamplingSettings(max_new_tokens=12, max_pixels=IMAGE_PIXELS, **sampling)
    made = []
    for lean in (True, False):
        torch.manual_seed(0)
        made.append(VLMPolicy(ModelSettings(path=str(model_dir), pointer_head=pointer, lora=LoraSettings(rank=4)),
                              dataclasses.replace(settings, lean_decode=lean)))
    lean_policy, hf_policy = made
    with torch.no_grad():  # adapters that change the outputs (fresh LoRA B is zero)
        generator = torch.Generator().manual_seed(1)
        for (name, a), (_, b) in zip(lean_policy.model.named_parameters(), hf_policy.model.named_parameters(),
                                     strict=True):
            if "lora_B" in name:
                a.copy_(torch.randn(a.shape, generator=generator) * 0.05)
                b.copy_(a)
    return lean_policy, hf_policy


def screenshot_prompts(policy: VLMPolicy):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size, dtype=np.uint8) for size in ((720, 1280, 3), (600, 800, 3), (720, 1280, 3))]
    histories = [[], ["WAIT", "DONE", "click(3, 4)"], ["FAIL"]]  # prompts of different lengths: left padding
    return [policy.encode_step("Click the button labelled OK.", policy.observe(image), history)
            for image, history in zip(images, histories, strict=True)]


def table_prompts(policy: VLMPolicy):
    image = policy.observe(np.zeros((720, 1280, 3), dtype=np.uint8))
    return [policy.encode_step(f"Click {NAMES[count - 1]}", image, ["WAIT"] * (count % 3), a11y_tree=tree(count))
            for count in (3, 7, 12)]


def same_generations(lean: VLMPolicy, hf: VLMPolicy, prompts_of, seeds=(11, 12, 13)) -> None:
    ours = lean.generate(prompts_of(lean), list(seeds))
    theirs = hf.generate(prompts_of(hf), list(seeds))
    for a, b in zip(ours, theirs, strict=True):
        assert a.token_ids == b.token_ids
        assert a.text == b.text
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-4)
    assert lean._lean is not None and lean._lean.verified and not lean._lean.disabled_because
    assert hf._lean is False  # never looked up: generate all along


@pytest.mark.parametrize("greedy, apart", [(False, True), (True, True), (False, False)])
def test_screenshot_prompts_decode_as_generate_does(model_dir: Path, greedy: bool, apart: bool, monkeypatch) -> None:
    lean, hf = policy_pair(model_dir)
    lean.greedy = hf.greedy = greedy
    monkeypatch.setattr(lean, "_prefill_apart", lambda: apart)  # False: the padded batch at once, as on a GPU
    same_generations(lean, hf, screenshot_prompts)
    assert lean._lean.verified == {True}  # prompts with images were checked against transformers' forward


@pytest.mark.parametrize("apart", [True, False])
def test_table_prompts_decode_as_generate_does_with_unmerged_lora(model_dir: Path, apart: bool, monkeypatch) -> None:
    lean, hf = policy_pair(model_dir, observation="a11y", merge_lora=False)
    monkeypatch.setattr(lean, "_prefill_apart", lambda: apart)
    same_generations(lean, hf, table_prompts)
    assert lean._lean.verified == {False}


@pytest.mark.parametrize("apart", [True, False])
def test_the_pointer_heads_digits_come_out_the_same(model_dir: Path, apart: bool, monkeypatch) -> None:
    lean, hf = policy_pair(model_dir, observation="a11y", a11y_tags=True, pointer_head=True)
    monkeypatch.setattr(lean, "_prefill_apart", lambda: apart)
    scripts = []

    def scripted(*_args):
        scripts.append(Scripted(lean.tokenizer, lean.eos_ids[0]))
        return scripts[-1]

    monkeypatch.setattr(vlm_module, "SeededSampling", scripted)
    ours = lean.generate(table_prompts(lean), [1, 2, 3])
    theirs = hf.generate(table_prompts(hf), [1, 2, 3])
    assert all("tag_" in g.text for g in ours)
    assert [g.text for g in ours] == [g.text for g in theirs]
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-4)


def test_a_failed_check_falls_back_to_generate_for_good(model_dir: Path, monkeypatch, caplog) -> None:
    lean, hf = policy_pair(model_dir)
    real_step = LeanDecoder._step

    def off_by_a_little(self, *args):
        return real_step(self, *args) + 0.5  # what a layout the loop gets wrong would give

    monkeypatch.setattr(LeanDecoder, "_step", off_by_a_little)
    ours = lean.generate(screenshot_prompts(lean), [11, 12, 13])
    theirs = hf.generate(screenshot_prompts(hf), [11, 12, 13])
    assert [g.token_ids for g in ours] == [g.token_ids for g in theirs]  # this very call redone with generate
    assert "lean decoding is off" in caplog.text and lean._lean.disabled_because
    assert lean._lean_decoder() is None


def test_a_model_without_qwen2s_layout_is_not_taken() -> None:
    assert LeanDecoder.for_model(torch.nn.Linear(2, 2)) is None


def test_repeated_prompts_come_from_the_cache_with_the_same_replies(model_dir: Path) -> None:
    cached, hf = policy_pair(model_dir, observation="a11y", a11y_tags=True, pointer_head=True)

    def prompts(policy: VLMPolicy):  # a group's copies: the same prompt three times, and one other
        first, second = table_prompts(policy)[:2]
        return [first, second, first, first]

    seeds = [21, 22, 23, 24]
    for _ in range(2):
        ours, theirs = cached.generate(prompts(cached), seeds), hf.generate(prompts(hf), seeds)
        for a, b in zip(ours, theirs, strict=True):
            assert a.token_ids == b.token_ids
            np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-4)
        seeds = [s + 10 for s in seeds]
        with torch.no_grad():  # a forward pass undoes the merge; merged again, the weights are the same
            image = cached.observe(np.zeros((720, 1280, 3), dtype=np.uint8))
            cached.response_logprobs([cached.encode_step("Click OK", image, [], response=[5, 6], a11y_tree=tree(3))])
    cache = cached._lean.cache
    assert (cache.misses, cache.hits) == (2, 6)  # two prompts prefilled once each; their six repeats were not
    assert len(cache.entries) == 2 and 0 < cache.size <= cache.capacity


def test_the_cache_forgets_prompts_once_the_weights_change(model_dir: Path) -> None:
    cached, hf = policy_pair(model_dir, observation="a11y")
    cached.generate(table_prompts(cached), [1, 2, 3])
    assert len(cached._lean.cache.entries) == 3
    for policy in (cached, hf):  # an optimizer step on the adapters
        image = policy.observe(np.zeros((720, 1280, 3), dtype=np.uint8))
        sample = policy.encode_step("Click OK", image, [], response=[5, 6, 7], a11y_tree=tree(3))
        policy.response_logprobs([sample])[0].sum().backward()
        torch.optim.SGD(policy.trainable_parameters(), lr=1.0).step()
    ours, theirs = cached.generate(table_prompts(cached), [4, 5, 6]), hf.generate(table_prompts(hf), [4, 5, 6])
    assert [g.token_ids for g in ours] == [g.token_ids for g in theirs]
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-4)
    assert cached._lean.cache.hits == 0  # every prompt prefilled again under the new weights


def test_prompt_cache_off_and_prompts_with_images_are_not_kept(model_dir: Path) -> None:
    off, _ = policy_pair(model_dir, observation="a11y", prompt_cache_mb=0)
    off.generate(table_prompts(off)[:1] * 2, [1, 2])
    assert off._lean.cache.entries == {} and off._lean.cache.hits == 0
    shown, _ = policy_pair(model_dir)
    shown.generate(screenshot_prompts(shown)[:1] * 2, [1, 2])
    assert shown._lean.cache.entries == {}
    with pytest.raises(ValueError, match="prompt_cache_mb must be >= 0"):
        SamplingSettings(prompt_cache_mb=-1)
