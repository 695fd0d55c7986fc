"""The results of `benchmarks/reproduce_step.py`: a CSV row per held-out evaluation, curves, markdown tables.

**CSV** (`<name>.csv`, `CSV_COLUMNS` then `eval_success/<template>` per template): one row per evaluation of one
RL run, `round` 0 being the warm start it starts from. Running totals since the warm start:

- `trajectories`: episodes collected (every method collects `B x N` a round);
- `wall_seconds`: wall time of the training rounds (rollouts, augmentation, update; evaluation left out);
- `update_seconds`, `samples`, `train_tokens`: time in updates, the samples they trained on (whole trajectories
  for T-GRPO's trajectory samples, single steps otherwise; augmentation samples included, zero-advantage samples
  the update skips left out) and their response tokens;
- `peak_rss_mb`, `peak_cuda_mb`: the largest memory peak of an update so far (process resident set; CUDA allocated).

So per update: `update_seconds / round`, `samples / round`, `train_tokens / round`.

**Summary** (`summary_markdown`): final held-out success mean ± std over seeds per method; the trajectories each
method's mean curve needs to reach T-GRPO's final mean; the cost per update; the paper's OSWorld ablation next
to ours; the baselines per template. `std` is the sample standard deviation (n - 1) over seeds.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CSV_COLUMNS = ("method", "seed", "sample_level", "round", "trajectories", "eval_success", "eval_episodes",
               "eval_env_errors", "wall_seconds", "update_seconds", "samples", "train_tokens", "peak_rss_mb",
               "peak_cuda_mb")
TEMPLATE_PREFIX = "eval_success/"
PAPER_OSWORLD = (
    ("STEP", "step", 23.8),
    ("without adaptive resampling", "step-no-resample", 21.7),
    ("without augmentation", "step-no-aug", 23.0),
    ("without both", "step-no-resample-no-aug", 21.4),
)
"""(variant, our method, success % the paper reports on OSWorld with UI-TARS-7B-DPO)."""
BASELINES = (("untrained", "untrained model, greedy"), ("warm-start", "warm start, greedy"),
             ("warm-start-trajectory", "warm start, greedy, trajectory prompts (T-GRPO's)"),
             ("random-widget", "random widget of the solution's role"))
"""(baseline name, column title), in table order; those not run are left out."""
BASELINE_LINES = (("black", ":"), ("dimgray", "--"), ("darkgray", "-."), ("firebrick", ":"))
"""(colour, line style) of each baseline's horizontal line in the curves."""


def evaluation(stored: dict[str, Any]) -> dict[str, Any]:
    """An evaluation as `EvalResult.write` stores it, reduced to success, per-template success and counts."""
    return {"success": stored["success"], "episodes": stored["episodes"], "env_errors": stored["env_errors"],
            "templates": {name: t["success"] for name, t in stored["templates"].items()}}


def _metrics_evaluation(row: dict[str, Any]) -> dict[str, Any]:
    prefix = "eval/success/"
    return {"success": row["eval/success"], "episodes": row["eval/episodes"], "env_errors": row["eval/env_errors"],
            "templates": {k.removeprefix(prefix): v for k, v in row.items() if k.startswith(prefix)}}


