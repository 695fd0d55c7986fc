"""EnvPool throughput, memory and fault tolerance.

    .venv/bin/python benchmarks/bench_pool.py [--provider local|docker|ray] [--envs 1,2,4,8] [--steps 10]
        [--episodes-per-env 4] [--ray-overhead 2] [--faults 200] [--variant slim]

- throughput: aggregate env steps/s with a zero-think-time agent (``pyautogui.moveTo`` to a random point, then
  DONE; one episode = ``--steps`` steps + a reset), for each pool size in ``--envs``;
- memory: PSS of every process of every session at the largest pool size (local), or the containers' memory;
- Ray overhead: the same workload on ``--ray-overhead`` envs, ``provider="local"`` vs ``provider="ray"`` (one node);
- faults: ``--faults`` episodes on 8 envs while ~10 % of them see their env's Xvfb or controller SIGKILLed (local)
  or their container killed (docker): counts lost / doubled episodes and replacements.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import subprocess
import threading
import time
from typing import Any

import numpy as np
from rich.table import Table

from step_envs.agents import Turn
from step_envs.cli.console import wide_console
from step_envs.pool import EnvPool
from step_envs.providers.procs import session_pids
from step_envs.tasks import Task
from step_envs.tasks.probes import WRITE_FILE

console = wide_console()


class MoveAgent:
    """Zero think time: random cursor moves, DONE on the last step."""

    name = "move"

    def __init__(self, steps: int, seed: int = 0) -> None:
        self.steps, self.rng = steps, random.Random(seed)

    def reset(self, task: Task, key: str) -> None:
        pass

    def end(self, key: str) -> None:
        pass

    def act(self, turns: list[Turn]) -> list[str]:
        return ["DONE" if t.step >= self.steps - 1 else
                f"pyautogui.moveTo({self.rng.randrange(1280)}, {self.rng.randrange(720)})" for t in turns]


class SolutionAgent(MoveAgent):
    def act(self, turns: list[Turn]) -> list[str]:
        return [t.task.solution[min(t.step, len(t.task.solution) - 1)] for t in turns]


def cpu_seconds(pool: EnvPool) -> float:
    """CPU time used so far by this process and every process of the pool's sessions (children included)."""
    times = os.times()
    total = times.user + times.system
    for i in range(pool.num_envs):
        for pid in session_pids(pool.describe(i).get("session_id", "")):
            try:
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
    return total


def throughput(pool: EnvPool, steps: int, episodes: int) -> dict[str, float]:
    pool.run_episodes(MoveAgent(steps), [WRITE_FILE] * pool.num_envs, max_steps=steps)  # warm: apps, caches
    t0, cpu0 = time.monotonic(), cpu_seconds(pool)
    done = pool.run_episodes(MoveAgent(steps), [WRITE_FILE] * episodes, max_steps=steps)
    seconds, cpu = time.monotonic() - t0, cpu_seconds(pool) - cpu0
    step_times = [s.timings["env"] for e in done for s in e.steps]
    total = sum(len(e.steps) for e in done)
    return {"steps_per_s": total / seconds, "episodes_per_s": len(done) / seconds,
            "cpu_ms_per_step": 1000 * cpu / total, "load": os.getloadavg()[0],
            "step_p50_ms": 1000 * float(np.percentile(step_times, 50)),
            "step_p95_ms": 1000 * float(np.percentile(step_times, 95)), "errors": sum(not e.valid for e in done)}


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            return sum(int(line.split()[1]) for line in handle if line.startswith("Pss:"))
    except OSError:
        return 0


def memory_per_env(pool: EnvPool) -> list[float]:
    """MiB per env: PSS of the session's processes (local), or the container's memory (docker)."""
    sizes = []
    for i in range(pool.num_envs):
        where = pool.describe(i)
        if "session_id" in where:
            sizes.append(sum(pss_kib(pid) for pid in session_pids(where["session_id"])) / 1024)
        elif "container" in where:
            handle = pool._slots[i].handle  # the provider knows its container's cgroup usage
            sizes.append(handle.provider.memory_bytes() / 2**20)  # type: ignore[union-attr]
    return sizes


def kill(where: dict[str, Any], rng: random.Random) -> bool:
    if "container" in where:
        return subprocess.run(["docker", "kill", where["container"]], capture_output=True).returncode == 0
    for pid in session_pids(where.get("session_id", "")):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        target = rng.choice([b"Xvfb", b"step_envs.server"])
        if argv and (argv[0].endswith(b"Xvfb") if target == b"Xvfb" else target in argv):
            os.kill(pid, signal.SIGKILL)
            return True
    return False


