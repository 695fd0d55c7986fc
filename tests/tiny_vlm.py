"""A tiny randomly initialized Qwen2-VL written to a directory like a downloaded one (config, weights, tokenizer,
image processor, chat template), so tests load it through the same local-path code as a real model.

The tokenizer is a byte-level BPE trained on a few action strings (no download); the chat template is Qwen's
layout (`<|im_start|>role ... <|im_end|>`, `<|vision_start|><|image_pad|><|vision_end|>` per image).
"""

from __future__ import annotations

from pathlib import Path

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = [
    "pyautogui.click(100, 200)",
    "pyautogui.doubleClick(640, 360)",
    "pyautogui.typewrite('hello world')",
    "pyautogui.hotkey('ctrl', 's')",
    "pyautogui.press('enter')",
    "WAIT",
    "DONE",
    "FAIL",
    "Task: click the button. Previous actions: none. Current screen: What is the next action?",
]


def corpus() -> list[str]:
    """Text the tokenizer learns its merges from: the prompts' fixed parts and typical actions, so that prompts
    are short in tokens (the tests' CPU time goes with the sequence length)."""
    from step_envs.agents.prompt import system_prompt
    from step_envs.tasks import builtin_tasks, load_task

    texts = [system_prompt(space, (1280, 720)) for space in ("pyautogui", "computer_13")]
    texts += ["Task: Previous actions: none. Current screen: What is the next action?", *CORPUS]
    for task_id in builtin_tasks():
        task = load_task(task_id)
        texts += [task.instruction, *map(str, task.solution or [])]
    return texts * 5


def build_tiny_qwen2vl(directory: str | Path, *, seed: int = 0, vocab_size: int = 1200) -> Path:
    """Write a ~100k-parameter Qwen2-VL (2 text layers, 1 vision block, hidden size 32) to `directory`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    directory = Path(directory)
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(corpus(), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>", chat_template=CHAT_TEMPLATE
    )
    ids = {token: fast.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": tokenizer.get_vocab_size(),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "rope_parameters": {"rope_type": "default", "mrope_section": [2, 1, 1], "rope_theta": 10000.0},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 1,
            "embed_dim": 32,
            "hidden_size": 32,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(directory)
    fast.save_pretrained(directory)
    Qwen2VLImageProcessorPil(min_pixels=28 * 28, max_pixels=112 * 112).save_pretrained(directory)
    return directory



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
