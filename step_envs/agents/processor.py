"""Loading a vision-language model's processor from a local directory, shared by the `hf` agent and the trainer.

`load_processor(path)` returns the directory's `AutoProcessor`. Recent transformers build Qwen2-VL-family
processors with a video processor that needs torchvision; where torchvision is missing (a CPU-only torch without a
matching torchvision wheel) the processor is assembled from the directory's tokenizer and image processor instead,
doing what the Qwen2-VL processor does for images: expand each image placeholder to one token per merged patch.

transformers and torch are imported inside the functions: `import step_envs` never loads them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from PIL import Image

from step_envs.actions import smart_resize

log = logging.getLogger(__name__)


class QwenStyleProcessor:
    """Tokenizer + image processor doing the Qwen2-VL processor's job for images (no video, no torchvision).

    Each `image_token` in the text becomes `grid_t * grid_h * grid_w / merge_size**2` copies of itself, where
    `image_grid_thw` comes from the image processor, exactly as `Qwen2VLProcessor.replace_image_token` does.
    """

    def __init__(self, tokenizer: Any, image_processor: Any, image_token: str = "<|image_pad|>") -> None:
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.image_token = getattr(tokenizer, "image_token", None) or image_token
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.chat_template = getattr(tokenizer, "chat_template", None)

    def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        return self.tokenizer.apply_chat_template(messages, **kwargs)

    def __call__(self, text: list[str] | str, images: list[Image.Image] | None = None, **_: Any) -> dict[str, Any]:
        import torch

        (prompt,) = [text] if isinstance(text, str) else text
        image_inputs: dict[str, Any] = {}
        if images:
            image_inputs = dict(self.image_processor(images=images, return_tensors="pt"))
            merge = self.image_processor.merge_size**2
            pieces = prompt.split(self.image_token)
            if len(pieces) - 1 != len(images):
                raise ValueError(f"{len(pieces) - 1} image placeholders in the prompt for {len(images)} images")
            counts = [int(grid.prod()) // merge for grid in image_inputs["image_grid_thw"]]
            prompt = pieces[0] + "".join(self.image_token * n + rest for n, rest in zip(counts, pieces[1:], strict=True))
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        types = [1 if i == self.image_token_id else 0 for i in ids]
        return {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
                "mm_token_type_ids": torch.tensor([types]), **image_inputs}


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def check_model_dir(path: str | Path) -> Path:
    """A local model directory with config.json, weights and processor files; the error names what is missing."""
    directory = Path(path).expanduser()
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(
            f"no model at {directory}: expected a local directory with config.json, the weights and the processor "
            "files (download one first, e.g. a Qwen2-VL-2B-Instruct snapshot, and pass its path)"
        )
    if not any((directory / name).is_file() for name in WEIGHT_FILES):
        raise FileNotFoundError(f"{directory} has config.json but no weights: expected one of {', '.join(WEIGHT_FILES)}")
    return check_processor_dir(directory)


def _json_keys(path: Path) -> set[str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return set()
    return set(data) if isinstance(data, dict) else set()


def check_processor_dir(path: str | Path) -> Path:
    """A model directory with processor files; the error names what is missing."""
    directory = Path(path).expanduser()
    if not (directory / "tokenizer_config.json").is_file() and not (directory / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{directory} has no tokenizer (tokenizer.json / tokenizer_config.json): copy the "
                                "model's processor files next to its weights")
    if not (directory / "preprocessor_config.json").is_file() and "image_processor" not in _json_keys(
            directory / "processor_config.json"):
        raise FileNotFoundError(f"{directory} has no image processor (preprocessor_config.json): copy the model's "
                                "processor files next to its weights")
    return directory


def load_processor(path: str | Path) -> Any:
    """The model directory's processor; the Qwen-style stand-in when only the torchvision video part is missing."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    directory = check_processor_dir(path)
    try:
        processor = AutoProcessor.from_pretrained(str(directory))
    except ImportError as error:
        if "torchvision" not in str(error).lower():
            raise
        processor = None
    if processor is None or not hasattr(processor, "image_processor"):
        image_processor = AutoImageProcessor.from_pretrained(str(directory))
        if not hasattr(image_processor, "merge_size"):
            raise ImportError(f"the processor of {directory} needs torchvision; install the torchvision build that "
                              "matches your torch")
        log.info("torchvision missing: building a Qwen-style processor from the tokenizer and image processor")
        processor = QwenStyleProcessor(AutoTokenizer.from_pretrained(str(directory)), image_processor)
    return processor


def processor_tokenizer(processor: Any) -> Any:
    return getattr(processor, "tokenizer", processor)


def image_token(processor: Any) -> str | None:
    """The placeholder one image leaves in rendered chat text (None for text-only processors)."""
    return getattr(processor, "image_token", None)


GENERATION_TOKEN_IDS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")


def token_ids_only(config: Any) -> Any:
    """A `GenerationConfig` with only the token ids of `config` (which tokens start, end and pad a sequence).

    transformers fills every option a `generate` call leaves unset from the model's generation config (a
    checkpoint's repetition penalty, top-k, top-p, ...); a model given this config samples what the caller asks."""
    from transformers import GenerationConfig

    token_ids = {k: getattr(config, k, None) for k in GENERATION_TOKEN_IDS}
    return GenerationConfig(**{k: v for k, v in token_ids.items() if v is not None})


def model_image_size(processor: Any, size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the image the model sees for an input image of `size`: the processor's own resize rule
    for Qwen2-VL-family image processors (patch size x merge size, min/max pixels), else `size` unchanged."""
    image_processor = getattr(processor, "image_processor", None)
    patch, merge = getattr(image_processor, "patch_size", None), getattr(image_processor, "merge_size", None)
    if not (isinstance(patch, int) and isinstance(merge, int)):
        return size
    limits = getattr(image_processor, "size", None) or {}
    min_pixels = getattr(image_processor, "min_pixels", None) or limits.get("shortest_edge")
    max_pixels = getattr(image_processor, "max_pixels", None) or limits.get("longest_edge")
    kwargs = {k: int(v) for k, v in (("min_pixels", min_pixels), ("max_pixels", max_pixels)) if v}
    return smart_resize(*size, factor=patch * merge, **kwargs)