def curve_rows(method: str, seed: int, sample_level: str, start: dict[str, Any],
               metrics: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CSV rows of one run: `start` (the warm start's `evaluation`) at round 0, then every evaluated round of
    `metrics` (the run's `metrics.jsonl` rows) with the running totals."""
    totals: dict[str, Any] = {"trajectories": 0, "wall_seconds": 0.0, "update_seconds": 0.0, "samples": 0,
                              "train_tokens": 0, "peak_rss_mb": None, "peak_cuda_mb": None}

    def row(round_index: int, result: dict[str, Any]) -> dict[str, Any]:
        return {"method": method, "seed": seed, "sample_level": sample_level, "round": round_index,
                "eval_success": result["success"], "eval_episodes": result["episodes"],
                "eval_env_errors": result["env_errors"], **totals,
                **{TEMPLATE_PREFIX + name: value for name, value in result["templates"].items()}}

    rows = [row(0, start)]
    for metric in sorted(metrics, key=lambda m: m["round"]):
        totals["trajectories"] += metric["episodes"]
        totals["wall_seconds"] += metric["round_seconds"]
        totals["update_seconds"] += metric["update_seconds"]
        totals["samples"] += metric["samples"] + metric["augment_samples"] - (metric.get("skipped_samples") or 0)
        totals["train_tokens"] += metric.get("train_tokens") or 0
        for key in ("peak_rss_mb", "peak_cuda_mb"):
            if metric.get(key) is not None:
                totals[key] = max(totals[key] or 0.0, metric[key])
        if metric.get("eval/success") is not None:
            rows.append(row(metric["round"] + 1, _metrics_evaluation(metric)))
    return rows


def write_csv(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    templates = sorted({key for r in rows for key in r if key.startswith(TEMPLATE_PREFIX)})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*CSV_COLUMNS, *templates])
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_baselines_csv(path: str | Path, baselines: dict[str, dict[str, Any]]) -> Path:
    """`template, <baseline>...`: held-out success per template of each baseline, then the `all` row."""
    names = [name for name, _ in BASELINES if name in baselines]
    path = Path(path)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["template", *names])
        for template, values in _baseline_table(baselines, names):
            writer.writerow([template, *values])
    return path


def _baseline_table(baselines: dict[str, dict[str, Any]], names: Sequence[str]) -> list[tuple[str, list[Any]]]:
    templates = sorted({t for name in names for t in baselines[name]["templates"]})
    table = [(t, [baselines[name]["templates"].get(t) for name in names]) for t in templates]
    return [*table, ("all", [baselines[name]["success"] for name in names])]


# ---- the summary ------------------------------------------------------------------------------------------------


def _runs(rows: Sequence[dict[str, Any]]) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """method -> seed -> its rows by round."""
    runs: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(dict)
    for row in rows:
        runs[row["method"]].setdefault(int(row["seed"]), []).append(row)
    for seeds in runs.values():
        for seed_rows in seeds.values():
            seed_rows.sort(key=lambda r: int(r["round"]))
    return runs


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """The mean and the sample standard deviation (None for one value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def _pm(values: Sequence[float]) -> str:
    mean, std = mean_std(values)
    return f"{mean:.3f} ± {std:.3f}" if std is not None else f"{mean:.3f} (1 seed)"


def mean_curve(seeds: dict[int, list[dict[str, Any]]], x: str) -> list[tuple[float, float, float]]:
    """(mean x, mean success, std success) per evaluated round that every seed reached."""
    rounds = sorted(set.intersection(*({int(r["round"]) for r in rs} for rs in seeds.values())))
    curve = []
    for round_index in rounds:
        points = [next(r for r in rs if int(r["round"]) == round_index) for rs in seeds.values()]
        mean, std = mean_std([float(p["eval_success"]) for p in points])
        curve.append((statistics.fmean(float(p[x]) for p in points), mean, std or 0.0))
    return curve


def _final(seed_rows: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [rs[-1] for rs in seed_rows.values()]


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def final_table(rows: Sequence[dict[str, Any]], reference: str = "tgrpo") -> tuple[str, str]:
    """The final-success table (with the trajectories to reach `reference`'s final mean) and a note on it."""
    runs = _runs(rows)
    target = None
    if reference in runs:
        target = statistics.fmean(float(r["eval_success"]) for r in _final(runs[reference]))
    table = []
    for method, seeds in runs.items():
        finals = _final(seeds)
        reach = "-"
        if target is not None:
            curve = mean_curve(seeds, "trajectories")
            hit = next((t for t, success, _ in curve if success >= target), None)
            reach = f"{hit:.0f}" if hit is not None else f"not reached in {curve[-1][0]:.0f}"
        table.append((method, finals[0]["sample_level"], len(finals), _pm([float(r["eval_success"]) for r in finals]),
                      f"{statistics.fmean(float(r['trajectories']) for r in finals):.0f}", reach))
    note = (f"T-GRPO's final mean is {target:.3f}; a method reaching it at 0 trajectories starts there (the warm "
            "start)." if target is not None else "T-GRPO was not run: no reference for trajectories to reach.")
    return markdown_table(("method", "samples", "seeds", "final held-out success (mean ± std)", "trajectories",
                           "trajectories to reach T-GRPO's final success"), table), note


def cost_table(rows: Sequence[dict[str, Any]]) -> str:
    """Per update (one a round), mean over seeds: samples, tokens, seconds, memory peak."""
    table = []
    for method, seeds in _runs(rows).items():
        finals = [r for r in _final(seeds) if int(r["round"]) > 0]
        if not finals:
            continue

        def per_round(key: str) -> float:
            return statistics.fmean(float(r[key]) / int(r["round"]) for r in finals)  # noqa: B023

        def peak(key: str) -> float | None:
            values = [float(r[key]) for r in finals if r.get(key) not in (None, "")]  # noqa: B023
            return max(values) if values else None

        table.append((method, finals[0]["sample_level"], f"{per_round('samples'):.1f}",
                      f"{per_round('train_tokens'):.0f}", f"{per_round('update_seconds'):.2f}",
                      f"{per_round('wall_seconds'):.1f}", _fmt(peak("peak_rss_mb"), ".0f"),
                      _fmt(peak("peak_cuda_mb"), ".0f")))
    return markdown_table(("method", "samples", "samples per update", "tokens per update", "seconds per update",
                           "seconds per round", "peak RSS in update (MB)", "peak CUDA (MB)"), table)


def ablation_table(rows: Sequence[dict[str, Any]]) -> str:
    runs = _runs(rows)
    table = []
    for variant, method, paper in PAPER_OSWORLD:
        ours = _pm([float(r["eval_success"]) for r in _final(runs[method])]) if method in runs else "not run"
        table.append((variant, f"`{method}`", ours, f"{paper:.1f}"))
    return markdown_table(("variant", "method", "ours: final held-out success (widgets)",
                           "the paper's OSWorld success % (UI-TARS-7B-DPO)"), table)


def baseline_table(baselines: dict[str, dict[str, Any]]) -> str:
    names = [name for name, _ in BASELINES if name in baselines]
    titles = dict(BASELINES)
    rows = [(template, *(_fmt(v, ".2f") for v in values)) for template, values in _baseline_table(baselines, names)]
    return markdown_table(("template", *(titles[n] for n in names)), rows)


def warm_start_check(baselines: dict[str, dict[str, Any]]) -> tuple[bool, str]:
    """Whether the warm start's held-out success is above the untrained model's, and the sentence saying so."""
    warm, untrained = baselines["warm-start"], baselines["untrained"]
    beats = (warm["success"] or 0.0) > (untrained["success"] or 0.0)
    verdict = "beats" if beats else "does NOT beat"
    return beats, (f"warm start {_fmt(warm['success'])} vs untrained model {_fmt(untrained['success'])} on "
                   f"{warm['episodes']} held-out episodes: the warm start {verdict} the untrained model")


def summary_markdown(title: str, meta: Sequence[str], rows: Sequence[dict[str, Any]],
                     baselines: dict[str, dict[str, Any]], steps: Sequence[dict[str, Any]]) -> str:
    """The whole report: `meta` lines, then every table."""
    final, note = final_table(rows)
    starts = [f"{_fmt(baselines[name]['success'])} with {prompts} prompts" for name, prompts in
              (("warm-start", "step"), ("warm-start-trajectory", "trajectory")) if name in baselines]
    note += f" Round 0, the warm start, scores {' and '.join(starts)}."
    _, check = warm_start_check(baselines)
    step_rows = [(s["name"], s["status"], f"{s['seconds']:.0f}", s["detail"]) for s in steps]
    parts = [
        f"# {title}", "\n".join(f"- {line}" for line in meta),
        "## Final held-out success", final, note,
        "## Cost per update", "One update per round; samples are those it trained on (zero-advantage ones are "
        "skipped). A trajectory sample holds a whole episode (every screenshot and reply); a step sample one step.",
        cost_table(rows),
        "## The ablation next to the paper's",
        "The paper's numbers are on another benchmark (OSWorld) with another model (UI-TARS-7B-DPO): compare the "
        "order of the variants, not the levels.", ablation_table(rows),
        "## Baselines on the held-out instances, per template", baseline_table(baselines), check,
        "## Steps", markdown_table(("step", "status", "seconds", "what it did"), step_rows),
    ]
    return "\n\n".join(parts) + "\n"


# ---- curves -----------------------------------------------------------------------------------------------------


def plot_curves(rows: Sequence[dict[str, Any]], baselines: dict[str, dict[str, Any]], prefix: str | Path) -> list[Path]:
    """`<prefix>-success-vs-trajectories.png` and `<prefix>-success-vs-wall.png`: held-out success, mean ± std
    over seeds per method, with the baselines as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = dict(BASELINES)
    written = []
    for x, label, suffix in (("trajectories", "trajectories collected", "trajectories"),
                             ("wall_seconds", "training wall time (s)", "wall")):
        figure, axes = plt.subplots(figsize=(7, 4.2))
        for method, seeds in _runs(rows).items():
            curve = mean_curve(seeds, x)
            xs, means, stds = ([c[i] for c in curve] for i in range(3))
            line, = axes.plot(xs, means, marker="o", markersize=3, label=f"{method} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})")
            axes.fill_between(xs, [m - s for m, s in zip(means, stds, strict=True)],
                              [m + s for m, s in zip(means, stds, strict=True)], color=line.get_color(), alpha=0.15)
        for (name, _), (color, style) in zip(BASELINES, BASELINE_LINES, strict=True):
            if name in baselines and baselines[name]["success"] is not None:
                axes.axhline(baselines[name]["success"], color=color, linestyle=style, linewidth=1,
                             label=titles[name])
        axes.set_xlabel(label)
        axes.set_ylabel("held-out success")
        axes.set_ylim(-0.02, 1.02)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
        figure.tight_layout()
        path = Path(f"{prefix}-success-vs-{suffix}.png")
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written
