"""Randomly initialized Qwen2-VL checkpoints, written to a directory like a downloaded one (config, weights,
tokenizer, image processor, chat template), so that they load through the same local-path code as a real model.

    step-train init-model models/small --size small --suite widgets

Sizes (`SHAPES`; parameters with the `widgets` tokenizer):

- `tiny`, ~0.16M: 2 text layers of width 32, 1 vision block; images of at most 112x112 pixels. The tests train it.
- `small`, ~1.3M: 4 text layers of width 128 (4 heads, 2 KV heads, MLP 512), 1 vision block of width 32; images
  up to 640x360 pixels. The size for CPU experiments on the accessibility tree (`sampling.observation =
  "a11y"`): on 2 cores, 8 epochs of ~1,000 demonstration steps take ~10 min. Alone it learns the action
  format and typical places; with `model.pointer_head` it picks the named element (`benchmarks/RESULTS.md`). Its vision
  tower is a token, not a reader.
- `base`, ~11M: 6 text layers of width 256 (8 heads, 4 KV heads, MLP 1024), 4 vision blocks of width 256;
  images up to 640x360 pixels (a 640x360 screenshot is 616x336 after the processor: 264 image tokens; 320x180 is
  66). ~1 s per demonstration step and epoch with an a11y prompt on 2 cores: slow for a CPU experiment.
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

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from step_envs.actions import DIALECTS, ActionSet, smart_resize
from step_envs.agents.prompt import step_messages
from step_envs.core import DEFAULT_SCREEN
from step_envs.tasks import Task, builtin_tasks, load_task

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
    "small": Qwen2VLShape(hidden_size=128, intermediate_size=512, layers=4, heads=4, kv_heads=2, vision_depth=1,
                          vision_dim=32, vision_heads=2, vision_mlp_ratio=2, vocab_size=4096,
                          image_max_pixels=640 * 360),
    "base": Qwen2VLShape(hidden_size=256, intermediate_size=1024, layers=6, heads=8, kv_heads=4, vision_depth=4,
                         vision_dim=256, vision_heads=4, vision_mlp_ratio=4, vocab_size=4096,
                         image_max_pixels=640 * 360),
    "medium": Qwen2VLShape(hidden_size=768, intermediate_size=2048, layers=8, heads=12, kv_heads=4, vision_depth=6,
                           vision_dim=384, vision_heads=6, vision_mlp_ratio=4, vocab_size=4096,
                           image_max_pixels=640 * 360),
}
"""`tiny` for tests, `small` for learning on a CPU, `base` a wider CPU model, `medium` for the GPU smoke run (see
the module docstring)."""
CORPUS_SEEDS = 32
"""`init_model` adds this many instances of every template of the suite to the tokenizer's corpus, at the first
training seeds (`eval.train_seeds`; never a held-out one), so that the labels the templates draw are merged."""
CORPUS_IMAGE = smart_resize(640, 360)
"""The processor's size of a 640x360 screenshot: the frame of the image-pixel dialects' text."""


def prompt_texts(task: Task, actions: ActionSet) -> list[str]:
    """The text of the step prompts (`step_messages`) and replies of `task`'s solution, as `actions` writes them:
    the system prompt, then per step the user turn (instruction, earlier actions) and the action."""
    solution = list(task.solution or [])
    texts = []
    for step, action in enumerate(solution or [""]):
        for message in step_messages(task.instruction, solution[:step], actions, DEFAULT_SCREEN, CORPUS_IMAGE):
            content = message["content"]
            texts.append(content if isinstance(content, str) else "\n".join(c.get("text", "") for c in content))
        if action:
            texts.append(actions.render(action, DEFAULT_SCREEN, CORPUS_IMAGE))
    return list(dict.fromkeys(texts))


def corpus(tasks: Sequence[Task] | None = None) -> list[str]:
    """Text the tokenizer learns its merges from: `prompt_texts` of every task (default: the built-in tasks) in
    every dialect, plus typical actions and the chat roles."""
    tasks = [load_task(task_id) for task_id in builtin_tasks()] if tasks is None else tasks
    texts = [*CORPUS, "system", "user", "assistant"]
    for dialect in DIALECTS:
        actions = ActionSet(dialect, "pyautogui")
        for task in tasks:
            texts += prompt_texts(task, actions)
    return texts


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
    with a BPE tokenizer trained on `texts` (default: `corpus()`) and a pointer head (`step_train.policy.pointer`,
    used with `model.pointer_head`); the weights are seeded with `seed`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from step_train.policy.pointer import new_head, save_head

    shape = shape_named(shape) if isinstance(shape, str) else shape
    directory = Path(directory)
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=shape.vocab_size, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
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
    save_head(new_head(shape.hidden_size, seed), directory)  # what model.pointer_head starts from
    return directory


@dataclass(frozen=True)
class InitializedModel:
    """What `init_model` wrote."""

    path: Path
    parameters: int
    vocab_size: int
    corpus_tasks: int


def corpus_tasks(suite: str, per_template: int = CORPUS_SEEDS) -> list[Task]:
    """The suite's tasks, plus `per_template` instances of each of its templates at the first training seeds
    (`eval.train_seeds`), so that the tokenizer sees the labels the templates draw, never a held-out instance."""
    from step_envs.tasks.suites import load_suite
    from step_train.config import EvalSettings

    tasks = load_suite(suite)
    start, stop = EvalSettings.train_seeds
    templates = sorted({task.template for task in tasks if task.template})
    tasks += [load_task(f"{template}/{seed}") for template in templates
              for seed in range(start, min(stop, start + per_template))]
    return list({task.id: task for task in tasks}.values())


def parameter_count(directory: str | Path) -> int:
    """The parameters in a model directory's safetensors weights (read from the file headers, nothing loaded)."""
    from safetensors import safe_open

    total = 0
    for path in sorted(Path(directory).glob("*.safetensors")):
        with safe_open(str(path), "pt") as weights:
            total += sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys())
    return total


def init_model(directory: str | Path, size: str = "small", *, suite: str = "widgets", seed: int = 0) -> InitializedModel:
    """`step-train init-model`: a random Qwen2-VL of `size` in the new or empty `directory`, its tokenizer trained
    on `corpus(corpus_tasks(suite))`, its weights seeded with `seed`."""
    shape = shape_named(size)
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ValueError(f"{directory} is not an empty directory: init-model writes a new model; pass a new or "
                         "empty directory")
    tasks = corpus_tasks(suite)
    build_qwen2vl(directory, shape, seed=seed, texts=corpus(tasks))
    from transformers import AutoTokenizer

    vocab = len(AutoTokenizer.from_pretrained(str(directory)))
    return InitializedModel(directory, parameter_count(directory), vocab, len(tasks))
