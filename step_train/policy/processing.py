"""Turning chat messages with screenshots into model inputs: the model's own processor, or a Qwen-style stand-in.

`load_processor(path)` returns the model directory's `AutoProcessor`. Recent transformers build Qwen2-VL-family
processors with a video processor that needs torchvision; where torchvision is missing (a CPU-only torch without a
matching torchvision wheel) the processor is assembled from the directory's tokenizer and image processor instead,
doing what the Qwen2-VL processor does for images: expand each image placeholder to one token per merged patch.

Everything else only calls `encode(text, images)` on one prompt segment and `render(messages)`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

log = logging.getLogger(__name__)

TOKEN_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")
"""Per-token inputs ([1, L] for a segment); every other processor output is per image and is stacked on dim 0."""


@dataclass
class Segment:
    """One tokenized piece of a prompt: token ids, their modality types (1 = image token) and the image tensors."""

    input_ids: list[int]
    mm_token_type_ids: list[int]
    image_inputs: dict[str, torch.Tensor] = field(default_factory=dict)


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

    def __call__(self, text: list[str], images: list[Image.Image] | None = None, **_: Any) -> dict[str, Any]:
        (prompt,) = text
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
        return {"input_ids": torch.tensor([ids]), "mm_token_type_ids": torch.tensor([types]), **image_inputs}


def load_processor(path: str | Path) -> Any:
    """The model directory's processor; the Qwen-style stand-in when only the torchvision video part is missing."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    try:
        return AutoProcessor.from_pretrained(str(path))
    except ImportError as error:
        if "torchvision" not in str(error).lower():
            raise
        image_processor = AutoImageProcessor.from_pretrained(str(path))
        if not hasattr(image_processor, "merge_size"):
            raise ImportError(
                f"the processor of {path} needs torchvision; install the torchvision build that matches your torch"
            ) from error
        log.info("torchvision missing: building a Qwen-style processor from the tokenizer and image processor")
        return QwenStyleProcessor(AutoTokenizer.from_pretrained(str(path)), image_processor)


def processor_tokenizer(processor: Any) -> Any:
    return getattr(processor, "tokenizer", processor)


def image_token(processor: Any) -> str | None:
    """The placeholder one image leaves in rendered chat text (None for text-only processors)."""
    return getattr(processor, "image_token", None)


def encode_segment(processor: Any, text: str, images: list[Image.Image]) -> Segment:
    """Tokenize one prompt segment (no special tokens added: the chat template already wrote them)."""
    kwargs: dict[str, Any] = {"text": [text], "return_tensors": "pt", "add_special_tokens": False}
    if images:
        kwargs["images"] = images
    if isinstance(processor, QwenStyleProcessor):
        out = processor(**kwargs)
    else:
        out = dict(processor(**kwargs))
    ids = out["input_ids"][0].tolist()
    if "mm_token_type_ids" in out:
        types = out["mm_token_type_ids"][0].tolist()
    else:
        token = image_token(processor)
        token_id = processor_tokenizer(processor).convert_tokens_to_ids(token) if token else None
        types = [1 if i == token_id else 0 for i in ids]
    image_inputs = {k: v for k, v in out.items() if k not in TOKEN_KEYS and isinstance(v, torch.Tensor)}
    return Segment(ids, types, image_inputs)
