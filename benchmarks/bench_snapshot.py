"""Snapshot resets against restarts, per heavy app: reset time, readiness, memory, dump and fork costs.

    .venv/bin/python benchmarks/bench_snapshot.py [--apps calc,writer,...] [--resets 6] [--csv OUT.csv] [--json]

Two envs run side by side, one per reset mode (``restart``: the task's apps start again at each reset;
``snapshot``: the session is restored from the CRIU dump taken after the task's first setup, docs/providers.md),
and go round the apps of `bench_app_resets.py` (the same tasks: Calc, Writer and Impress open a document; Chromium,
GIMP, Thunderbird and VLC start as OSWorld's tasks start them). Per app: one untimed reset in each env (the switch;
in the snapshot env it takes the dump, whose time is reported), then ``--resets`` timed resets in each, alternating
the two envs so a drift of the machine's load hits both alike. After each reset the script waits until the app's
windows stop drawing (``/step/idle``, 0.2 s of quiet): ``ready`` is reset + that wait, the time until the app is
usable and not, for GIMP, at its splash screen. Then: the memory of each env's process tree (PSS), the fork time
(``env.fork()`` mid-episode) with the fork's memory, and whether the fork's first screen equals its parent's.
Run as root with CRIU 4.2 (``make install``); the table goes to stdout (and ``--csv``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_app_resets import APPS, tasks  # noqa: E402
from bench_docker import pss_kb  # noqa: E402


def ready_after(env: object) -> float:
    """Seconds until the windows the task opened stop drawing (0.2 s of quiet, at most 60 s)."""
    new = [w["id"] for w in env.client.windows() if w["desktop"] != "-1"]  # type: ignore[attr-defined]
    return float(env.client.wait_idle(new, 0.2, 60)["waited"]) if new else 0.0  # type: ignore[attr-defined]


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def measure(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    from step_envs.desktop.env import DesktopEnv

    chosen = tasks(Path(tempfile.mkdtemp(prefix="bench-snapshot-")))
    envs = {mode: DesktopEnv(task="os-create-folder", reset_mode=mode) for mode in ("restart", "snapshot")}
    found: dict[str, dict[str, object]] = {}
    try:
        for env in envs.values():
            env.reset()
        provider = envs["snapshot"].provider
        if getattr(provider, "reset_mode", "") != "snapshot":
            raise SystemExit(f"snapshots cannot run here: {getattr(provider, 'snapshot_unavailable', '?')}")
        for app in args.apps:
            try:
                found[app] = measure_app(envs, chosen[app], app, args.resets)
            except AppFailed as exc:  # the others still run; the table says what failed
                found[app] = {"error": str(exc)}
                print(f"{app}: {exc}", file=sys.stderr, flush=True)
    finally:
        for env in envs.values():
            env.close()
    return found


class AppFailed(Exception):
    """An app's resets could not be measured (an env_error, or no snapshot restored)."""


def reset(env: object, task: object, mode: str) -> dict[str, object]:
    """``env.reset`` onto ``task``; its info. A failed reset (a `ResetError`, an ``env_error``) is `AppFailed`."""
    from step_envs.core import ResetError

    try:
        _, info = env.reset(options={"task": task})  # type: ignore[attr-defined]
    except ResetError as exc:
        raise AppFailed(f"{mode}: {exc}") from exc
    if info.get("env_error"):
        raise AppFailed(f"{mode}: {info['env_error']}")
    return info


