"""Starting from a checkpoint: what a `step-train` checkpoint holds as weights, and how a run starts from one.

A checkpoint (`RUN_DIR/checkpoints/round-NNNNNN/`, see `step_train.checkpoint`) holds its weights one of two ways:

- `adapter/`: LoRA adapters in peft's format, on the base model of its run's `model.path` (RL runs, LoRA SFT);
- `model/`: a whole model directory (config, weights, tokenizer and processor files), what full fine-tuning
  (`sft.full`) writes. It loads as any local model (`--model CKPT/model`).

`model.init = CKPT` (`step-train train --init CKPT`) starts a run from one (`with_init`): from `model/`, the run's
base model is that directory and fresh LoRA adapters train on it; from `adapter/`, the run keeps training those
adapters on their base model (`model.path`, or the checkpoint run's when unset). CKPT may also be a run directory:
its latest checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from step_train.checkpoint import STATE_FILE, latest_checkpoint

ADAPTER_DIR = "adapter"
FULL_MODEL_DIR = "model"
MODEL_FILE_SUFFIXES = (".json", ".jinja", ".txt", ".model")
"""Processor and tokenizer files a full model directory takes from its base (besides its own config and weights)."""
OWN_FILES = ("config.json", "generation_config.json", "model.safetensors.index.json", "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class CheckpointWeights:
    """A checkpoint's weights and the run config it saved (`state.json`)."""

    path: Path
    model_dir: Path | None
    """The full model (`model/`), or None."""
    adapter_dir: Path | None
    """The LoRA adapters (`adapter/`), or None when the checkpoint holds a full model."""
    config: dict[str, Any]


def checkpoint_weights(path: str | Path) -> CheckpointWeights:
    """The weights of checkpoint `path` (a `round-NNNNNN` directory, or a run directory: its latest checkpoint);
    the error says what was expected."""
    given = Path(path).expanduser()
    checkpoint = given if (given / STATE_FILE).is_file() else latest_checkpoint(given)
    if checkpoint is None:
        raise FileNotFoundError(f"no checkpoint at {given}: expected a checkpoint directory holding {STATE_FILE} "
                                "(RUN_DIR/checkpoints/round-NNNNNN) or a run directory with checkpoints/")
    model_dir, adapter_dir = checkpoint / FULL_MODEL_DIR, checkpoint / ADAPTER_DIR
    config = json.loads((checkpoint / STATE_FILE).read_text()).get("config", {})
    if (model_dir / "config.json").is_file():
        return CheckpointWeights(checkpoint, model_dir, None, config)
    if (adapter_dir / "adapter_config.json").is_file():
        return CheckpointWeights(checkpoint, None, adapter_dir, config)
    raise FileNotFoundError(f"{checkpoint} holds no weights: expected {adapter_dir}/adapter_config.json (LoRA) or "
                            f"{model_dir}/config.json (a full model)")


def with_init(config: Any) -> tuple[Any, Path | None]:
    """`config` (a `TrainConfig`) as a run starting from `config.model.init`, and the adapter directory to start
    the LoRA weights from (None: fresh adapters). Unchanged when `model.init` is empty.

    A full model becomes `model.path`; an adapter keeps `model.path` (the checkpoint run's when unset). The
    checkpoint's dialect must be the run's: the model learned to write it.
    """
    if not config.model.init:
        return config, None
    start = checkpoint_weights(config.model.init)
    saved = start.config.get("model", {})
    dialect = saved.get("dialect")
    if dialect and dialect != config.model.dialect:
        raise ValueError(f"{start.path} was trained to write actions in dialect {dialect!r}, this run uses "
                         f"{config.model.dialect!r}: set model.dialect = {dialect!r} (--set model.dialect={dialect})")
    path = str(start.model_dir) if start.model_dir is not None else config.model.path or saved.get("path", "")
    model = dataclasses.replace(config.model, path=path, init=str(start.path))
    return dataclasses.replace(config, model=model), start.adapter_dir


def save_full_model(policy: Any, directory: str | Path, files_from: str | Path) -> None:
    """The policy's base model as a model directory: its weights without the LoRA wrappers (`sft.full` keeps
    them frozen at zero, so the base weights are the whole model), its config, and the tokenizer and processor
    files of the model directory `files_from`."""
    directory = Path(directory)
    policy.restore_weights()  # the base weights, not the ones generation merged the adapters into
    base = policy.model.get_base_model()
    state = {name.replace(".base_layer.", "."): tensor for name, tensor in base.state_dict().items()
             if ".lora_" not in name}
    base.save_pretrained(str(directory), state_dict=state)
    policy.save_pointer(directory)
    for path in Path(files_from).iterdir():
        if path.is_file() and path.suffix in MODEL_FILE_SUFFIXES and path.name not in OWN_FILES:
            shutil.copy2(path, directory / path.name)
