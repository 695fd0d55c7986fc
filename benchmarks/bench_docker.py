"""Containers vs local sessions: image size and build time, start time, idle memory per env.

    .venv/bin/python benchmarks/bench_docker.py [--envs 4] [--build] [--cold]

Idle memory is measured two ways after the desktops have been idle for a few seconds: the proportional set size
(PSS) of every process of the env (comparable between providers), and for containers the cgroup's usage without
reclaimable page cache (what a memory limit counts). "lean" is a session without the Xfce panel and xfdesktop
(``panel=False, desktop=False``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

from step_envs.docker.engine import docker_client
from step_envs.docker.image import build_image, image_tag
from step_envs.providers.docker import DockerProvider
from step_envs.providers.local import LocalProvider
from step_envs.providers.procs import session_pids


def pss_kb(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def container_pids(provider: DockerProvider) -> set[int]:
    top = provider.container.top(ps_args="-o pid")
    return {int(row[0]) for row in top["Processes"]}


def measure(name: str, make, count: int, idle_s: float) -> None:
    providers, starts = [], []
    try:
        for _ in range(count):
            provider = make()
            t0 = time.perf_counter()
            provider.start()
            starts.append(time.perf_counter() - t0)
            providers.append(provider)
        time.sleep(idle_s)
        pss = []
        cgroup = []
        for provider in providers:
            if isinstance(provider, DockerProvider):
                pss.append(pss_kb(container_pids(provider)) / 1024)
                cgroup.append(provider.memory_bytes() / 2**20)
            else:
                pss.append(pss_kb(session_pids(provider.session_id)) / 1024)
        line = (f"{name:14s} start p50 {statistics.median(starts):5.2f} s (max {max(starts):5.2f})   "
                f"idle PSS/env {statistics.mean(pss):6.1f} MiB")
        if cgroup:
            line += f"   cgroup/env {statistics.mean(cgroup):6.1f} MiB"
        print(line + f"   (n={count})", flush=True)
    finally:
        for provider in providers:
            provider.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", type=int, default=4, help="envs started side by side per provider")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before measuring memory")
    parser.add_argument("--build", action="store_true", help="also time a cached rebuild of both images")
    parser.add_argument("--cold", action="store_true", help="time a no-cache build of both images (minutes)")
    args = parser.parse_args()
    print(f"machine: {platform.node()}  {os.cpu_count()} cores  python {platform.python_version()}")
    client = docker_client()
    for variant in ("full", "slim"):
        if args.cold or args.build:
            result = build_image(variant, log=lambda line: None, client=client, nocache=args.cold)
            kind = "no-cache" if args.cold else ("cached" if result.cached else "changed")
            print(f"build {variant:4s} ({kind}): {result.seconds:6.1f} s")
        size = client.images.get(image_tag(variant)).attrs["Size"]
        print(f"image {image_tag(variant)}: {size / 1e6:.0f} MB")
    measure("local", LocalProvider, args.envs, args.idle)
    measure("docker slim", lambda: DockerProvider(variant="slim"), args.envs, args.idle)
    measure("docker full", lambda: DockerProvider(variant="full"), args.envs, args.idle)
    measure("local lean", lambda: LocalProvider(panel=False, desktop=False), args.envs, args.idle)
    measure("docker lean", lambda: DockerProvider(variant="slim", panel=False, desktop=False), args.envs, args.idle)


if __name__ == "__main__":
    main()
