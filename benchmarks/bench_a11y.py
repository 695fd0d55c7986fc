"""What an accessibility-tree observation costs: a new dumper process per tree (the old ``/accessibility``) against
the controller's long-lived reader, whole desktop (``scope=all``) and active window (``scope=active``), on one
session of a widget task; and what the reads cost the Xfce panel, which every AT-SPI reader walks.

    .venv/bin/python benchmarks/bench_a11y.py [--task widget-click-button/3] [--fetches 60] [--idle 5]
                                              [--modes reader-active,reader-all,once]

Per mode, back to back on the same session (a mode may come more than once: ``reader-all,once,reader-all`` shows
whether many one-shot reads leave the panel slower): ``--fetches`` trees from the host's client after one warm-up
tree (``first``: for a reader mode the reader is killed before it, so it is a reader's start and a tree), their
p50 / p95 wall time and size; the CPU the session's panel (``xfce4-panel`` and its plugin processes) and its
accessibility bus (its ``dbus-daemon`` and ``at-spi2-registryd``) used meanwhile, in ms per tree and in % of one
core; then the panel's CPU over ``--idle`` seconds of nothing (``idle after``), which grows if the reads leave the
panel working; and the reader's resident memory before and after the mode's trees.

``once`` is the old path: ``a11y.py`` run in the session through ``/execute`` (``bash``, then each interpreter of
``step_envs.server.commands.A11Y_PYTHONS`` until one has pyatspi, as ``accessibility_tree_once`` does, a few ms of
bash on top). Run it with the venv's Python, the one the local provider's server runs, so the interpreters are
the server's.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import time

import numpy as np
import requests

from step_envs.desktop.env import DesktopEnv
from step_envs.providers.procs import session_pids
from step_envs.server.client import ControllerClient
from step_envs.server.commands import A11Y_PYTHONS, A11Y_SCRIPT
from step_envs.tasks.templates.widgets import widget_task

MODES = ("reader-active", "reader-all", "once")
TICK = os.sysconf("SC_CLK_TCK")


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return ""


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU seconds the processes used so far (those gone count 0)."""
    total = 0
    for pid in pids:
        fields = _read(f"/proc/{pid}/stat").rsplit(")", 1)[-1].split()
        if len(fields) > 12:
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def session_groups(session_id: str) -> dict[str, set[int]]:
    """The session's panel processes (``xfce4-panel`` and its plugins' wrappers) and its accessibility bus's."""
    groups: dict[str, set[int]] = {"panel": set(), "a11y bus": set()}
    for pid in session_pids(session_id):
        command = _read(f"/proc/{pid}/cmdline").replace("\0", " ")
        if "xfce4-panel" in command or "/xfce4/panel/" in command:
            groups["panel"].add(pid)
        elif "at-spi2-registryd" in command or ("dbus-daemon" in command and "at-spi2" in command):
            groups["a11y bus"].add(pid)
    return groups


def rss_mb(pid: int | None) -> float | None:
    for line in _read(f"/proc/{pid}/status").splitlines() if pid else []:
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def once_command(max_depth: int = 50, max_width: int = 1024, budget: float = 10.0) -> str:
    """The shell line that dumps one tree as ``accessibility_tree_once`` does: interpreters in turn, the next one
    only after exit code 3 (no pyatspi)."""
    args = f"{shlex.quote(str(A11Y_SCRIPT))} --max-depth {max_depth} --max-width {max_width} --budget {budget:g}"
    pythons = " ".join(shlex.quote(python) for python in dict.fromkeys(A11Y_PYTHONS))
    return (f'for p in {pythons}; do [ -x "$p" ] || continue; "$p" {args}; rc=$?; '
            '[ $rc -eq 3 ] || exit $rc; done; exit 3')


def fetch(client: ControllerClient, mode: str) -> str:
    if mode == "once":
        result = client.execute(once_command(), shell=True, timeout=30)
        if result.get("returncode") != 0:
            raise SystemExit(f"the one-shot dumper failed: {result}")
        return result["output"]
    return client.accessibility_tree(scope=mode.removeprefix("reader-"))