def faults(provider: str, provider_kwargs: dict[str, Any], episodes: int, num_envs: int = 8) -> dict[str, Any]:
    rng, kills, stop = random.Random(1), [], threading.Event()
    wanted = max(1, episodes // 10)
    with EnvPool(num_envs, provider, env_kwargs={"max_steps": 4}, provider_kwargs=provider_kwargs,
                 health_interval=0.5) as pool:
        def killer() -> None:
            while not stop.wait(rng.uniform(0.5, 2.0)) and len(kills) < wanted:
                where = pool.describe(rng.randrange(num_envs))
                if where and kill(where, rng):
                    kills.append(where)

        thread = threading.Thread(target=killer, daemon=True)
        delivered: list[str] = []
        t0 = time.monotonic()
        thread.start()
        done = pool.run_episodes(SolutionAgent(2), [(WRITE_FILE, s) for s in range(episodes)],
                                 on_episode=lambda e: delivered.append(e.info["key"]))
        stop.set()
        thread.join()
        seconds = time.monotonic() - t0
        deadline = time.monotonic() + 60
        while pool.live_envs() < num_envs and time.monotonic() < deadline:
            time.sleep(0.5)
        live = pool.live_envs()
        replacements = pool.replacements
    return {"episodes": episodes, "returned": len(done), "delivered": len(delivered),
            "distinct": len({e.seed for e in done}), "kills": len(kills), "retried": sum(e.info["attempts"] > 1
                                                                                         for e in done),
            "scored_1": sum(e.score == 1.0 for e in done), "env_error_final": sum(e.env_error is not None
                                                                                  for e in done),
            "scored_0": sum(e.score == 0.0 for e in done), "replacements": replacements, "live_after": live,
            "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", choices=["local", "docker", "ray"], default="local")
    parser.add_argument("--envs", default="1,2,4,8", help="pool sizes, comma-separated")
    parser.add_argument("--steps", type=int, default=10, help="steps per episode")
    parser.add_argument("--episodes-per-env", type=int, default=4)
    parser.add_argument("--ray-overhead", type=int, default=0, metavar="N",
                        help="also compare local vs ray on N envs (0: skip)")
    parser.add_argument("--faults", type=int, default=0, metavar="EPISODES", help="run the fault benchmark")
    parser.add_argument("--variant", choices=["full", "slim"], default="slim", help="docker image variant")
    args = parser.parse_args()
    provider_kwargs = {"variant": args.variant} if args.provider == "docker" else {}
    console.print(f"machine: {platform.node()}  {os.cpu_count()} cores  python {platform.python_version()}  "
                  f"provider {args.provider} {provider_kwargs}")

    table = Table("envs", "start s", "steps/s", "x 1 env", "episodes/s", "step p50 ms", "step p95 ms",
                  "CPU ms/step", "load avg", "env errors")
    base = None
    memory: list[float] = []
    sizes = [int(n) for n in args.envs.split(",") if n]
    for n in sizes:
        t0 = time.monotonic()
        with EnvPool(n, args.provider, env_kwargs={"max_steps": args.steps},
                     provider_kwargs=provider_kwargs) as pool:
            start = time.monotonic() - t0
            result = throughput(pool, args.steps, n * args.episodes_per_env)
            if n == max(sizes):
                memory = memory_per_env(pool)
        base = base or result["steps_per_s"]
        table.add_row(str(n), f"{start:.1f}", f"{result['steps_per_s']:.1f}", f"{result['steps_per_s'] / base:.2f}",
                      f"{result['episodes_per_s']:.2f}", f"{result['step_p50_ms']:.0f}",
                      f"{result['step_p95_ms']:.0f}", f"{result['cpu_ms_per_step']:.0f}", f"{result['load']:.1f}",
                      str(result["errors"]))
    console.print(table)
    console.print("CPU ms/step: this process + every session process (local), per env step, reset included; "
                  f"{os.cpu_count()} cores cap the pool near {os.cpu_count()} x 1000 / that, less what else runs")
    if memory:
        console.print(f"memory per env at {max(sizes)} envs: mean {np.mean(memory):.0f} MiB, "
                      f"min {min(memory):.0f}, max {max(memory):.0f} (PSS of the session's processes / container)")

    if args.ray_overhead:
        overhead = Table("provider", "envs", "steps/s", "step p50 ms", "step p95 ms")
        for provider in ("local", "ray"):
            with EnvPool(args.ray_overhead, provider, env_kwargs={"max_steps": args.steps}) as pool:
                result = throughput(pool, args.steps, args.ray_overhead * args.episodes_per_env)
            overhead.add_row(provider, str(args.ray_overhead), f"{result['steps_per_s']:.1f}",
                             f"{result['step_p50_ms']:.1f}", f"{result['step_p95_ms']:.1f}")
        console.print(overhead)

    if args.faults:
        result = faults(args.provider, provider_kwargs, args.faults)
        table = Table("faults: 8 envs", "value")
        for key, value in result.items():
            table.add_row(key, f"{value:.1f}" if isinstance(value, float) else str(value))
        console.print(table)


if __name__ == "__main__":
    main()
