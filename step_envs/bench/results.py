"""A benchmark's results directory: what it holds, how rows are appended so a kill loses at most the episodes
in flight, and how a resumed run knows what is done.

Layout of ``DIR``:

- ``run.json``: what was run (agent, suite, max steps) and one entry per invocation;
- ``episodes.jsonl``: one row per finished episode, appended and fsynced as each one ends; a row with
  ``env_error`` set is not an outcome and is run again on resume; a partial last line (a kill mid-write) is
  ignored and cut off before the next append;
- ``steps/r<run>/<episode>/``: ``NNN.jpg`` (or ``.png``) the screenshot each action was chosen from, and
  ``steps.json`` with the actions, errors, raw model replies and timings;
- ``summary.json`` and ``report.html``, rewritten at the end of every invocation (``step-envs bench report DIR``
  rewrites them any time).
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from step_envs.bench.stats import wilson

EPISODES = "episodes.jsonl"
RUN = "run.json"
SUMMARY = "summary.json"
REPORT = "report.html"
IDENTITY = ("agent", "suite", "max_steps", "action_space")
"""What must match for a run to resume into an existing directory."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def episode_id(task_id: str, seed: int | None) -> tuple[str, int | None]:
    """What identifies an episode across invocations: the task instance and the seed it was reset with."""
    return task_id, seed


def safe_name(text: str) -> str:
    """A file name from a task id or turn key (`calc/3|seed=None|...` -> `calc_3_seed_None_...`)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:150] or "episode"


@dataclass
class ResultsDir:
    """The results directory of one benchmark (see the module docstring)."""

    path: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped_lines: int = 0
    """Lines of episodes.jsonl that could not be read (a partial last line after a kill)."""

    @classmethod
    def open(cls, path: str | Path) -> ResultsDir:
        results = cls(Path(path))
        results.load()
        return results

    @property
    def episodes_file(self) -> Path:
        return self.path / EPISODES

    def load(self) -> None:
        self.rows, self.skipped_lines = [], 0
        if not self.episodes_file.exists():
            return
        for line in self.episodes_file.read_text(errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                self.skipped_lines += 1
                continue
            if isinstance(row, dict) and "task" in row:
                self.rows.append(row)
            else:
                self.skipped_lines += 1

    # --- what is done -------------------------------------------------------------------------------------

    def final_rows(self) -> list[dict[str, Any]]:
        """One row per episode id, in first-seen order: the last scored row, else the last env_error row."""
        final: dict[tuple[str, Any], dict[str, Any]] = {}
        for row in self.rows:
            key = episode_id(row["task"], row.get("seed"))
            kept = final.get(key)
            if kept is None or row.get("env_error") is None or kept.get("env_error") is not None:
                final[key] = row
        return list(final.values())

    def done(self) -> set[tuple[str, Any]]:
        """Episode ids with a scored row: a resumed run skips them."""
        return {episode_id(row["task"], row.get("seed")) for row in self.rows if row.get("env_error") is None}

    # --- writing ----------------------------------------------------------------------------------------------

    def start(self, meta: dict[str, Any]) -> int:
        """Create or reopen the directory for a run with `meta` (agent, suite, ...); returns the run number.

        Raises ValueError when the directory holds results of a different agent, suite or setting.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        run_file = self.path / RUN
        previous = json.loads(run_file.read_text()) if run_file.exists() else None
        if previous is not None:
            clash = [f"{k}={previous.get(k)!r} (now {meta.get(k)!r})" for k in IDENTITY
                     if previous.get(k) != meta.get(k)]
            if clash:
                raise ValueError(f"{self.path} holds results of another run: {', '.join(clash)}; resume with the "
                                 "same settings, or pass a new --out (or --fresh to start this one over)")
        record = previous or {k: meta.get(k) for k in IDENTITY}
        record.setdefault("runs", []).append({k: v for k, v in meta.items() if k not in IDENTITY} | {"started": now()})
        write_atomic(run_file, json.dumps(record, indent=2))
        self._cut_partial_line()
        return len(record["runs"])

    def meta(self) -> dict[str, Any]:
        run_file = self.path / RUN
        return json.loads(run_file.read_text()) if run_file.exists() else {}

    def _cut_partial_line(self) -> None:
        """A kill mid-write leaves a last line without its newline: drop it so the next row starts clean."""
        if not self.episodes_file.exists():
            return
        data = self.episodes_file.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.episodes_file.open("r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)
                handle.flush()
                os.fsync(handle.fileno())

    def append(self, row: dict[str, Any]) -> None:
        """Append one episode row and fsync it: once this returns, the episode survives a kill."""
        line = json.dumps(row, default=str) + "\n"
        with self.episodes_file.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        self.rows.append(row)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# --- summaries ------------------------------------------------------------------------------------------------


def group_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts and rates of a set of final rows. `success_rate` is the mean score of the scored episodes (the
    fraction solved when scores are 0/1, OSWorld's convention), `interval` its 95 % Wilson interval; env errors are
    counted apart, never as failures."""
    scored = [row for row in rows if row.get("env_error") is None and row.get("score") is not None]
    scores = [float(row["score"]) for row in scored]
    return {
        "episodes": len(rows),
        "scored": len(scored),
        "solved": sum(1 for s in scores if s >= 1.0),
        "env_errors": len(rows) - len(scored),
        "success_rate": sum(scores) / len(scores) if scores else None,
        "interval": list(wilson(sum(scores), len(scores))) if scores else None,
        "mean_steps": sum(row.get("steps", 0) for row in scored) / len(scored) if scored else None,
        "mean_time_s": sum(row.get("time_s", 0.0) for row in scored) / len(scored) if scored else None,
    }


def by(rows: list[dict[str, Any]], field_name: str) -> dict[str, dict[str, Any]]:
    """`group_stats` per value of a row field (domain, difficulty), sorted by that value."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[str(row.get(field_name) or "-")].append(row)
    return {name: group_stats(groups[name]) for name in sorted(groups)}


def task_spread(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per task run more than once (``--repeats``, ``--seeds``): its scored runs, mean score and standard deviation
    (population), so a task that passes on one seed and fails on another shows as such."""
    groups: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row.get("env_error") is None and row.get("score") is not None:
            groups[row["task"]].append(float(row["score"]))
    spread = {}
    for task in sorted(groups):
        scores = groups[task]
        if len(scores) > 1:
            mean = sum(scores) / len(scores)
            spread[task] = {"runs": len(scores), "mean": mean,
                            "std": (sum((s - mean) ** 2 for s in scores) / len(scores)) ** 0.5}
    return spread


def summarize(results: ResultsDir) -> dict[str, Any]:
    rows = results.final_rows()
    return {"meta": results.meta(), "overall": group_stats(rows), "by_domain": by(rows, "domain"),
            "by_difficulty": by(rows, "difficulty"), "by_task": task_spread(rows), "written": now()}


def write_summary(results: ResultsDir) -> dict[str, Any]:
    summary = summarize(results)
    write_atomic(results.path / SUMMARY, json.dumps(summary, indent=2))
    return summary
