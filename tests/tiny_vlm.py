"""The tiny random Qwen2-VL the tests train (`step_train.policy.init_model`'s `tiny` shape, ~150k parameters),
and `steer`, which makes it answer chosen texts so that some tasks get solved.
"""

from __future__ import annotations

from pathlib import Path

from step_train.policy.init_model import build_qwen2vl


def build_tiny_qwen2vl(directory: str | Path, *, seed: int = 0) -> Path:
    """Write a ~150k-parameter Qwen2-VL (2 text layers, 1 vision block, hidden size 32) to `directory`."""
    return build_qwen2vl(directory, "tiny", seed=seed)


def steer(
    directory: str | Path,
    replies: dict[str, float],
    prompts: list[tuple[str, list[str]]],
    *,
    max_pixels: int,
    image_size: tuple[int, int] = (1280, 720),
) -> None:
    """Edit the tiny model's output layer so that, at the start of a reply to any of `prompts`, it answers each
    text of `replies` (followed by the end-of-turn token) with log-odds about equal to its value.

    A random tiny model writes bytes that parse to nothing, so no task is ever solved and there is nothing to
    learn from. The final hidden state at a position is dominated by the last input token (the residual stream),
    so the rows of `lm_head` for the reply tokens can be solved for, by least squares, to give the wanted logits
    in each context (the prompt end and each reply prefix) and 0 in the others. No training, one forward pass
    per context; the prompts are built by the policy's own code. The result is a policy that succeeds sometimes.
    """
    import numpy as np
    import torch

    from step_train.policy import ModelSettings, SamplingSettings, VLMPolicy

    policy = VLMPolicy(ModelSettings(path=str(directory)), SamplingSettings(max_pixels=max_pixels))
    width, height = image_size
    image = policy.observe(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8))
    eos = policy.eos_ids[0]
    sequences = {text: policy.tokenizer(text)["input_ids"] + [eos] for text in replies}
    contexts: list[tuple[torch.Tensor, dict[int, float]]] = []
    with torch.no_grad(), policy.reference():
        for instruction, history in prompts:
            prompt = policy.encode_step(instruction, image, history).input_ids
            first = {ids[0]: value for ids, value in zip(sequences.values(), replies.values(), strict=True)}
            contexts.append((_last_hidden(policy, prompt, image), first))
            for ids in sequences.values():
                for k in range(1, len(ids)):
                    contexts.append((_last_hidden(policy, prompt + ids[:k], image), {ids[k]: 10.0}))
    hidden = torch.stack([h for h, _ in contexts])
    head = policy.model.get_base_model().lm_head.weight
    tokens = sorted({t for _, targets in contexts for t in targets})
    with torch.no_grad():
        for token in tokens:
            wanted = torch.tensor([[targets.get(token, 0.0)] for _, targets in contexts])
            head[token] = torch.linalg.lstsq(hidden, wanted).solution[:, 0]
    policy.model.unload().save_pretrained(directory)


def _last_hidden(policy, input_ids: list[int], image):
    """The input of `lm_head` at the last position of `input_ids` (one image, the prompt's)."""
    encoded = policy.encode_step("", image, [])
    encoded.input_ids = list(input_ids)
    encoded.mm_token_type_ids = [1 if i == policy.processor.image_token_id else 0 for i in input_ids]
    captured = []
    head = policy.model.get_base_model().lm_head
    handle = head.register_forward_hook(lambda module, args, output: captured.append(args[0]))
    try:
        policy.model(**policy._batch([encoded]), use_cache=False, logits_to_keep=1)
    finally:
        handle.remove()
    return captured[0][0, -1].float()
