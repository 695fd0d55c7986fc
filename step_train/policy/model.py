"""Loading a vision-language model from a local directory and wrapping it with LoRA adapters.

The model class comes from transformers' Auto classes (`AutoModelForImageTextToText`, else `AutoModelForVision2Seq`),
so any image-text-to-text model works; Qwen2-VL and Qwen2.5-VL are the tested family. LoRA goes on the language
model's linear layers named in `target_modules`; the vision tower is frozen unless `train_vision` is set.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from step_envs.actions import get_dialect
from step_envs.agents.processor import check_model_dir

log = logging.getLogger(__name__)

VISION_PARTS = ("visual", "vision_tower", "vision_model", "vision_encoder", "image_encoder", "multi_modal_projector")
"""Module path components that belong to the vision side of a VLM (frozen by default)."""

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


@dataclass(frozen=True)
class LoraSettings:
    """LoRA on the language model: rank, alpha, dropout and the linear layer names it wraps."""

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    train_vision: bool = False
    """Also put adapters on the vision tower's matching layers."""


@dataclass(frozen=True)
class ModelSettings:
    """Where the model is and how to place it: `auto` is bf16 on a GPU and fp32 on the CPU."""

    path: str = ""
    dialect: str = "pyautogui"
    """How the model writes actions: pyautogui, computer_13, qwen2vl, qwen25vl, uitars, uitars15
    (`step_envs.actions.dialects`); it sets the prompt's action format and how replies are read."""
    device: str = "auto"
    dtype: str = "auto"
    attn_implementation: str | None = None
    gradient_checkpointing: bool = False
    lora: LoraSettings = field(default_factory=LoraSettings)
    pointer_head: bool = False
    """Let a pointer head, not the language model, pick the element of every `tag_N` the model writes: a
    distribution over the accessibility table's rows (`step_train.policy.pointer`; needs `sampling.a11y_tags`)."""
    init: str = ""
    """A `step-train` checkpoint (or run directory) to start from: its LoRA adapters, or its full model as the
    base (`step_train.warmstart`); empty: the base model and fresh adapters."""

    def __post_init__(self) -> None:
        get_dialect(self.dialect)  # an unknown dialect is an error listing the known ones


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    try:
        return DTYPES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; known: auto, {', '.join(DTYPES)}") from None


def load_base_model(settings: ModelSettings) -> tuple[Any, torch.device, torch.dtype]:
    """The pretrained model on its device, in eval mode, with every parameter frozen."""
    import transformers

    directory = check_model_dir(settings.path)
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if settings.attn_implementation:
        kwargs["attn_implementation"] = settings.attn_implementation
    auto_classes = [
        getattr(transformers, name)
        for name in ("AutoModelForImageTextToText", "AutoModelForVision2Seq")
        if hasattr(transformers, name)
    ]
    errors = []
    for auto_class in auto_classes:
        try:
            model = auto_class.from_pretrained(str(directory), **kwargs)
            break
        except ValueError as error:  # the config is not registered with this Auto class
            errors.append(f"{auto_class.__name__}: {error}")
    else:
        raise ValueError(f"{directory} is not an image-text-to-text model: " + "; ".join(errors))
    model.to(device)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model, device, dtype


def is_vision_module(name: str) -> bool:
    return any(part in name.split(".") for part in VISION_PARTS)


def lora_target_names(model: torch.nn.Module, settings: LoraSettings) -> list[str]:
    """Full names of the linear layers that get adapters (vision layers only with `train_vision`)."""
    names = [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
        and name.rsplit(".", 1)[-1] in settings.target_modules
        and (settings.train_vision or not is_vision_module(name))
    ]
    if not names:
        raise ValueError(
            f"no linear layer named {', '.join(settings.target_modules)} in the model; set lora.target_modules"
        )
    return names


def add_lora(model: torch.nn.Module, settings: LoraSettings, adapter_dir: str | Path | None = None) -> Any:
    """Wrap the model with peft LoRA adapters (fresh, or loaded from `adapter_dir` to keep training them)."""
    from peft import LoraConfig, PeftModel, get_peft_model

    if adapter_dir is not None:
        return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=True)
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=lora_target_names(model, settings),
        bias="none",
    )
    return get_peft_model(model, config)


def load_model(settings: ModelSettings, adapter_dir: str | Path | None = None) -> tuple[Any, torch.device, torch.dtype]:
    """Base model + LoRA, ready to generate and train. Ends with `gc.freeze()`: the model's millions of objects
    then no longer make every collection slow (GC pauses dominated rollout time otherwise)."""
    model, device, dtype = load_base_model(settings)
    if settings.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model = add_lora(model, settings.lora, adapter_dir)
    model.to(device)
    for parameter in model.parameters():
        if parameter.requires_grad and parameter.dtype != torch.float32:
            parameter.data = parameter.data.float()  # adapters train in fp32 even on a bf16 base
    gc.collect()
    gc.freeze()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    log.info("loaded %s on %s (%s): %d trainable of %d parameters", settings.path, device, dtype, trainable, total)
    return model, device, dtype
