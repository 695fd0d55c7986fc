"""Terminal tables of benchmark results: one run's summary, and two runs side by side (`bench compare`)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from step_envs.bench.results import ResultsDir, by, group_stats


def _rate(stats: dict[str, Any] | None) -> str:
    if not stats or stats.get("success_rate") is None:
        return "-"
    return f"{100 * stats['success_rate']:.1f}% ({stats['solved']}/{stats['scored']})"


def summary_table(summary: dict[str, Any], title: str) -> Table:
    """Success per domain, per difficulty and overall, with env errors apart."""
    table = Table(title=title)
    for column in ("group", "episodes", "success (solved/scored)", "env errors", "mean steps"):
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


def compare_table(first: ResultsDir, second: ResultsDir) -> Table:
    """Side-by-side success per domain, per difficulty and overall; Δ is second minus first, in points."""
    rows_a, rows_b = first.final_rows(), second.final_rows()
    table = Table(title=f"{_label(first)} vs {_label(second)}")
    table.add_column("group", no_wrap=True)
    table.add_column(_label(first), justify="right", no_wrap=True)
    table.add_column(_label(second), justify="right", no_wrap=True)
    table.add_column("Δ points", justify="right", no_wrap=True)
    for field in ("domain", "difficulty"):
        groups_a, groups_b = by(rows_a, field), by(rows_b, field)
        for name in sorted(set(groups_a) | set(groups_b)):
            table.add_row(f"{field}: {name}", _rate(groups_a.get(name)), _rate(groups_b.get(name)),
                          _delta(groups_a.get(name), groups_b.get(name)))
        table.add_section()
    overall_a, overall_b = group_stats(rows_a), group_stats(rows_b)
    table.add_row("all", _rate(overall_a), _rate(overall_b), _delta(overall_a, overall_b), style="bold")
    return table


def _delta(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if not a or not b or a["success_rate"] is None or b["success_rate"] is None:
        return "-"
    return f"{100 * (b['success_rate'] - a['success_rate']):+.1f}"


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
