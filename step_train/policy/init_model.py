"""Randomly initialized Qwen2-VL checkpoints, written to a directory like a downloaded one (config, weights,
tokenizer, image processor, chat template), so that they load through the same local-path code as a real model.

    step-train init-model models/small --size small --suite widgets

Sizes (`SHAPES`; parameters with the `widgets` tokenizer):

- `tiny`, ~0.2M: 2 text layers of width 32, 1 vision block; images of at most 112x112 pixels. The tests train it.
- `small`, ~12M: 6 text layers of width 256 (8 heads, 4 KV heads, MLP 1024), 4 vision blocks of width 256;
  images up to 640x360 (299 image tokens). A model for learning on a CPU.
- `medium`, ~67M: 8 text layers of width 768, 6 vision blocks of width 384; what `benchmarks/gpu_smoke.py`
  runs to give a GPU real work.

The tokenizer is a byte-level BPE trained here (no download) on a corpus of the step prompt's fixed text in every
dialect, the suite's instructions and its solutions' actions as each dialect writes them (`corpus`), so prompts
are short in tokens (CPU time goes with the sequence length). Digits are split before the byte-level step, so
every digit is one token and never part of a merge: a coordinate like `476` is the three tokens `4 7 6`, the same
three at any position, which a model can learn to point with. The chat template is Qwen's layout
(`<|im_start|>role ... <|im_end|>`, `<|vision_start|><|image_pad|><|vision_end|>` per image).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Qwen2VLShape:
    """The sizes of a random Qwen2-VL: language model, vision tower, vocabulary and the processor's image size."""

    hidden_size: int
    intermediate_size: int
    layers: int
    heads: int
    kv_heads: int
    vision_depth: int
    vision_dim: int
    vision_heads: int
    vision_mlp_ratio: int
    vocab_size: int
    """At most this many tokens (the BPE stops earlier when the corpus has no more merges)."""
    image_max_pixels: int
    """The image processor resizes to at most this many pixels: `image_max_pixels / 784` image tokens."""

    @property
    def mrope_section(self) -> list[int]:
        """Qwen2-VL's split of the rotary half-dimension over (time, height, width): 1/4, 3/8, 3/8 (16/24/24 of 64
        in the released models), the remainder on time."""
        half = self.hidden_size // self.heads // 2
        spatial = 3 * half // 8
        return [half - 2 * spatial, spatial, spatial]


SHAPES = {
    "tiny": Qwen2VLShape(hidden_size=32, intermediate_size=64, layers=2, heads=4, kv_heads=2, vision_depth=1,
                         vision_dim=32, vision_heads=2, vision_mlp_ratio=2, vocab_size=1200,
                         image_max_pixels=112 * 112),
    "small": Qwen2VLShape(hidden_size=768, intermediate_size=2048, layers=8, heads=12, kv_heads=4, vision_depth=6,
                          vision_dim=384, vision_heads=6, vision_mlp_ratio=4, vocab_size=4096,
                          image_max_pixels=640 * 360),
}
"""`tiny`: ~150k parameters, for tests on a CPU. `small`: ~67M parameters, for the GPU smoke run."""


def corpus() -> list[str]:
    """Text the tokenizer learns its merges from: the prompts' fixed parts and typical actions, so that prompts
    are short in tokens (the tests' CPU time goes with the sequence length)."""
    from step_envs.actions import ActionSet
    from step_envs.tasks import builtin_tasks, load_task

    texts = [ActionSet(space).describe((1280, 720)) for space in ("pyautogui", "computer_13")]
    texts += ["Task: Previous actions: none. Current screen: What is the next action?", *CORPUS]
    for task_id in builtin_tasks():
        task = load_task(task_id)
        texts += [task.instruction, *map(str, task.solution or [])]
    return texts * 5


def shape_named(name: str) -> Qwen2VLShape:
    try:
        return SHAPES[name]
    except KeyError:
        raise ValueError(f"unknown model shape {name!r}; known: {', '.join(SHAPES)}") from None


def build_qwen2vl(
    directory: str | Path,
    shape: Qwen2VLShape | str = "tiny",
    *,
    seed: int = 0,
    texts: Iterable[str] | None = None,
) -> Path:
    """Write a randomly initialized Qwen2-VL of `shape` (a `Qwen2VLShape` or a name of `SHAPES`) to `directory`,
    with a BPE tokenizer trained on `texts` (default: `corpus()`); the weights are seeded with `seed`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    shape = shape_named(shape) if isinstance(shape, str) else shape
    directory = Path(directory)
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=shape.vocab_size, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(corpus() if texts is None else list(texts), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>", chat_template=CHAT_TEMPLATE
    )
    ids = {token: fast.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": tokenizer.get_vocab_size(),
            "hidden_size": shape.hidden_size,
            "intermediate_size": shape.intermediate_size,
            "num_hidden_layers": shape.layers,
            "num_attention_heads": shape.heads,
            "num_key_value_heads": shape.kv_heads,
            "rope_parameters": {"rope_type": "default", "mrope_section": shape.mrope_section, "rope_theta": 10000.0},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": shape.vision_depth,
            "embed_dim": shape.vision_dim,
            "hidden_size": shape.hidden_size,  # the merger projects the image tokens to the text width
            "num_heads": shape.vision_heads,
            "mlp_ratio": shape.vision_mlp_ratio,
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
    Qwen2VLImageProcessorPil(min_pixels=28 * 28, max_pixels=shape.image_max_pixels).save_pretrained(directory)
    return directory
