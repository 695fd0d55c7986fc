"""Turning one prompt segment with screenshots into token ids, modality types and image tensors.

The processor itself comes from `step_envs.agents.processor.load_processor` (shared with the `hf` agent): the model
directory's own, or a Qwen-style stand-in where torchvision is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from step_envs.agents.processor import (
    QwenStyleProcessor,
    image_token,
    load_processor,
    model_image_size,
    processor_tokenizer,
)

__all__ = ["QwenStyleProcessor", "Segment", "encode_segment", "image_token", "load_processor", "model_image_size",
           "processor_tokenizer"]

TOKEN_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")
"""Per-token inputs ([1, L] for a segment); every other processor output is per image and is stacked on dim 0."""


@dataclass
class Segment:
    """One tokenized piece of a prompt: token ids, their modality types (1 = image token) and the image tensors."""

    input_ids: list[int]
    mm_token_type_ids: list[int]
    image_inputs: dict[str, torch.Tensor] = field(default_factory=dict)


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
