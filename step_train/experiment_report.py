"""The results of `benchmarks/reproduce_step.py`: a CSV row per evaluation, curves, markdown tables.

**CSV** (`<name>.csv`, `CSV_COLUMNS` then `<metric>/<template>` per metric and template): one row per evaluation of
one RL run, `round` 0 being the warm start it starts from (the experiment's shared warm-start evaluations). The four
success metrics (`METRICS`): on the training tasks and on the held-out instances, each sampled at the rollouts'
temperature and greedy (a metric the config does not evaluate is empty). Running totals since the warm start:

- `trajectories`: episodes collected (every method collects `B x N` a round);
- `wall_seconds`: wall time of the training rounds (rollouts, augmentation, update; evaluation left out);
- `aug_samples`: STEP's augmentation samples (candidates in groups with contrast); `copies_moved`: rollouts adaptive
  resampling gave to another task than the one drawn for their slot (both 0 where a method turns them off);
- `update_seconds`, `samples`, `train_tokens`: time in updates, the samples they trained on (whole trajectories
  for T-GRPO's trajectory samples, single steps otherwise; augmentation samples included, zero-advantage samples
  the update skips left out) and their response tokens;
- `peak_rss_mb`, `peak_cuda_mb`: the largest memory peak of an update so far (process resident set; CUDA allocated).

So per update: `update_seconds / round`, `samples / round`, `train_tokens / round`.

**Summary** (`summary_markdown`): final success per method and metric, mean with a 95 % interval over seeds
(Student's t, n - 1 degrees of freedom), next to the warm start's with its 95 % Wilson interval over its episodes;
the trajectories each method's mean curve needs to reach T-GRPO's final mean; where each mechanism acted; the cost
per update; the paper's OSWorld ablation next to ours; the baselines per template.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from step_train.eval import eval_prefix

METRICS = (("train_sampled", "train_success_sampled"), ("train", "train_success_greedy"),
           ("heldout_sampled", "heldout_success_sampled"), ("heldout", "heldout_success_greedy"))
"""(evaluation name in `step_train.eval.EVALUATIONS`, CSV column)."""
PRIMARY = "train_success_sampled"
"""What RL optimizes, as the paper's Figure 1 tracks it: success on the training tasks at the sampling temperature."""
CSV_COLUMNS = ("method", "seed", "sample_level", "round", "trajectories", "wall_seconds",
               *(column for _, column in METRICS), "heldout_episodes", "train_episodes", "eval_env_errors",
               "aug_samples", "copies_moved", "update_seconds", "samples", "train_tokens", "peak_rss_mb",
               "peak_cuda_mb")
PAPER_OSWORLD = (
    ("STEP", "step", 23.8),
    ("without adaptive resampling", "step-no-resample", 21.7),
    ("without augmentation", "step-no-aug", 23.0),
    ("without both", "step-no-resample-no-aug", 21.4),
)
"""(variant, our method, success % the paper reports on OSWorld with UI-TARS-7B-DPO)."""
BASELINES = (("untrained", "untrained model, greedy"), ("warm-start", "warm start, greedy"),
             ("warm-start-sampled", "warm start, sampled"),
             ("warm-start-trajectory", "warm start, greedy, trajectory prompts (T-GRPO's)"),
             ("random-widget", "random widget of the solution's role"))
"""(baseline name, column title), in table order; those not run are left out. All on the held-out instances."""
BASELINE_LINES = (("black", ":"), ("dimgray", "--"), ("darkgray", "-."), ("gray", (0, (1, 3))), ("firebrick", ":"))
"""(colour, line style) of each baseline's horizontal line in the curves."""
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
"""Student's t quantile 0.975 by degrees of freedom (1.96 beyond)."""


def evaluation(stored: dict[str, Any]) -> dict[str, Any]:
    """An evaluation as `EvalResult.write` stores it, reduced to success, per-template success and counts."""
    return {"success": stored["success"], "episodes": stored["episodes"], "env_errors": stored["env_errors"],
            "templates": {name: t["success"] for name, t in stored["templates"].items()}}


def _metrics_evaluation(row: dict[str, Any], name: str) -> dict[str, Any] | None:
    prefix = eval_prefix(name)
    if row.get(f"{prefix}/success") is None:
        return None
    return {"success": row[f"{prefix}/success"], "episodes": row[f"{prefix}/episodes"],
            "env_errors": row[f"{prefix}/env_errors"],
            "templates": {k.removeprefix(f"{prefix}/success/"): v for k, v in row.items()
                          if k.startswith(f"{prefix}/success/")}}


