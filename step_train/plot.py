"""Learning curves of a run as PNG files, from its `metrics.jsonl`.

`success.png` shows the training rollouts' success next to the held-out `eval/success` (greedy, instances
training never sees); `eval_templates.png` shows `eval/success/<template>` when the run was evaluated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from step_train.runlog import read_rows

EVAL_TEMPLATE_PREFIX = "eval/success/"

PANELS = (
    ("success.png", "success rate: training rollouts and held-out eval", ("success_rate", "eval/success")),
    ("loss.png", "loss", ("loss", "pg_loss")),
    ("clip_kl.png", "clip fraction and KL", ("clip_fraction", "approx_kl", "kl_ref")),
    ("throughput.png", "tokens per second", ("rollout_tokens_per_s", "train_tokens_per_s")),
    ("time.png", "seconds per round", ("env_seconds", "model_seconds", "update_seconds")),
    ("samples.png", "training samples per round", ("samples", "augment_samples")),
)


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    points = [(r["round"] + 1, r[key]) for r in rows if isinstance(r.get(key), (int, float))]
    return [p[0] for p in points], [float(p[1]) for p in points]


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write one PNG per panel (and per-task success) under `out_dir` (default `RUN_DIR/plots`); returns them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_rows(run_dir)
    if not rows:
        raise FileNotFoundError(f"no metrics in {Path(run_dir) / 'metrics.jsonl'}; is {run_dir} a step-train run?")
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, title, keys in PANELS:
        figure, axes = plt.subplots(figsize=(6, 3.5))
        for key in keys:
            x, y = _series(rows, key)
            if x:
                axes.plot(x, y, marker="o", markersize=3, label=key)
        _finish(figure, axes, title, out / name)
        written.append(out / name)
    figure, axes = plt.subplots(figsize=(7, 4))
    tasks = sorted({t for r in rows for t in r.get("record", {})})
    for task_id in tasks:
        points = [(r["round"] + 1, r["record"][task_id]) for r in rows if task_id in r.get("record", {})]
        axes.plot([p[0] for p in points], [p[1] for p in points], label=task_id, linewidth=1)
    _finish(figure, axes, "smoothed success rate per task", out / "record.png", legend=len(tasks) <= 12)
    written.append(out / "record.png")
    templates = sorted({key for r in rows for key in r if key.startswith(EVAL_TEMPLATE_PREFIX)})
    if templates:
        figure, axes = plt.subplots(figsize=(7, 4))
        for key in templates:
            x, y = _series(rows, key)
            axes.plot(x, y, marker="o", markersize=3, linewidth=1, label=key.removeprefix(EVAL_TEMPLATE_PREFIX))
        _finish(figure, axes, "held-out eval success per template", out / "eval_templates.png",
                legend=len(templates) <= 12)
        written.append(out / "eval_templates.png")
    return written


def _finish(figure: Any, axes: Any, title: str, path: Path, legend: bool = True) -> None:
    import matplotlib.pyplot as plt

    axes.set_title(title)
    axes.set_xlabel("round")
    axes.grid(alpha=0.3)
    if legend and axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
