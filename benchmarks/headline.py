"""The README's headline desktop figures, from one run of one script: measure, print the table, and compare with the
recorded figures (``benchmarks/headline.json``).

    .venv/bin/python benchmarks/headline.py            # measure and compare: names every figure > 2x its record
    .venv/bin/python benchmarks/headline.py --record   # measure and make this run the record (on a quiet machine)
    make bench-check                                   # the same as the first line, a few minutes

Figures: session start + first reset, a simple task's reset p50, a step's p50 (``moveTo`` + settled 1280x720
observation), a widget task's solution episode p50; all on the local provider. It reports (exit 0), it never fails a
build: timings depend on the machine and its load (the load average is printed and recorded beside them). The
README's figure table shows the recorded values (a test checks they agree), so a regression cannot hide behind
an old number: run it, and a figure more than ``--factor`` times its record is named.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECORD = HERE / "headline.json"
sys.path.insert(0, str(HERE))

FIGURES = {
    "start": ("session start + first reset, local", "s"),
    "reset_simple": ("reset of a simple task, local, p50", "ms"),
    "step": ("step (`moveTo` + settled 1280x720 observation), local, p50", "ms"),
    "widget_episode": ("widget task, whole solution episode (reset + steps), local, p50", "ms"),
}


def measure(resets: int, steps: int, episodes: int) -> dict[str, float]:
    from step_envs.desktop.env import DesktopEnv
    from step_envs.tasks import load_task
    from step_envs.tasks.probes import WRITE_FILE

    figures: dict[str, float] = {}
    t0 = time.perf_counter()
    env = DesktopEnv(task=WRITE_FILE, max_steps=steps + 1)
    try:
        env.reset()
        figures["start"] = time.perf_counter() - t0
        times = []
        for _ in range(resets):
            t0 = time.perf_counter()
            env.reset(options={"task": WRITE_FILE})
            times.append(time.perf_counter() - t0)
        figures["reset_simple"] = 1000 * statistics.median(times)
        env.reset(options={"task": WRITE_FILE})
        times = []
        for i in range(steps):
            t0 = time.perf_counter()
            env.step(f"pyautogui.moveTo({100 + (i % 2) * 400}, {200 + (i % 3) * 100})")
            times.append(time.perf_counter() - t0)
        figures["step"] = 1000 * statistics.median(times)
        times = []
        for seed in range(episodes):
            task = load_task(f"widget-click-button/{seed}")
            t0 = time.perf_counter()
            env.reset(options={"task": task})
            for action in task.solution:
                env.step(action)
            times.append(time.perf_counter() - t0)
        figures["widget_episode"] = 1000 * statistics.median(times)
    finally:
        env.close()
    return figures


def shown(key: str, value: float) -> str:
    """How the README writes a figure."""
    unit = FIGURES[key][1]
    return f"{value:.2f} s" if unit == "s" else f"{value:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resets", type=int, default=20, help="simple resets measured (default 20)")
    parser.add_argument("--steps", type=int, default=100, help="steps measured (default 100)")
    parser.add_argument("--episodes", type=int, default=8, help="widget episodes measured (default 8)")
    parser.add_argument("--factor", type=float, default=2.0, help="name figures above this many times their record")
    parser.add_argument("--record", action="store_true", help="make this run the record (benchmarks/headline.json)")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load average {load:.1f} before the run")
    figures = measure(args.resets, args.steps, args.episodes)
    record = json.loads(RECORD.read_text()) if RECORD.is_file() else {"figures": {}}
    print(f"\n| what | now | recorded ({record.get('date', '-')}, load {record.get('load', '-')}) | ratio |")
    print("| --- | --- | --- | --- |")
    regressed = []
    for key, (what, _) in FIGURES.items():
        before = record["figures"].get(key)
        ratio = figures[key] / before if before else None
        if ratio is not None and ratio > args.factor:
            regressed.append(f"{what}: {shown(key, figures[key])} against {shown(key, before)} ({ratio:.1f}x)")
        print(f"| {what} | {shown(key, figures[key])} | {shown(key, before) if before else '-'} | "
              f"{f'{ratio:.2f}x' if ratio else '-'} |")
    if regressed:
        print(f"\nmore than {args.factor:g}x the record (on a loaded machine, rerun on a quiet one before believing it):")
        for line in regressed:
            print(f"  {line}")
    else:
        print(f"\nno figure above {args.factor:g}x its record")
    if args.record:
        RECORD.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "machine": platform.node(),
                                      "cores": os.cpu_count(), "load": round(load, 1),
                                      "command": "benchmarks/headline.py --record",
                                      "figures": {k: round(v, 3) for k, v in figures.items()}}, indent=1) + "\n")
        print(f"recorded in {RECORD.relative_to(HERE.parent)}: update the README's figure table to these values")
    return 0


if __name__ == "__main__":
    sys.exit(main())
