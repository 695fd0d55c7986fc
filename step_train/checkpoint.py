"""Checkpoints: LoRA adapters (peft format), optimizer, scheduler and the run state, written atomically.

Layout of `RUN_DIR/checkpoints/round-000003/` (the state after 3 completed rounds):
`adapter/` (`adapter_config.json`, `adapter_model.safetensors`; or `model/`, a whole model, after full fine-tuning),
`optimizer.pt`, `scheduler.pt`, `state.json`
(round counter, success record, sampler RNG, augmentation RNG and success buffer, config) and `observations.json`
(ref -> content hash of each screenshot the success buffer still points to). `RUN_DIR/checkpoints/latest` names the
newest one.

The screenshots themselves live once per run in `RUN_DIR/checkpoints/observations/<hash>.png` (see
`ObservationStore`): a checkpoint writes only the ones that are new, so its time stays flat as the buffer fills.
Pruning old checkpoints then deletes the files that no kept checkpoint's `observations.json` names.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

STATE_FILE = "state.json"
OBSERVATIONS_FILE = "observations.json"
OBSERVATIONS_DIR = "observations"


def checkpoint_root(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def observation_dir(run_dir: str | Path) -> Path:
    """Where a run's checkpointed screenshots live, one file per content hash."""
    return checkpoint_root(run_dir) / OBSERVATIONS_DIR


def checkpoint_name(round_index: int) -> str:
    return f"round-{round_index:06d}"


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    root = checkpoint_root(run_dir)
    pointer = root / "latest"
    if pointer.is_file():
        path = root / pointer.read_text().strip()
        if (path / STATE_FILE).is_file():
            return path
    complete = sorted(p for p in root.glob("round-*") if (p / STATE_FILE).is_file())
    return complete[-1] if complete else None


def find_checkpoint(run_dir: str | Path, round_index: int | None = None) -> Path:
    """The checkpoint written after `round_index` rounds (the latest when None); the error lists those there are."""
    root = checkpoint_root(run_dir)
    if round_index is None:
        latest = latest_checkpoint(run_dir)
        if latest is None:
            raise FileNotFoundError(f"no checkpoint in {root} (no round-*/{STATE_FILE}): has the run finished a "
                                    "round?")
        return latest
    path = root / checkpoint_name(round_index)
    if not (path / STATE_FILE).is_file():
        present = sorted(int(p.name.split("-")[1]) for p in root.glob("round-*") if (p / STATE_FILE).is_file())
        raise FileNotFoundError(f"no checkpoint after round {round_index}: {path / STATE_FILE} is missing; rounds "
                                f"with a checkpoint: {', '.join(map(str, present)) or 'none'}")
    return path


def write_checkpoint(
    run_dir: str | Path,
    round_index: int,
    *,
    policy: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any],
    observations: Mapping[str, str],
    keep: int = 3,
    save_weights: Callable[[Path], None] | None = None,
) -> Path:
    """Write into a temporary directory, then rename: a run killed mid-write leaves the previous one intact.

    `observations` is the index ref -> content hash of screenshots already written to `observation_dir(run_dir)`.
    `save_weights(directory)` writes the weights into the checkpoint directory; by default the policy's LoRA
    adapters into `adapter/` (full fine-tuning writes a whole model into `model/`, see `step_train.warmstart`).
    """
    root = checkpoint_root(run_dir)
    final = root / checkpoint_name(round_index)
    tmp = root / f".tmp-{checkpoint_name(round_index)}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if save_weights is None:
        policy.save_adapter(tmp / "adapter")
    else:
        save_weights(tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    (tmp / OBSERVATIONS_FILE).write_text(json.dumps(dict(observations), indent=1, sort_keys=True))
    (tmp / STATE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    (root / "latest.tmp").write_text(final.name)
    (root / "latest.tmp").replace(root / "latest")
    _prune(root, keep)
    return final


def _prune(root: Path, keep: int) -> None:
    if keep < 1:
        return
    complete = sorted(p for p in root.glob("round-*") if (p / STATE_FILE).is_file())
    for old in complete[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    _delete_unreferenced_observations(root, complete[-keep:])


def _delete_unreferenced_observations(root: Path, kept: list[Path]) -> None:
    """Delete the screenshot files (and partial writes) that no kept checkpoint's index names (a checkpoint of an
    older layout, without an index, holds its screenshots itself)."""
    indexed = [checkpoint for checkpoint in kept if (checkpoint / OBSERVATIONS_FILE).is_file()]
    referenced = {f"{digest}.png" for checkpoint in indexed for digest in read_observations(checkpoint).values()}
    directory = root / OBSERVATIONS_DIR
    if directory.is_dir():
        for path in directory.iterdir():
            if path.name not in referenced:
                path.unlink()


def read_state(checkpoint: Path) -> dict[str, Any]:
    return json.loads((checkpoint / STATE_FILE).read_text())


def read_observations(checkpoint: Path) -> dict[str, str]:
    """The checkpoint's screenshot index, ref -> content hash (files in `observation_dir`)."""
    path = checkpoint / OBSERVATIONS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {checkpoint} was not written by this version of step_train "
                                "(screenshots are stored by content hash since); start the run again")
    return json.loads(path.read_text())


def load_training_state(checkpoint: Path, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
    optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", weights_only=True))
