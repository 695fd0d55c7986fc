"""Widget suite latency: reset (restore the session + restart the widget app) and a full episode of the solution
agent (reset, every solution action with its observation, DONE and the checker), over several seeds of every
widget template.

    .venv/bin/python benchmarks/bench_widgets.py [--seeds 4] [--rounds 2] [--a11y]

``--a11y`` observes the accessibility tree too (``a11y_tree=True``: the session's apps talk AT-SPI, every
observation dumps the tree) and reports the widget app's share of it.

Targets (issue 4): reset p50 <= 200 ms, solution episode <= 1 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import defaultdict

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from step_envs.cli.console import wide_console
from step_envs.desktop.env import DesktopEnv
from step_envs.tasks import Task
from step_envs.tasks.templates.widgets import widget_tasks
from step_envs.widgets.app import PROGRAM


def episode(env: DesktopEnv, task: Task) -> dict[str, float]:
    """One solution episode; wall seconds of the reset, of the whole episode, and the reset's phases (and with
    the tree, its size in characters at reset)."""
    t0 = time.perf_counter()
    obs, info = env.reset(options={"task": task})
    reset = time.perf_counter() - t0
    if "env_error" in info:
        raise SystemExit(f"{task.id}: {info['env_error']}")
    phases = {f"reset.{name}": float(seconds) for name, seconds in info["timings"].items()}
    tree = obs.get("a11y_tree")
    a11y = {} if tree is None else {"tree_chars": float(len(tree)), "app_chars": float(len(app_subtree(tree)))}
    reward = 0.0
    for action in task.solution:
        _, reward, terminated, _, info = env.step(action)
        if info.get("action_error") or info.get("env_error"):
            raise SystemExit(f"{task.id}: {action!r} failed: {info}")
        if terminated:
            break
    if reward != 1.0:
        raise SystemExit(f"{task.id}: the solution scored {reward}: {info.get('reason')}")
    return {"reset": reset, "episode": time.perf_counter() - t0, **phases,
            "evaluate": float(info["timings"].get("evaluate", 0.0)), **a11y}


def app_subtree(xml: str) -> str:
    """The widget app's part of the tree XML ("" when it is not there)."""
    start = xml.find(f'<application name="{PROGRAM}"')
    return xml[start:xml.find("</application>", start)] if start >= 0 else ""


def pct(values: list[float]) -> tuple[str, str]:
    ms = np.array(values) * 1000
    return f"{np.percentile(ms, 50):.1f}", f"{np.percentile(ms, 95):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4, help="seeds per template (default 4)")
    parser.add_argument("--rounds", type=int, default=2, help="times each instance is played (default 2)")
    parser.add_argument("--a11y", action="store_true", help="observe the accessibility tree too")
    args = parser.parse_args()

    console = wide_console()
    tasks = widget_tasks(args.seeds)
    console.print(f"machine: {platform.node()}, {os.cpu_count()} cores, python {platform.python_version()}; "
                  f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    t0 = time.perf_counter()
    env = DesktopEnv(max_steps=20, a11y_tree=args.a11y)
    env.reset(options={"task": tasks[0]})
    console.print(f"session start + first reset: {time.perf_counter() - t0:.2f} s")
    samples: dict[str, list[float]] = defaultdict(list)
    per_template: dict[str, list[float]] = defaultdict(list)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            bar = progress.add_task("solution episodes", total=len(tasks) * args.rounds)
            for _ in range(args.rounds):
                for task in tasks:
                    for name, seconds in episode(env, task).items():
                        samples[name].append(seconds)
                    per_template[task.template].append(samples["episode"][-1])
                    progress.advance(bar)
    finally:
        env.close()
    load_after = " ".join(f"{v:.2f}" for v in os.getloadavg())

    tree = ", with the a11y tree" if args.a11y else ""
    table = Table(title=f"widget suite{tree}, {len(tasks)} instances x {args.rounds} rounds (ms)")
    for column in ("measurement", "p50", "p95", "target"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    table.add_row("reset (restore + start the app + settle + observe)", *pct(samples["reset"]), "p50 <= 200")
    for name in ("reset.restore", "reset.setup", "reset.observe"):
        table.add_row(f"  {name.split('.')[1]}", *pct(samples[name]), "")
    table.add_row("solution episode (reset + actions + DONE + check)", *pct(samples["episode"]), "<= 1000")
    table.add_row("  checker (read the state file, compare)", *pct(samples["evaluate"]), "")
    for template, values in sorted(per_template.items()):
        table.add_row(f"  episode, {template}", *pct(values), "")
    console.print(table)
    if args.a11y:
        console.print(f"a11y tree at reset, p50: {np.percentile(samples['tree_chars'], 50):,.0f} characters, of "
                      f"which the widget app {np.percentile(samples['app_chars'], 50):,.0f}")
    console.print(f"load average after: {load_after}")


if __name__ == "__main__":
    main()
