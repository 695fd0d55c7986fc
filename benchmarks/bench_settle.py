"""The settle wait of a step, ``damage`` against ``grabs``, on one session in alternating blocks (same machine, same
load): how long a step takes and how often its observation was the final screen.

    .venv/bin/python benchmarks/bench_settle.py [--rounds 6] [--steps 30] [--seeds 2] [--provider local|docker]

Workloads, each round running every workload once per mode (the mode that goes first alternates):

- ``moveTo``: the pointer moves over the empty desktop, back to back (``bench_desktop.py``'s step): nothing
  reacts, so the wait is pure overhead;
- ``widgets``: the solution actions of widget tasks (clicks that open a dropdown, tick boxes, typing into an
  entry), each after a pause as an agent's would come;
- ``typing``: ``pyautogui.write`` into mousepad, after a pause.

``final``: for the paused workloads, the share of observations equal to the screen 0.15 s later. A settle that
returned in the middle of a reaction is not final; so is one that a tooltip or a caret's blink changed by then,
which no wait short of them can help: compare the modes with each other, not with 100%.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import defaultdict

import numpy as np

from step_envs.desktop.env import DesktopEnv
from step_envs.server import SETTLE_MODES
from step_envs.tasks.probes import EDITOR, WRITE_FILE
from step_envs.tasks.templates.widgets import widget_task

WIDGET_TEMPLATES = ("widget-click-button", "widget-select-option", "widget-tick-boxes", "widget-type-text",
                    "widget-choose-radio", "widget-fill-form", "widget-settings")
PAUSE_S = 0.3  # before a step, as an agent's think time
FINAL_AFTER_S = 0.15


def step(env: DesktopEnv, action: str, samples: dict[str, list[float]], check_final: bool) -> None:
    """One step; its wall time, its settle time and (``check_final``) whether the screen 0.15 s later is the same."""
    t0 = time.perf_counter()
    obs, _, _, _, info = env.step(action)
    samples["step"].append(time.perf_counter() - t0)
    if info.get("action_error") or info.get("env_error"):
        raise SystemExit(f"{action!r} failed: {info}")
    samples["settle"].append(info["timings"]["settle"])
    if check_final:
        time.sleep(FINAL_AFTER_S)
        samples["final"].append(float(np.array_equal(obs["screenshot"], env.client.screenshot())))


def run_workloads(env: DesktopEnv, steps: int, seeds: int, results: dict[tuple[str, str], dict[str, list[float]]]
                  ) -> None:
    """Every workload once with ``env.settle`` as it is set."""
    moves = results[("moveTo", env.settle)]
    env.reset(options={"task": WRITE_FILE})
    for i in range(steps):
        step(env, f"pyautogui.moveTo({100 + (i % 2) * 400}, {200 + (i % 3) * 100})", moves, check_final=False)
    widgets = results[("widgets", env.settle)]
    for template in WIDGET_TEMPLATES:
        for seed in range(seeds):
            task = widget_task(f"{template}/{seed}")
            env.reset(options={"task": task})
            for action in task.solution:
                if action in ("DONE", "FAIL"):
                    break
                time.sleep(PAUSE_S)
                step(env, action, widgets, check_final=True)
    typing = results[("typing", env.settle)]
    env.reset(options={"task": EDITOR})
    for i in range(min(steps, 10)):
        time.sleep(PAUSE_S)
        step(env, f"pyautogui.write('word{i} ')", typing, check_final=True)


def ms(values: list[float], q: float) -> str:
    return f"{np.percentile(np.array(values) * 1000, q):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=30, help="moveTo steps per block (typing: at most 10)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds of each widget template per block")
    parser.add_argument("--provider", choices=["local", "docker"], default="local")
    args = parser.parse_args()
    print(f"machine: {platform.node()}  {os.cpu_count()} cores  load average {os.getloadavg()[0]:.1f}  "
          f"python {platform.python_version()}  provider {args.provider}")
    env = DesktopEnv(task=WRITE_FILE, provider=args.provider, max_steps=10_000)
    results: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    try:
        env.reset()
        for round_ in range(args.rounds):
            for mode in SETTLE_MODES if round_ % 2 == 0 else SETTLE_MODES[::-1]:
                env.settle = mode
                run_workloads(env, args.steps, args.seeds, results)
            print(f"round {round_ + 1}/{args.rounds} done, load average {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        env.close()
    print("| workload | settle | steps | step p50 / p95 (ms) | settle p50 / p95 (ms) | final |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (workload, mode), samples in results.items():
        final = f"{np.mean(samples['final']):.0%}" if samples["final"] else ""
        print(f"| {workload} | {mode} | {len(samples['step'])} | {ms(samples['step'], 50)} / {ms(samples['step'], 95)} "
              f"| {ms(samples['settle'], 50)} / {ms(samples['settle'], 95)} | {final} |")


if __name__ == "__main__":
    main()
