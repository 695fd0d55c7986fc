"""Terminal tables of benchmark results: one run's summary, and two runs side by side (`bench compare`)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from step_envs.bench.results import ResultsDir, by, group_stats
from step_envs.bench.stats import ALPHA, interval_text, mcnemar, two_proportions


def _rate(stats: dict[str, Any] | None) -> str:
    if not stats or stats.get("success_rate") is None:
        return "-"
    return f"{100 * stats['success_rate']:.1f}% {interval_text(stats)} ({stats['solved']}/{stats['scored']})"


def summary_table(summary: dict[str, Any], title: str) -> Table:
    """Success (with its 95 % Wilson interval) per domain, per difficulty and overall, with env errors apart."""
    table = Table(title=title, caption="success: mean score [95 % Wilson interval] (solved/scored)")
    for column in ("group", "episodes", "success [95 % CI] (solved/scored)", "env errors", "mean steps"):
        table.add_column(column, no_wrap=True, justify="left" if column == "group" else "right")
    sections = [("domain", summary["by_domain"]), ("difficulty", summary["by_difficulty"])]
    for kind, groups in sections:
        for name, stats in groups.items():
            table.add_row(f"{kind}: {name}", str(stats["episodes"]), _rate(stats), str(stats["env_errors"]),
                          "-" if stats["mean_steps"] is None else f"{stats['mean_steps']:.1f}")
        table.add_section()
    overall = summary["overall"]
    table.add_row("all", str(overall["episodes"]), _rate(overall), str(overall["env_errors"]),
                  "-" if overall["mean_steps"] is None else f"{overall['mean_steps']:.1f}", style="bold")
    return table


def _label(results: ResultsDir) -> str:
    meta = results.meta()
    return f"{results.path.name} ({meta.get('agent', '?')})"


def spread_table(summary: dict[str, Any], limit: int = 20) -> Table | None:
    """The tasks whose repeated runs disagree (standard deviation above 0), most variable first; None if none."""
    varied = sorted(((task, s) for task, s in summary.get("by_task", {}).items() if s["std"] > 0),
                    key=lambda item: -item[1]["std"])
    if not varied:
        return None
    table = Table(title=f"tasks whose repeated runs disagree ({len(varied)} of {len(summary['by_task'])})")
    for column in ("task", "runs", "mean score", "std"):
        table.add_column(column, no_wrap=True, justify="left" if column == "task" else "right")
    for task, s in varied[:limit]:
        table.add_row(task, str(s["runs"]), f"{s['mean']:.2f}", f"{s['std']:.2f}")
    return table


def compare_table(first: ResultsDir, second: ResultsDir) -> Table:
    """Side-by-side success per domain, per difficulty and overall; Δ is second minus first, in points, and p the
    two-proportion test's p-value (``*``: significant at 5 %)."""
    rows_a, rows_b = first.final_rows(), second.final_rows()
    table = Table(title=f"{_label(first)} vs {_label(second)}",
                  caption="Δ: second minus first, in points; p: two-proportion z-test; *: p < 0.05")
    table.add_column("group", no_wrap=True)
    table.add_column(_label(first), justify="right", no_wrap=True)
    table.add_column(_label(second), justify="right", no_wrap=True)
    table.add_column("Δ points", justify="right", no_wrap=True)
    table.add_column("p", justify="right", no_wrap=True)
    for field in ("domain", "difficulty"):
        groups_a, groups_b = by(rows_a, field), by(rows_b, field)
        for name in sorted(set(groups_a) | set(groups_b)):
            table.add_row(f"{field}: {name}", _rate(groups_a.get(name)), _rate(groups_b.get(name)),
                          _delta(groups_a.get(name), groups_b.get(name)), _p(groups_a.get(name), groups_b.get(name)))
        table.add_section()
    overall_a, overall_b = group_stats(rows_a), group_stats(rows_b)
    table.add_row("all", _rate(overall_a), _rate(overall_b), _delta(overall_a, overall_b),
                  _p(overall_a, overall_b), style="bold")
    return table


def _delta(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if not a or not b or a["success_rate"] is None or b["success_rate"] is None:
        return "-"
    return f"{100 * (b['success_rate'] - a['success_rate']):+.1f}"


def p_value(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    """The two-proportion test's p-value of two `group_stats`; None when a side has no scored episode."""
    if not a or not b or a["success_rate"] is None or b["success_rate"] is None:
        return None
    return two_proportions(a["success_rate"] * a["scored"], a["scored"], b["success_rate"] * b["scored"],
                           b["scored"])


def _p(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    p = p_value(a, b)
    return "-" if p is None else f"{p:.3f}{' *' if p < ALPHA else ''}"


def verdict(first: ResultsDir, second: ResultsDir) -> str:
    """In words: is the overall difference more than chance? Paired episodes (same task and seed in both) are
    judged by McNemar's exact test on the episodes whose outcome changed, others by the two-proportion test."""
    rows_a, rows_b = first.final_rows(), second.final_rows()
    overall_a, overall_b = group_stats(rows_a), group_stats(rows_b)
    if overall_a["success_rate"] is None or overall_b["success_rate"] is None:
        return "no scored episodes on one side: nothing to compare"
    delta = 100 * (overall_b["success_rate"] - overall_a["success_rate"])
    solved_b = {(r["task"], r.get("seed")): _solved(r) for r in rows_b if _solved(r) is not None}
    pairs = [(_solved(r), solved_b[key]) for r in rows_a
             if _solved(r) is not None and (key := (r["task"], r.get("seed"))) in solved_b]
    if pairs:
        only_a = sum(a and not b for a, b in pairs)
        only_b = sum(b and not a for a, b in pairs)
        p, how = mcnemar(only_a, only_b), (f"McNemar's exact test on {len(pairs)} paired episodes ({only_a} solved "
                                           f"only by the first, {only_b} only by the second)")
    else:
        p, how = p_value(overall_a, overall_b), "two-proportion z-test (no episode ran in both)"
    if p is not None and p < ALPHA:
        return f"overall {delta:+.1f} points: significant at 5 % (p = {p:.3f}, {how})"
    return (f"overall {delta:+.1f} points: not significant at 5 % (p = {p:.3f}, {how}); the difference is within "
            "what chance gives at this many episodes")


def _solved(row: dict[str, Any]) -> bool | None:
    if row.get("env_error") is not None or row.get("score") is None:
        return None
    return float(row["score"]) >= 1.0


def differing_tasks(first: ResultsDir, second: ResultsDir) -> list[tuple[str, Any, Any, Any]]:
    """(task, seed, score in first, score in second) for the episodes both ran whose scores differ."""
    scores_b = {(r["task"], r.get("seed")): r for r in second.final_rows()}
    differing = []
    for row in first.final_rows():
        other = scores_b.get((row["task"], row.get("seed")))
        if other is not None and (row.get("score"), row.get("env_error") is None) != (
                other.get("score"), other.get("env_error") is None):
            differing.append((row["task"], row.get("seed"), _score(row), _score(other)))
    return differing


def _score(row: dict[str, Any]) -> str:
    return "env_error" if row.get("env_error") else f"{row.get('score', 0):.2f}"
