"""Desktop env latency: session start, reset of a simple task, step (action + 1280x720 observation), and the
floor: one raw screen grab.

    .venv/bin/python benchmarks/bench_desktop.py [--steps 100] [--resets 50] [--provider local|docker]
        [--variant full|slim] [--settle damage|grabs]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time

import numpy as np

from step_envs.desktop.env import DesktopEnv
from step_envs.server import SETTLE_MODES
from step_envs.server.screen import ScreenGrabber
from step_envs.tasks.probes import EDITOR, WRITE_FILE


def pct(values: list[float]) -> str:
    ms = np.array(values) * 1000
    return f"p50 {np.percentile(ms, 50):7.1f} ms   p95 {np.percentile(ms, 95):7.1f} ms   (n={len(ms)})"


def session_xauthority(provider) -> str:
    """A file holding the session's X cookie (its ``~/.Xauthority``; a container's is copied out)."""
    home = getattr(provider, "home", None)
    if home is not None:
        return str(home / ".Xauthority")
    code, cookie = provider.container.exec_run(["sh", "-c", "cat /tmp/step-gym-*/home/.Xauthority"])
    if code != 0:
        raise RuntimeError(f"cannot read the container session's ~/.Xauthority: {cookie.decode(errors='replace')}")
    copy = tempfile.NamedTemporaryFile(prefix="xauth-", delete=False)
    copy.write(cookie)
    copy.close()
    return copy.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--resets", type=int, default=50)
    parser.add_argument("--provider", choices=["local", "docker"], default="local")
    parser.add_argument("--variant", choices=["full", "slim"], default="full", help="docker image variant")
    parser.add_argument("--settle", choices=SETTLE_MODES, default="damage", help="how a step waits for the screen")
    args = parser.parse_args()
    # the floor grab below connects to the container's display from here: only with the host network
    provider_kwargs = {"variant": args.variant, "agent_network": "host"} if args.provider == "docker" else {}

    print(f"machine: {platform.node()}  {os.cpu_count()} cores  python {platform.python_version()}  "
          f"provider {args.provider} {provider_kwargs}  settle {args.settle}")
    t0 = time.perf_counter()
    env = DesktopEnv(task=WRITE_FILE, max_steps=args.steps + 1, provider=args.provider,
                     provider_kwargs=provider_kwargs, settle=args.settle)
    env.reset()
    print(f"session start + first reset: {time.perf_counter() - t0:.2f} s")
    try:
        resets = []
        for _ in range(args.resets):
            t0 = time.perf_counter()
            env.reset(options={"task": WRITE_FILE})
            resets.append(time.perf_counter() - t0)
        print(f"reset, simple task (restore + setup + observe):  {pct(resets)}")

        env.reset(options={"task": WRITE_FILE})
        # act_total: the one round trip of a step (action, settle, the settled frame back); action and settle
        # are the server's own share of it
        steps, phases = [], {"action": [], "settle": [], "act_total": []}
        for i in range(args.steps):
            t0 = time.perf_counter()
            _, _, _, _, info = env.step(f"pyautogui.moveTo({100 + (i % 2) * 400}, {200 + (i % 3) * 100})")
            steps.append(time.perf_counter() - t0)
            if info.get("env_error") or info.get("action_error"):
                raise SystemExit(f"step {i} failed: {info}")
            for phase in phases:
                phases[phase].append(info["timings"][phase])
        print(f"step, moveTo + 1280x720 observation:             {pct(steps)}")
        for phase, values in phases.items():
            print(f"    {phase:9s}                                     {pct(values)}")

        env.reset(options={"task": EDITOR})
        # words typed back to back: from the ~12th the line is wider than the window and mousepad scrolls it
        # sideways, an animation of ~0.2 s; final: the observation equals the screen 0.3 s later (not timed)
        typing, final = [], []
        for i in range(min(args.steps, 50)):
            t0 = time.perf_counter()
            obs, _, _, _, _ = env.step(f"pyautogui.write('word{i} ')")
            typing.append(time.perf_counter() - t0)
            time.sleep(0.3)
            final.append(np.array_equal(obs["screenshot"], env.client.screenshot()))
        print(f"step, typing into mousepad + observation:        {pct(typing)}   "
              f"final {sum(final)}/{len(final)}")

        editor_resets = []
        for _ in range(min(args.resets, 20)):
            t0 = time.perf_counter()
            env.reset(options={"task": EDITOR})
            editor_resets.append(time.perf_counter() - t0)
        print(f"reset, text-editor task (launch mousepad):       {pct(editor_resets)}")

        # a host-network container's display is reachable from here too (abstract socket, same net namespace), with
        # the session's X cookie
        os.environ["DISPLAY"] = env.client.health()["display"]
        os.environ["XAUTHORITY"] = session_xauthority(env.provider)
        grabber = ScreenGrabber()
        grabber.grab()
        raw, rgb = [], []
        for _ in range(100):
            t0 = time.perf_counter()
            grabber.grab()
            raw.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            _ = grabber.grab().rgb
            rgb.append(time.perf_counter() - t0)
        print(f"floor: one raw screen grab (mss, BGRA):          {pct(raw)}")
        print(f"       grab + convert to RGB bytes:              {pct(rgb)}")
        print(f"mean step / raw grab: {statistics.mean(steps) / statistics.mean(raw):.1f}x")
    finally:
        env.close()


if __name__ == "__main__":
    main()
