"""Checkpoints: LoRA adapters (peft format), optimizer, scheduler and the run state, written atomically.

Layout of `RUN_DIR/checkpoints/round-000003/` (the state after 3 completed rounds):
`adapter/` (`adapter_config.json`, `adapter_model.safetensors`), `optimizer.pt`, `scheduler.pt`, `state.json`
(round counter, success record, sampler RNG, augmentation RNG and success buffer, config) and `observations/` (the
screenshots the success buffer still points to). `RUN_DIR/checkpoints/latest` names the newest one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

STATE_FILE = "state.json"


def checkpoint_root(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


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


def write_checkpoint(
    run_dir: str | Path,
    round_index: int,
    *,
    policy: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any],
    save_observations: Any,
    keep: int = 3,
) -> Path:
    """Write into a temporary directory, then rename: a run killed mid-write leaves the previous one intact."""
    root = checkpoint_root(run_dir)
    final = root / checkpoint_name(round_index)
    tmp = root / f".tmp-{checkpoint_name(round_index)}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    policy.save_adapter(tmp / "adapter")
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    save_observations(tmp / "observations")
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


def read_state(checkpoint: Path) -> dict[str, Any]:
    return json.loads((checkpoint / STATE_FILE).read_text())


def load_training_state(checkpoint: Path, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
    optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", weights_only=True))
