"""Where an idle desktop session's memory goes: PSS per process of N sessions started side by side.

    .venv/bin/python benchmarks/bench_memory.py [--envs 8] [--idle 8] [--lean] [--provider local|docker]

Starts N `DesktopEnv`s (the default session: Xvfb, xfwm4, the Xfce panel and xfdesktop, the
controller server and its pyautogui worker), resets each to a terminal-free simple task, lets them idle
``--idle`` seconds, then sums each session's processes' PSS (``/proc/PID/smaps_rollup``: a page shared by k
processes counts 1/k to each, so N sessions share the libraries' cost) by process, and prints the mean per env.
PSS, not RSS: what N sessions together take is N x the total below. With ``--provider docker`` the processes are
the container's (its supervisor too), and the container's own cgroup figure (page cache excluded) is printed beside.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections import defaultdict

from bench_pool import pss_kib

from step_envs.desktop.env import DesktopEnv
from step_envs.providers.procs import session_pids
from step_envs.tasks.probes import WRITE_FILE

# python processes of a session, told apart by their command line
PYTHON_ROLES = (("step_envs.server.worker", "pyautogui worker"), ("step_envs.server", "controller server"),
                ("step_envs.providers.container", "supervisor (docker)"), ("shortcuts", "shortcuts"))


def role_of(pid: int) -> str:
    """A readable name for a session process: its command, or for Python its role."""
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        comm = open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        return "?"
    if comm.startswith("python"):
        line = " ".join(a.decode(errors="replace") for a in argv)
        for needle, role in PYTHON_ROLES:
            if needle in line:
                return role
        return "python: " + " ".join(a.decode(errors="replace") for a in argv[1:3])
    return comm


def pids_of(env: DesktopEnv) -> list[int]:
    """The session's processes: by its marker (local), or every process of its container (docker; host pids)."""
    container = getattr(env.provider, "container", None)
    if container is None:
        return sorted(session_pids(env.provider.session_id))
    top = container.top(ps_args="-eo pid")
    return [int(row[0]) for row in top["Processes"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--idle", type=float, default=8.0, help="seconds to idle before measuring")
    parser.add_argument("--lean", action="store_true", help="sessions without the panel and xfdesktop")
    parser.add_argument("--provider", choices=["local", "docker"], default="local")
    args = parser.parse_args()
    print(f"machine: {platform.node()}  {os.cpu_count()} cores  python {platform.python_version()}  "
          f"{args.envs} {args.provider} sessions, {'lean' if args.lean else 'default'}")
    kwargs = {"panel": False, "desktop": False} if args.lean else {}
    envs = []
    try:
        for _ in range(args.envs):
            env = DesktopEnv(task=WRITE_FILE, provider=args.provider, provider_kwargs=kwargs)
            env.reset()
            envs.append(env)
        time.sleep(args.idle)
        per_role: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(envs))
        for i, env in enumerate(envs):
            for pid in pids_of(env):
                per_role[role_of(pid)][i] += pss_kib(pid) / 1024
        totals = [sum(values[i] for values in per_role.values()) for i in range(len(envs))]
        print(f"{'process':32s} {'PSS per env, MiB':>18s}")
        for role, values in sorted(per_role.items(), key=lambda item: -sum(item[1])):
            print(f"{role:32s} {statistics.mean(values):18.1f}")
        print(f"{'total':32s} {statistics.mean(totals):18.1f}   (min {min(totals):.1f}, max {max(totals):.1f})")
        if args.provider == "docker":
            cgroup = [env.provider.memory_bytes() / 2**20 for env in envs]
            print(f"{'cgroup, page cache excluded':32s} {statistics.mean(cgroup):18.1f}")
    finally:
        for env in envs:
            env.close()


if __name__ == "__main__":
    main()
