"""Reset time of tasks that open the heavy apps: LibreOffice Calc, Writer and Impress, Chromium, GIMP, Thunderbird,
VLC and VS Code (code-server, ``make install``), on one env that goes round the apps in blocks (so a drift in the
machine's load hits every app alike): in each block, a first reset switches to the app (not counted: its restore
cleans up after the previous app), then ``--block`` resets of the same task are timed, as when a task repeats.

    .venv/bin/python benchmarks/bench_app_resets.py [--apps calc,writer,...] [--resets 10] [--provider local|docker]
        [--no-app-profiles] [--json]
    .venv/bin/python benchmarks/bench_app_resets.py --against OLD_TREE [--rounds 5] ...

A reset is ``env.reset()`` as a caller sees it: restore the session, run the task's setup (upload its file, start
the app, wait until it is ready by the task's own rule), observe. Calc and Writer are the built-in tasks
``calc-add-header`` and ``writer-write-list``; Impress opens a one-slide deck the way those open their files; the
others start as OSWorld's tasks start them (Chromium with its DevTools port and a tab opened through it, GIMP on an
image, Thunderbird and VLC bare, VS Code by ``code`` until its workbench is drawn and idle), ready once their
window shows, as OSWorld's tasks are. ``--until-idle`` also reports how long those apps keep working after that
(``/step/idle``).

``--against OLD_TREE`` compares another checkout (e.g. ``git worktree add /tmp/before HEAD``) with this one: in
each of ``--rounds`` rounds it runs this script in a subprocess on OLD_TREE, then on this tree, ``--resets`` /
``--rounds`` resets per app each, and reports both side by side (before / after, interleaved).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

APPS = ("calc", "writer", "impress", "chromium", "gimp", "thunderbird", "vlc", "vscode")
BUILT_IN = {"calc": "calc-add-header", "writer": "writer-write-list"}
HERE = Path(__file__).resolve().parent
START_PAGE = "/tmp/.bench-start.html"  # where the session finds the page Chromium opens (a file:// URL needs a path)
PAGE = "<!doctype html><title>Start page</title><h1>Start page</h1><p>A local page.</p>\n"


def files(folder: Path) -> dict[str, Path]:
    """The files the tasks open, made here: an image, a one-slide deck, a web page."""
    from pptx import Presentation

    made = {"photo.png": folder / "photo.png", "deck.pptx": folder / "deck.pptx", "start.html": folder / "start.html"}
    pixels = (np.random.default_rng(0).random((300, 400, 3)) * 255).astype("uint8")
    Image.fromarray(pixels).save(made["photo.png"])
    deck = Presentation()
    deck.slides.add_slide(deck.slide_layouts[0]).shapes.title.text = "Quarterly review"
    buffer = io.BytesIO()
    deck.save(buffer)
    made["deck.pptx"].write_bytes(buffer.getvalue())
    made["start.html"].write_text(PAGE)
    return made


def tasks(folder: Path) -> dict[str, object]:
    """App -> the task (a built-in id or a `Task`) its resets run."""
    from step_envs.tasks import Task
    from step_envs.tasks.osworld import CODE_READY
    from step_envs.tasks.templates.steps import office

    made = files(folder)

    def task(name: str, config: list[dict]) -> Task:
        return Task.from_dict({"id": f"bench-{name}", "instruction": f"Use {name}.", "config": config,
                               "evaluator": {"func": "infeasible"}})

    def upload(name: str, target: str) -> dict:
        return {"type": "upload_file", "parameters": {"files": [{"local_path": str(made[name]), "path": target}]}}

    def launch(command: list[str] | str) -> dict:
        shell = isinstance(command, str)
        return {"type": "launch", "parameters": {"command": command, **({"shell": True} if shell else {})}}

    return {
        **BUILT_IN,
        "impress": task("impress", [upload("deck.pptx", "~/deck.pptx"), *office("impress", "~/deck.pptx")]),
        "chromium": task("chromium", [
            upload("start.html", START_PAGE),
            launch(["google-chrome", "--remote-debugging-port=1337"]),
            {**launch(["socat", "tcp-listen:9222,fork", "tcp:localhost:1337"]), "ready": {}},
            {"type": "chrome_open_tabs", "parameters": {"urls_to_open": [f"file://{START_PAGE}"]}},
            {"type": "activate_window", "parameters": {"window_name": "Chromium", "by_class": True}}]),
        "gimp": task("gimp", [upload("photo.png", "~/Desktop/photo.png"), launch(["gimp", "~/Desktop/photo.png"])]),
        "thunderbird": task("thunderbird", [launch(["thunderbird"])]),
        "vlc": task("vlc", [launch("VLC_VERBOSE=-1 vlc --no-audio --no-video-title-show")]),
        "vscode": task("vscode", [{**launch(["code"]), "ready": dict(CODE_READY)}]),  # as OSWorld's vs_code tasks
    }


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def measure(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """Run the resets; app -> {"reset": [...], "restore": [...], "setup": [...], "idle_after": [...]} in seconds."""
    from step_envs.desktop.env import DesktopEnv

    folder = Path(tempfile.mkdtemp(prefix="bench-apps-"))
    chosen = tasks(folder)
    kwargs = {} if args.app_profiles else {"provider_kwargs": {"app_profiles": False}}
    env = DesktopEnv(task="os-create-folder", provider=args.provider, **kwargs)
    found: dict[str, dict[str, list[float]]] = {app: {"reset": [], "restore": [], "setup": [], "idle_after": []}
                                                for app in args.apps}
    try:
        env.reset()
        for _ in range(-(-args.resets // args.block)):
            for app in args.apps:
                env.reset(options={"task": chosen[app]})  # the switch (and the first start warms the page cache)
                for _ in range(min(args.block, args.resets - len(found[app]["reset"]))):
                    t0 = time.perf_counter()
                    _, info = env.reset(options={"task": chosen[app]})
                    spent = time.perf_counter() - t0
                    if info.get("env_error"):
                        raise SystemExit(f"{app}: {info['env_error']}")
                    found[app]["reset"].append(spent)
                    found[app]["restore"].append(info["timings"]["restore"])
                    found[app]["setup"].append(info["timings"]["setup"])
                    if args.until_idle and app not in ("calc", "writer", "impress"):
                        new = [w["id"] for w in env.client.windows() if w["desktop"] != "-1"]
                        found[app]["idle_after"].append(env.client.wait_idle(new, 0.2, 60)["waited"])
    finally:
        env.close()
    return found


def table(columns: dict[str, dict[str, dict[str, list[float]]]]) -> str:
    """One row per app: reset p50 / p95 (and the p50 of restore and setup) per column."""
    heads = "".join(f" | {name} reset p50 / p95 (restore, setup p50)" for name in columns)
    lines = [f"| app{heads} |", "| --- |" + " --- |" * len(columns)]
    for app in next(iter(columns.values())):
        cells = []
        for found in columns.values():
            row = found[app]
            cell = (f"{p(row['reset'], 50):.2f} / {p(row['reset'], 95):.2f} s "
                    f"({p(row['restore'], 50):.2f}, {p(row['setup'], 50):.2f})")
            if row.get("idle_after"):
                cell += f", then busy {p(row['idle_after'], 50):.2f} s"
            cells.append(cell)
        lines.append(f"| {app} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare(args: argparse.Namespace) -> None:
    """Interleaved rounds on OLD_TREE and this tree, each in its own process; both tables side by side."""
    per_round = max(1, args.resets // args.rounds)
    runs: dict[str, dict[str, dict[str, list[float]]]] = {"before": {}, "after": {}}
    here = str(HERE.parent)
    for round_index in range(args.rounds):
        for name, tree in (("before", args.against), ("after", here)):
            command = [sys.executable, str(Path(__file__).resolve()), "--apps", ",".join(args.apps), "--resets",
                       str(per_round), "--block", str(args.block), "--provider", args.provider, "--json"]
            env = {**os.environ, "PYTHONPATH": str(tree)}
            proc = subprocess.run(command, capture_output=True, text=True, cwd=tree, env=env)
            if proc.returncode != 0:
                raise SystemExit(f"round {round_index} on {tree} failed:\n{proc.stderr[-3000:]}")
            for app, series in json.loads(proc.stdout.splitlines()[-1]).items():
                for key, values in series.items():
                    runs[name].setdefault(app, {}).setdefault(key, []).extend(values)
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    print(f"before: {args.against}\nafter: {here}")
    print(table(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=lambda text: text.split(","), default=list(APPS),
                        help=f"comma-separated, of {', '.join(APPS)}")
    parser.add_argument("--resets", type=int, default=10, help="timed resets per app")
    parser.add_argument("--block", type=int, default=2, help="timed resets per app in a row")
    parser.add_argument("--provider", choices=["local", "docker"], default="local")
    parser.add_argument("--no-app-profiles", dest="app_profiles", action="store_false",
                        help="homes without the pre-warmed app profiles (step_envs.providers.profiles)")
    parser.add_argument("--until-idle", action="store_true",
                        help="also time how long Chromium, GIMP, Thunderbird and VLC keep working after the reset")
    parser.add_argument("--json", action="store_true", help="print the raw seconds as one JSON line")
    parser.add_argument("--against", help="another checkout to compare with, interleaved (see above)")
    parser.add_argument("--rounds", type=int, default=5, help="with --against: rounds of alternation")
    args = parser.parse_args()
    unknown = sorted(set(args.apps) - set(APPS))
    if unknown:
        parser.error(f"unknown apps {', '.join(unknown)}; known: {', '.join(APPS)}")
    if args.against:
        compare(args)
        return
    found = measure(args)
    if args.json:
        print(json.dumps(found))
        return
    print(f"machine: {platform.node()}  {os.cpu_count()} cores  load {os.getloadavg()[0]:.1f}  provider "
          f"{args.provider}  app profiles {'on' if args.app_profiles else 'off'}  {args.resets} resets per app")
    print(table({"this tree": found}))


if __name__ == "__main__":
    main()
