"""Per-round training logs: `metrics.jsonl` (everything), `metrics.csv` (the scalar columns) and TensorBoard events.

A row is a dict: scalars at the top level, `success_per_task` / `rollouts_per_task` / `record` as mappings and
`record_histogram` as counts per bin of the smoothed success rate. A round the trainer evaluated also has the
held-out scores: `eval/success`, `eval/success/<template>`, `eval/episodes`, `eval/env_errors`, `eval/seconds`
(TensorBoard tags of the same names). On resume, rows of rounds the checkpoint does not
cover (written after it, before a crash) are dropped so the log matches the resumed run.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

SCALARS = (
    "round",
    "success_rate",
    "episodes",
    "valid_episodes",
    "env_errors",
    "samples",
    "augment_samples",
    "optimizer_steps",
    "loss",
    "pg_loss",
    "clip_fraction",
    "approx_kl",
    "kl_ref",
    "entropy",
    "logprob_drift",
    "grad_norm",
    "lr",
    "generated_tokens",
    "prompts_reused",
    "rollout_tokens_per_s",
    "train_tokens",
    "train_tokens_per_s",
    "env_seconds",
    "model_seconds",
    "update_seconds",
    "round_seconds",
)
EVAL_SCALARS = ("eval/success", "eval/episodes", "eval/env_errors", "eval/seconds")
"""Held-out evaluation keys of the rows of evaluated rounds (with `eval/success/<template>` per template)."""
COLUMNS = SCALARS + EVAL_SCALARS
"""The CSV's columns (empty where a round was not evaluated)."""
HISTOGRAM_BINS = 10


def record_histogram(rates: dict[str, float], bins: int = HISTOGRAM_BINS) -> list[int]:
    """How many tasks have a smoothed success rate in each of `bins` equal bins of [0, 1]."""
    counts = [0] * bins
    for rate in rates.values():
        counts[min(bins - 1, int(rate * bins))] += 1
    return counts


def read_rows(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class RunLog:
    """Appends one row per round to the JSONL, CSV and (optionally) TensorBoard logs of a run."""

    def __init__(self, run_dir: str | Path, *, tensorboard: bool = True, completed_rounds: int = 0) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._truncate(completed_rounds)
        self._writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=completed_rounds)

    def _truncate(self, completed_rounds: int) -> None:
        rows = [r for r in read_rows(self.run_dir) if r["round"] < completed_rounds]
        (self.run_dir / "metrics.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        with open(self.run_dir / "metrics.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        with open(self.run_dir / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
        with open(self.run_dir / "metrics.csv", "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore").writerow(row)
        if self._writer is not None:
            self._tensorboard(row)

    def _tensorboard(self, row: dict[str, Any]) -> None:
        step = row["round"]
        for key in SCALARS[1:]:
            if isinstance(row.get(key), (int, float)):
                self._writer.add_scalar(f"train/{key}", row[key], step)
        for key, value in row.items():
            if key.startswith("eval/") and isinstance(value, (int, float)):
                self._writer.add_scalar(key, value, step)
        for task_id, rate in row.get("success_per_task", {}).items():
            self._writer.add_scalar(f"success/{task_id}", rate, step)
        for task_id, count in row.get("rollouts_per_task", {}).items():
            self._writer.add_scalar(f"rollouts/{task_id}", count, step)
        rates = list(row.get("record", {}).values())
        if rates:
            import numpy as np

            self._writer.add_histogram("record/success_rate", np.asarray(rates), step, bins=HISTOGRAM_BINS)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