def reader_pid(client: ControllerClient) -> int | None:
    return requests.get(f"{client.endpoint.url}/health", timeout=5).json().get("a11y_pid")


def run_mode(client: ControllerClient, groups: dict[str, set[int]], mode: str, fetches: int,
             idle: float) -> dict[str, object]:
    pid = reader_pid(client)
    if mode != "once" and pid is not None:  # the first tree then starts a reader
        client.execute(["kill", "-9", str(pid)])
        while reader_pid(client) == pid:
            time.sleep(0.01)
    t0 = time.perf_counter()
    fetch(client, mode)  # a reader's start, or a warm cache
    first = time.perf_counter() - t0
    rss_before = rss_mb(reader_pid(client)) if mode != "once" else None
    cpu0 = {name: cpu_seconds(pids) for name, pids in groups.items()}
    times, sizes = [], []
    start = time.perf_counter()
    for _ in range(fetches):
        t0 = time.perf_counter()
        sizes.append(len(fetch(client, mode)))
        times.append(time.perf_counter() - t0)
    wall = time.perf_counter() - start
    used = {name: cpu_seconds(pids) - cpu0[name] for name, pids in groups.items()}
    rss_after = rss_mb(reader_pid(client)) if mode != "once" else None
    panel0 = cpu_seconds(groups["panel"])
    time.sleep(idle)
    idle_after = 100 * (cpu_seconds(groups["panel"]) - panel0) / idle
    ms = np.array(times) * 1000
    return {"mode": mode, "fetches": fetches, "p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "first": first * 1000, "chars": int(np.median(sizes)), "panel": used["panel"], "bus": used["a11y bus"],
            "wall": wall, "idle": idle_after, "rss": (rss_before, rss_after)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="widget-click-button/3", help="a widget task instance (the screen read)")
    parser.add_argument("--fetches", type=int, default=60, help="trees per mode, after one warm-up (default 60)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of the panel's idle CPU after each mode")
    parser.add_argument("--modes", default=",".join(MODES), help=f"in this order, comma-separated ({', '.join(MODES)})")
    args = parser.parse_args()
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown modes {unknown}; known: {', '.join(MODES)}")

    env = DesktopEnv(a11y_tree=True, max_steps=10)
    try:
        env.reset(options={"task": widget_task(args.task)})
        assert env.client is not None and env.provider is not None
        groups = session_groups(env.provider.session_id)
        panel0 = cpu_seconds(groups["panel"])
        time.sleep(args.idle)
        idle_before = 100 * (cpu_seconds(groups["panel"]) - panel0) / args.idle
        rows = [run_mode(env.client, groups, mode, args.fetches, args.idle) for mode in modes]
    finally:
        env.close()

    print(f"{platform.node()}, {os.cpu_count()} CPUs; local provider, task {args.task}, {args.fetches} trees per mode; "
          f"panel idle before: {idle_before:.1f}% of a core")
    print(f"{'mode':<14} {'p50 ms':>7} {'p95 ms':>7} {'first ms':>8} {'chars':>6} {'panel ms/tree':>13} "
          f"{'panel %':>7} {'bus ms/tree':>11} {'bus %':>6} {'idle after %':>12} {'reader RSS MB':>13}")
    for row in rows:
        before, after = row["rss"]  # type: ignore[misc]
        rss = "-" if before is None else f"{before:.1f}->{after:.1f}"
        n, wall = row["fetches"], row["wall"]
        print(f"{row['mode']:<14} {row['p50']:>7.1f} {row['p95']:>7.1f} {row['first']:>8.1f} {row['chars']:>6} "
              f"{1000 * row['panel'] / n:>13.1f} {100 * row['panel'] / wall:>7.1f} {1000 * row['bus'] / n:>11.1f} "
              f"{100 * row['bus'] / wall:>6.1f} {row['idle']:>12.1f} {rss:>13}")


if __name__ == "__main__":
    main()