def curve_rows(method: str, seed: int, sample_level: str, start: dict[str, dict[str, Any] | None],
               metrics: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CSV rows of one run: `start` (the warm start's evaluations by name, `METRICS`; a missing one is left
    empty) at round 0, then every evaluated round of `metrics` (the run's `metrics.jsonl` rows) with the running
    totals."""
    totals: dict[str, Any] = {"trajectories": 0, "wall_seconds": 0.0, "aug_samples": 0, "copies_moved": 0,
                              "update_seconds": 0.0, "samples": 0, "train_tokens": 0, "peak_rss_mb": None,
                              "peak_cuda_mb": None}

    def row(round_index: int, results: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
        out: dict[str, Any] = {"method": method, "seed": seed, "sample_level": sample_level, "round": round_index}
        errors = 0
        for name, column in METRICS:
            result = results.get(name)
            out[column] = result["success"] if result else None
            if result:
                errors += result["env_errors"]
                out.update({f"{column}/{t}": v for t, v in result["templates"].items()})
        held = results.get("heldout") or results.get("heldout_sampled")
        train = results.get("train") or results.get("train_sampled")
        out.update({"heldout_episodes": held["episodes"] if held else None,
                    "train_episodes": train["episodes"] if train else None, "eval_env_errors": errors, **totals})
        return out

    rows = [row(0, start)]
    for metric in sorted(metrics, key=lambda m: m["round"]):
        totals["trajectories"] += metric["episodes"]
        totals["wall_seconds"] += metric["round_seconds"]
        totals["aug_samples"] += metric["augment_samples"]
        totals["copies_moved"] += metric.get("copies_moved") or 0
        totals["update_seconds"] += metric["update_seconds"]
        totals["samples"] += metric["samples"] + metric["augment_samples"] - (metric.get("skipped_samples") or 0)
        totals["train_tokens"] += metric.get("train_tokens") or 0
        for key in ("peak_rss_mb", "peak_cuda_mb"):
            if metric.get(key) is not None:
                totals[key] = max(totals[key] or 0.0, metric[key])
        if metric.get("eval/success") is not None:
            rows.append(row(metric["round"] + 1, {name: _metrics_evaluation(metric, name) for name, _ in METRICS}))
    return rows


def write_csv(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    templates = sorted({key for r in rows for key in r if "/" in key})
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


# ---- statistics ---------------------------------------------------------------------------------------------------


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """The mean and the sample standard deviation (None for one value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def ci95(values: Sequence[float]) -> tuple[float, float | None]:
    """The mean and the half-width of its 95 % interval over `values` (Student's t; None for one value)."""
    mean, std = mean_std(values)
    if std is None:
        return mean, None
    return mean, T95.get(len(values) - 1, 1.96) * std / math.sqrt(len(values))


def wilson(successes: float, n: int) -> tuple[float, float]:
    """The 95 % Wilson score interval of a success rate `successes / n`."""
    if n <= 0:
        return 0.0, 1.0
    z, p = 1.96, successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _ci(values: Sequence[float]) -> str:
    mean, half = ci95(values)
    return f"{mean:.3f} ± {half:.3f}" if half is not None else f"{mean:.3f} (1 seed)"


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


def _value(row: dict[str, Any], column: str) -> float | None:
    value = row.get(column)
    return None if value in (None, "") else float(value)


def mean_curve(seeds: dict[int, list[dict[str, Any]]], x: str, metric: str = PRIMARY
               ) -> list[tuple[float, float, float]]:
    """(mean x, mean `metric`, std) per evaluated round that every seed reached with that metric."""
    rounds = sorted(set.intersection(*({int(r["round"]) for r in rs if _value(r, metric) is not None}
                                       for rs in seeds.values())))
    curve = []
    for round_index in rounds:
        points = [next(r for r in rs if int(r["round"]) == round_index) for rs in seeds.values()]
        mean, std = mean_std([_value(p, metric) for p in points])  # type: ignore[misc]
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


def _measured(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(name, column) for name, column in METRICS if any(_value(r, column) is not None for r in rows)]


def final_table(rows: Sequence[dict[str, Any]], reference: str = "tgrpo", metric: str = PRIMARY) -> tuple[str, str]:
    """The final-success table, every measured metric as mean ± 95 % interval over seeds, the warm start first
    (its Wilson interval over its episodes), with the trajectories to reach `reference`'s final mean of `metric`;
    and a note on it."""
    runs = _runs(rows)
    measured = _measured(rows)
    target = None
    if reference in runs and any(_value(r, metric) is not None for r in _final(runs[reference])):
        target = statistics.fmean(_value(r, metric) or 0.0 for r in _final(runs[reference]))
    table = []
    first = next(iter(runs.values()), {})
    if first:
        start = next(iter(first.values()))[0]
        cells = []
        for _, column in measured:
            value, episodes = _value(start, column), _episodes(start, column)
            if value is None:
                cells.append("-")
            else:
                low, high = wilson(value * episodes, episodes) if episodes else (value, value)
                cells.append(f"{value:.3f} [{low:.2f}, {high:.2f}]")
        table.append(("warm start (round 0)", "-", "-", *cells, "0", "-"))
    for method, seeds in runs.items():
        finals = _final(seeds)
        reach = "-"
        if target is not None:
            curve = mean_curve(seeds, "trajectories", metric)
            hit = next((t for t, success, _ in curve if success >= target), None)
            reach = f"{hit:.0f}" if hit is not None else f"not reached in {curve[-1][0]:.0f}" if curve else "-"
        cells = []
        for _, column in measured:
            values = [v for v in (_value(r, column) for r in finals) if v is not None]
            cells.append(_ci(values) if values else "-")
        table.append((method, finals[0]["sample_level"], len(finals), *cells,
                      f"{statistics.fmean(float(r['trajectories']) for r in finals):.0f}", reach))
    note = (f"T-GRPO's final mean {metric} is {target:.3f}; a method reaching it at 0 trajectories starts there "
            "(the warm start)." if target is not None else "T-GRPO was not run: no reference for trajectories to "
            "reach.")
    headers = ("method", "samples", "seeds", *(f"final {column} (95 % CI)" for _, column in measured),
               "trajectories", f"trajectories to reach T-GRPO's final {metric}")
    return markdown_table(headers, table), note


def _episodes(row: dict[str, Any], column: str) -> int:
    key = "train_episodes" if column.startswith("train") else "heldout_episodes"
    value = _value(row, key)
    return int(value) if value else 0


def mechanism_table(rows: Sequence[dict[str, Any]]) -> str:
    """Where STEP's mechanisms acted: augmentation samples and moved copies per run (totals at its last row)."""
    table = []
    for method, seeds in _runs(rows).items():
        finals = _final(seeds)
        aug = [int(_value(r, "aug_samples") or 0) for r in finals]
        moved = [int(_value(r, "copies_moved") or 0) for r in finals]
        trajectories = [int(float(r["trajectories"])) for r in finals]
        table.append((method, ", ".join(map(str, aug)), ", ".join(map(str, moved)), ", ".join(map(str, trajectories))))
    return markdown_table(("method", "augmentation samples, per seed", "copies moved by resampling, per seed",
                           "trajectories, per seed"), table)


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


def ablation_table(rows: Sequence[dict[str, Any]], metric: str = PRIMARY) -> str:
    runs = _runs(rows)
    table = []
    for variant, method, paper in PAPER_OSWORLD:
        values = [v for v in (_value(r, metric) for r in _final(runs[method])) if v is not None] if method in runs \
            else []
        table.append((variant, f"`{method}`", _ci(values) if values else "not run", f"{paper:.1f}"))
    return markdown_table(("variant", "method", f"ours: final {metric} (widgets, 95 % CI)",
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
    _, check = warm_start_check(baselines)
    step_rows = [(s["name"], s["status"], f"{s['seconds']:.0f}", s["detail"]) for s in steps]
    parts = [
        f"# {title}", "\n".join(f"- {line}" for line in meta),
        "## Final success", "Mean over seeds ± the half-width of its 95 % interval (Student's t); the warm start's "
        "row: its value and 95 % Wilson interval over its episodes (one evaluation, shared by every run as round 0).",
        final, note,
        "## Where each mechanism acted", mechanism_table(rows),
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
    """`<prefix>-success-vs-trajectories.png` and `<prefix>-success-vs-wall.png`: one panel per measured metric,
    mean ± std over seeds per method; the held-out greedy panel has the baselines as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = dict(BASELINES)
    measured = _measured(rows) or [("heldout", "heldout_success_greedy")]
    written = []
    for x, label, suffix in (("trajectories", "trajectories collected", "trajectories"),
                             ("wall_seconds", "training wall time (s)", "wall")):
        figure, panels = plt.subplots(1, len(measured), figsize=(4.2 * len(measured), 4.0), squeeze=False)
        for axes, (name, column) in zip(panels[0], measured, strict=True):
            for method, seeds in _runs(rows).items():
                curve = mean_curve(seeds, x, column)
                if not curve:
                    continue
                xs, means, stds = ([c[i] for c in curve] for i in range(3))
                line, = axes.plot(xs, means, marker="o", markersize=3,
                                  label=f"{method} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})")
                axes.fill_between(xs, [m - d for m, d in zip(means, stds, strict=True)],
                                  [m + d for m, d in zip(means, stds, strict=True)], color=line.get_color(), alpha=0.15)
            if name == "heldout":
                for (base, _), (color, style) in zip(BASELINES, BASELINE_LINES, strict=True):
                    if base in baselines and baselines[base]["success"] is not None:
                        axes.axhline(baselines[base]["success"], color=color, linestyle=style, linewidth=1,
                                     label=titles[base])
            axes.set_title(column.replace("_", " "), fontsize=9)
            axes.set_xlabel(label)
            axes.set_ylim(-0.02, 1.02)
            axes.grid(alpha=0.3)
        panels[0][0].set_ylabel("success")
        handles, labels = {}, {}
        for axes in panels[0]:
            for handle, text in zip(*axes.get_legend_handles_labels(), strict=True):
                handles.setdefault(text, handle)
                labels[text] = text
        figure.legend(list(handles.values()), list(labels), fontsize=7, loc="lower center",
                      ncol=min(4, len(handles)), bbox_to_anchor=(0.5, -0.02))
        figure.tight_layout(rect=(0, 0.12, 1, 1))
        path = Path(f"{prefix}-success-vs-{suffix}.png")
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written