def measure_app(envs: dict[str, object], task: object, app: str, resets: int) -> dict[str, object]:
    """One app's figures in both envs (see the module docstring)."""
    from step_envs.providers.base import ProviderError

    row: dict[str, object] = {mode: {"reset": [], "ready": []} for mode in envs}
    for mode, env in envs.items():
        info = reset(env, task, mode)
        if mode == "snapshot":
            row["dump"] = info["timings"].get("snapshot", float("nan"))
            row["taken"] = info.get("snapshot")
    for _ in range(resets):
        for mode, env in envs.items():
            t0 = time.perf_counter()
            info = reset(env, task, mode)
            spent = time.perf_counter() - t0
            if mode == "snapshot" and info.get("snapshot") != "restored":
                raise AppFailed(f"the snapshot env did not restore ({info.get('snapshot')})")
            wait = ready_after(env)
            row[mode]["reset"].append(spent)  # type: ignore[index]
            row[mode]["ready"].append(spent + wait)  # type: ignore[index]
    for mode, env in envs.items():
        row[f"pss_{mode}"] = pss_kb(env.provider._pids()) / 1024  # type: ignore[union-attr]
    envs["snapshot"].step("WAIT")
    t0 = time.perf_counter()
    try:
        twin = envs["snapshot"].fork()
    except ProviderError as exc:
        print(f"{app}: the fork failed: {exc}", file=sys.stderr, flush=True)
        row.update(fork=float("nan"), fork_equal=False, pss_fork=float("nan"), fork_error=str(exc))
        return row
    row["fork"] = time.perf_counter() - t0
    try:
        theirs, *_ = twin.step("WAIT")
        ours, *_ = envs["snapshot"].step("WAIT")
        row["fork_equal"] = bool((theirs["screenshot"] == ours["screenshot"]).all())
        row["pss_fork"] = pss_kb(twin.provider._pids()) / 1024  # type: ignore[union-attr]
    finally:
        twin.close()
    print(f"{app}: restart {p(row['restart']['reset'], 50):.2f} s, snapshot "  # type: ignore[index]
          f"{p(row['snapshot']['reset'], 50):.2f} s, fork {row['fork']:.2f} s", file=sys.stderr, flush=True)
    return row


def table(found: dict[str, dict[str, object]]) -> str:
    lines = ["| app | restart: reset p50 / p95 | ready p50 | snapshot: reset p50 / p95 | ready p50 | dump (once) "
             "| PSS restart / snapshot env | fork | fork PSS | fork's first screen = parent's |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for app, row in found.items():
        if "error" in row:
            lines.append(f"| {app} | failed: {str(row['error'])[:200]} |" + " |" * 8)
            continue
        r, s = row["restart"], row["snapshot"]
        lines.append(f"| {app} | {p(r['reset'], 50):.2f} / {p(r['reset'], 95):.2f} s | "  # type: ignore[index]
                     f"{p(r['ready'], 50):.2f} s | **{p(s['reset'], 50):.2f}** / {p(s['reset'], 95):.2f} s | "
                     f"{p(s['ready'], 50):.2f} s | {row['dump']:.2f} s | {row['pss_restart']:.0f} / "
                     f"{row['pss_snapshot']:.0f} MiB | {row['fork']:.2f} s | {row['pss_fork']:.0f} MiB | "
                     f"{'yes' if row['fork_equal'] else 'NO'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=lambda text: text.split(","), default=list(APPS),
                        help=f"comma-separated, of {','.join(APPS)} (default: all)")
    parser.add_argument("--resets", type=int, default=6, help="timed resets per app and mode")
    parser.add_argument("--csv", type=Path, help="also write one row per app and mode here")
    parser.add_argument("--json", action="store_true", help="print the raw figures as one JSON line")
    args = parser.parse_args()
    unknown = set(args.apps) - set(APPS)
    if unknown:
        parser.error(f"unknown apps: {', '.join(sorted(unknown))}")
    found = measure(args)
    load = os.getloadavg()
    print(f"{time.strftime('%Y-%m-%d')} {platform.node()} {os.cpu_count()} cores, load "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; {args.resets} timed resets per app and mode")
    print(table(found))
    if args.json:
        print(json.dumps(found))
    if args.csv:
        with args.csv.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["app", "mode", "reset_p50_s", "reset_p95_s", "ready_p50_s", "pss_mib", "dump_s", "fork_s",
                             "fork_pss_mib", "fork_equal"])
            for app, row in found.items():
                if "error" in row:
                    writer.writerow([app, "error", str(row["error"])[:500]])
                    continue
                for mode in ("restart", "snapshot"):
                    times = row[mode]  # type: ignore[index]
                    writer.writerow([app, mode, f"{p(times['reset'], 50):.3f}", f"{p(times['reset'], 95):.3f}",
                                     f"{p(times['ready'], 50):.3f}", f"{row[f'pss_{mode}']:.0f}",
                                     f"{row['dump']:.3f}" if mode == "snapshot" else "",
                                     f"{row['fork']:.3f}" if mode == "snapshot" else "",
                                     f"{row['pss_fork']:.0f}" if mode == "snapshot" else "",
                                     row["fork_equal"] if mode == "snapshot" else ""])


if __name__ == "__main__":
    main()
