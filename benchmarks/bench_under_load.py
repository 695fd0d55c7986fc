"""The built-in solutions on an oversubscribed machine: how many of a suite's episodes fail while CPU burners keep
every core busy (goal: 0 failures).

    .venv/bin/python benchmarks/bench_under_load.py [--suite smoke|desktop-core|PATH] [--repeats 2] [--envs 2]
        [--burners N] [--out results/under-load] [--max-steps 15]

It starts ``--burners`` busy-loop processes (default: one per core), runs the ``solution`` agent on every task of
``--suite`` ``--repeats`` times (``step-envs bench --agent solution --repeats R``, reset seeds 0..R-1) on ``--envs``
local desktops, stops the burners, then prints, per task, the episodes that failed (score < 1, or an env error)
with the checker's reason, and the total. A solution that waits on time instead of on state (types before the app
takes keys, lets the checker read a file before the save finished) passes on an idle machine and fails here.

The bench's own results (episodes.jsonl, per-step screenshots, report.html) go to ``--out/bench``; the summary of
this run (load averages, failures, command) to ``--out/under-load.json``. The script exits 0 whatever failed: it
reports.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from step_envs.cli.console import wide_console


def _burn(stop: Any) -> None:
    """A burner: spins on the CPU until ``stop`` is set (checks it every ~50 ms of spinning)."""
    while not stop.is_set():
        deadline = time.perf_counter() + 0.05
        while time.perf_counter() < deadline:
            pass


class Burners:
    """``count`` CPU-bound processes, running while the context is open."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.stop = multiprocessing.Event()
        self.procs: list[multiprocessing.Process] = []

    def __enter__(self) -> Burners:
        for _ in range(self.count):
            proc = multiprocessing.Process(target=_burn, args=(self.stop,), daemon=True)
            proc.start()
            self.procs.append(proc)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)


class LoadSampler:
    """Samples the 1-minute load average every few seconds (os.getloadavg), for the report."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(5.0):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def failed(row: dict[str, Any]) -> bool:
    """An episode that did not solve its task: an env error, or a score below 1. Infeasible tasks score 1 when the
    solution answers FAIL, so they count like the others."""
    return row.get("env_error") is not None or row.get("score") is None or float(row["score"]) < 1.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    from step_envs.agents import make_agent
    from step_envs.bench.results import ResultsDir
    from step_envs.bench.runner import run_bench
    from step_envs.cli.bench import suite_tasks

    console = wide_console()
    out = Path(args.out)
    bench_dir = out / "bench"
    tasks = suite_tasks(args.suite)
    burners = args.burners if args.burners is not None else (os.cpu_count() or 1)
    load_before = os.getloadavg()
    console.print(f"{len(tasks)} tasks of {args.suite!r} x {args.repeats} repeats on {args.envs} envs, "
                  f"{burners} CPU burners on {os.cpu_count()} cores; load average before: "
                  f"{' '.join(f'{x:.2f}' for x in load_before)}")
    agent = make_agent("solution", {})
    started = time.perf_counter()
    with LoadSampler() as sampler, Burners(burners):
        result = run_bench(agent, tasks, bench_dir, agent_spec="solution", suite=args.suite, envs=args.envs,
                           provider="local", max_steps=args.max_steps, seeds=list(range(args.repeats)),
                           image_format=args.images, fresh=True)
    elapsed = time.perf_counter() - started
    rows = ResultsDir.open(bench_dir).final_rows()
    failures: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if failed(row):
            failures.setdefault(row["task"], []).append(
                {"seed": row.get("seed"), "score": row.get("score"), "env_error": row.get("env_error"),
                 "reason": row.get("reason"), "dir": row.get("dir")})
    total = sum(len(v) for v in failures.values())
    load = sampler.samples
    summary = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} ({os.cpu_count()} cores)",
        "suite": args.suite, "repeats": args.repeats, "envs": args.envs, "burners": burners,
        "episodes": len(rows), "failures": total, "goal": 0,
        "failed_tasks": failures,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_during": {"mean": round(sum(load) / len(load), 2) if load else None,
                                "max": round(max(load), 2) if load else None, "samples": len(load)},
        "elapsed_s": round(elapsed, 1),
        "bench_dir": str(bench_dir), "report": str(result.report),
        "command": "benchmarks/bench_under_load.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "under-load.json").write_text(json.dumps(summary, indent=1) + "\n")

    console.print(f"\n{len(rows)} episodes in {elapsed:.0f} s; load average during the run: mean "
                  f"{summary['load_average_during']['mean']}, max {summary['load_average_during']['max']}")
    for task, episodes in sorted(failures.items()):
        console.print(f"[red]FAIL[/red] {task}: {len(episodes)} of {args.repeats}")
        for episode in episodes:
            why = episode["env_error"] or episode["reason"]
            console.print(f"    seed {episode['seed']}: score {episode['score']}: {why}  ({bench_dir / episode['dir']})")
    console.print(f"[bold]failures: {total} of {len(rows)} episodes[/bold] (goal: 0 failures); "
                  f"summary: {out / 'under-load.json'}, report: {result.report}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="smoke", help="smoke (default), desktop-core, or a suite file / folder")
    parser.add_argument("--repeats", type=int, default=2, help="episodes per task, reset seeds 0..R-1 (default 2)")
    parser.add_argument("--envs", type=int, default=2, help="local desktops run in parallel (default 2)")
    parser.add_argument("--burners", type=int, default=None,
                        help="CPU burner processes (default: one per core; 0 runs without load)")
    parser.add_argument("--max-steps", type=int, default=15, help="actions per episode (default 15)")
    parser.add_argument("--images", default="jpeg", choices=("jpeg", "png", "none"),
                        help="per-step screenshots in the bench directory (default jpeg: look at a failure)")
    parser.add_argument("--out", default="results/under-load",
                        help="where the bench directory and under-load.json go (default results/under-load)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats takes a count of at least 1")
    run(args)


if __name__ == "__main__":
    main()
