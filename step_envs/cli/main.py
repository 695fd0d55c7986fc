"""`step-envs`: the parser of every command; lists tasks and Gymnasium ids here, the other groups in their modules."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from step_envs.cli.bench import add_bench_options, add_bench_parser, cmd_demo, suite_tasks
from step_envs.cli.console import wide_console
from step_envs.cli.docker import add_commands as add_docker_commands
from step_envs.cli.emulator import add_commands as add_emulator_commands
from step_envs.core import ResetError
from step_envs.tasks import Task, TaskError, builtin_tasks, load_dir


def _tasks(source: str | None, suite: str | None = None) -> list[Task]:
    if suite:
        return suite_tasks(suite)
    return load_dir(source) if source else list(builtin_tasks().values())


def cmd_tasks_list(args: argparse.Namespace) -> int:
    try:
        tasks = _tasks(args.dir, args.suite)
    except TaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        for task in tasks:
            # a template instance has no id of its own: gym.make("step_envs/Desktop-v0", task="<template>/<seed>")
            gym_id = None if task.template else f"step_envs/{task.id}-v0"
            print(json.dumps({"id": task.id, "template": task.template, "app": task.domain, "domain": task.domain,
                              "difficulty": task.difficulty, "feasible": not task.infeasible, "gym_id": gym_id,
                              "instruction": task.instruction}))
        return 0
    table = Table(title=f"{len(tasks)} tasks" + (f" in suite {args.suite}" if args.suite else ""))
    for column in ("id", "template", "app", "difficulty", "feasible"):
        table.add_column(column, no_wrap=True, min_width=len(column) if column != "id" else 24)
    table.add_column("instruction", no_wrap=True, overflow="ellipsis", max_width=50)
    for task in tasks:
        table.add_row(task.id, task.template or "(fixed)", task.domain, task.difficulty,
                      "no" if task.infeasible else "yes", task.instruction)
    wide_console().print(table)
    return 0


def cmd_tasks_check_osworld(args: argparse.Namespace) -> int:
    """Which OSWorld tasks under DIR run here: a table per domain, then how often each reason stops a task.

    `--assume-network` (the default) counts a task whose only needs are network ones (downloads, live pages) as
    running, as on a machine with internet; `--offline` counts it as stopped, its network needs as its reasons."""
    from collections import Counter

    from step_envs.tasks import Reason, TaskError, load_osworld

    try:
        loaded = load_osworld(args.dir, file_cache=args.file_cache)
    except TaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.offline:  # network needs stop a task: they join its reasons
        loaded = [dataclasses.replace(t, task=None if t.network else t.task, unsupported=[*t.unsupported, *t.network])
                  for t in loaded]
    if args.json:
        for item in loaded:
            print(json.dumps({"id": item.id, "domain": item.domain, "path": str(item.path),
                              "supported": item.supported, "unsupported": [str(r) for r in item.unsupported],
                              "network": [str(r) for r in item.network], "docker": [str(r) for r in item.docker]}))
        return 0
    console = wide_console()
    if not loaded:
        console.print(f"[red]no OSWorld task files under {args.dir}[/red] (looked for */<id>.json with an "
                      "'instruction' and an 'evaluator')")
        return 1
    domains = Table(title="OSWorld tasks by domain")
    for column in ("domain", "tasks", "supported", "offline", "docker", "unsupported", "supported %"):
        domains.add_column(column, justify="left" if column == "domain" else "right", no_wrap=True)
    for domain in sorted({t.domain for t in loaded}):
        items = [t for t in loaded if t.domain == domain]
        ok = sum(t.supported for t in items)
        offline = sum(t.supported and not t.network for t in items)
        docker = sum(t.supported and bool(t.docker) for t in items)
        domains.add_row(domain, str(len(items)), str(ok), str(offline), str(docker), str(len(items) - ok),
                        f"{100 * ok / len(items):.0f}")
    console.print(domains)
    where = "here without network" if args.offline else "here (with network)"
    console.print(f"{sum(t.supported for t in loaded)}/{len(loaded)} tasks under {args.dir} run {where}, "
                  f"{sum(t.supported and not t.network for t in loaded)} of them without network "
                  "(the others download their files or use live web pages); "
                  f"{sum(t.supported and bool(t.docker) for t in loaded)} of them need the docker provider "
                  "(OSWorld's /home/user inside their code, or sudo)")
    def key(reason: Reason) -> tuple[str, str]:  # options are told apart by what they ask for
        return reason.kind, f"{reason.name}: {reason.detail}" if reason.kind == "option" else reason.name

    counts = Counter(k for t in loaded for k in {key(r) for r in t.unsupported})
    if counts:
        reasons = Table(title="why tasks cannot run here (a task can have several reasons)")
        for column in ("kind", "name", "tasks"):
            reasons.add_column(column, justify="right" if column == "tasks" else "left", no_wrap=True)
        for (kind, name), count in counts.most_common():
            reasons.add_row(kind, name, str(count))
        console.print(reasons)
        console.print("each task's reasons: [bold]step-envs tasks check-osworld DIR --json[/bold]")
    return 0


def cmd_tasks_audit_osworld(args: argparse.Namespace) -> int:
    """Run OSWorld's task files here: reset, screenshot, a do-nothing DONE, the project's solution; JSONL, a
    per-domain table and an HTML page in --out."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from step_envs.osworld.audit import COLUMNS, audit, latest_rows, write_outputs
    from step_envs.osworld.solutions import load_solutions
    from step_envs.tasks import TaskError, load_osworld

    console = wide_console()
    file_cache = args.file_cache
    if args.made_files:  # our own stand-ins for the files some tasks download (step_envs.osworld.made_files)
        from step_envs.osworld.made_files import make_mirror

        if file_cache:
            console.print("[red]error:[/red] --made-files builds its own file cache; leave out --file-cache")
            return 2
        file_cache = Path(args.out) / "made-files"
        console.print(f"made {len(make_mirror(file_cache))} stand-in files into {file_cache}")
    try:
        items = load_osworld(args.dir, file_cache=file_cache)
        solutions = load_solutions(args.solutions)
    except (TaskError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    if args.domain:
        items = [item for item in items if item.domain in args.domain]
    if args.only:
        items = [item for item in items if any(item.id.startswith(prefix) for prefix in args.only)]
    if not items:
        console.print(f"[red]error:[/red] no OSWorld task files under {args.dir} (after --domain / --only); "
                      "pass evaluation_examples/examples or one of its domain folders")
        return 1
    if args.solved_only:
        items = [item for item in items if f"{item.domain}/{item.id}" in solutions or (item.task and item.task.infeasible)]
    console.print(f"auditing {len(items)} OSWorld task files with {args.envs} desktop(s) "
                  f"({'with' if args.network else 'without'} network; {len(solutions)} solutions) into {args.out}")

    def line(row: dict) -> str:
        parts = [f"{row['domain']}/{row['id'][:8]}", row["status"]]
        if row.get("reset_s") is not None:
            parts.append(f"reset {row['reset_s']:.1f} s")
        if row.get("noop_score") is not None:
            parts.append(f"no-op {row['noop_score']:g}")
        if row.get("solution"):
            parts.append(f"solution {row.get('solution_score')}")
        if row.get("reset_error"):
            parts.append(str(row["reset_error"])[:120])
        return "  ".join(parts)

    if console.is_terminal:
        with Progress(TextColumn("audit"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("{task.fields[last]}"), console=console) as progress:
            bar = progress.add_task("audit", total=len(items), last="")
            audit(items, args.out, envs=args.envs, network=args.network, provider=args.provider,
                         solutions=solutions, fresh=args.fresh, redo=args.redo,
                         progress=lambda row: progress.update(bar, advance=1, last=line(row)))
    else:  # plain lines in logs and pipes, one per task as it ends
        count = iter(range(1, len(items) + 1))
        audit(items, args.out, envs=args.envs, network=args.network, provider=args.provider,
                     solutions=solutions, fresh=args.fresh, redo=args.redo,
                     progress=lambda row: print(f"[{next(count)}/{len(items)}] {line(row)}", flush=True))
    summary = write_outputs(latest_rows(Path(args.out) / "audit.jsonl"), args.out)  # every task run into --out
    table = Table(title=f"OSWorld task files run here ({args.dir})")
    table.add_column("domain")
    for _, title in COLUMNS:
        table.add_column(title, justify="right")
    for name, group in [*summary["domains"].items(), ("all", summary["total"])]:
        table.add_row(name, *(str(group[key]) for key, _ in COLUMNS))
    console.print(table)
    for row in summary["noop_above_zero"]:
        console.print(f"no-op above 0: {row['domain']}/{row['id']} {row['noop_score']:g}: {row['noop_note']}")
    out = Path(args.out)
    console.print(f"rows: {out / 'audit.jsonl'}; table: {out / 'summary.md'}; page: {out / 'index.html'}")
    return 0


def cmd_ids(args: argparse.Namespace) -> int:
    import step_envs

    for env_id in step_envs.registered_ids():
        print(env_id)
    return 0


def run_solution(env: Any, task: Task) -> dict[str, Any]:
    """Reset to ``task`` and replay its solution; returns one results row."""
    t0 = time.monotonic()
    try:
        _, info = env.reset(options={"task": task})
    except ResetError as exc:
        info = exc.info
    row = {"task": task.id, "domain": task.domain, "reset_s": time.monotonic() - t0, "steps": 0,
           "score": None, "reason": info.get("env_error", ""), "env_error": info.get("env_error")}
    if row["env_error"]:
        return row
    reward, done, info = 0.0, False, {}
    for action in task.solution or ["DONE"]:
        _, reward, terminated, truncated, info = env.step(action)
        row["steps"] += 1
        if terminated or truncated:
            done = True
            break
    if not done:
        _, reward, _, _, info = env.step("DONE")
        row["steps"] += 1
    row.update(score=reward, reason=info.get("reason", ""), env_error=info.get("env_error"),
               episode_s=time.monotonic() - t0)
    return row


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="step-envs", description="Desktop environments for computer-use agents.")
    sub = parser.add_subparsers(dest="command", required=True)

    tasks = sub.add_parser("tasks", help="work with task suites").add_subparsers(dest="tasks_command", required=True)
    listing = tasks.add_parser("list", help="print the tasks as a table (or JSON lines)")
    listing.add_argument("--dir", help="a directory of task JSON files (default: the built-in tasks)")
    listing.add_argument("--suite", help="a named suite (smoke, desktop-core, widgets, all), a task folder or a "
                                         "suite file; instances of templates have ids <template>/<seed>")
    listing.add_argument("--json", action="store_true", help="one JSON object per line per task")
    listing.set_defaults(func=cmd_tasks_list)
    osworld = tasks.add_parser(
        "check-osworld", help="which OSWorld task files run here: supported/unsupported per domain, and why",
        description="Load OSWorld task JSON files as they are (a file, or a tree like evaluation_examples/examples/"
                    "<domain>/<id>.json) and report which run here and, for the others, why not: network setup "
                    "(downloads, web pages, logins), or getters, metrics and options not implemented.")
    osworld.add_argument("dir", help="an OSWorld task file or a folder of them")
    osworld.add_argument("--file-cache", help="a local mirror of OSWorld's remote files (<domain>/<id>/<file>): "
                                              "downloads found there need no network")
    osworld.add_argument("--json", action="store_true", help="one JSON object per task with its reasons")
    reach = osworld.add_mutually_exclusive_group()
    reach.add_argument("--assume-network", action="store_true",
                       help="count tasks whose only needs are network ones (downloads, live web pages) as running, "
                            "as on a machine with internet (the default)")
    reach.add_argument("--offline", action="store_true",
                       help="count only what runs with no network: network needs become reasons")
    osworld.set_defaults(func=cmd_tasks_check_osworld)

    run = tasks.add_parser(
        "audit-osworld", help="run OSWorld task files here: reset, a do-nothing DONE, the project's solutions",
        description="For each OSWorld task file: does it run here, does its reset come up clean (time, env_error, "
                    "the first screenshot), does a do-nothing agent (DONE at once) score 0, and where the project "
                    "has a solution (an infeasible task's is FAIL) does it score 1.0. Rows go to OUT/audit.jsonl "
                    "as tasks end (running again resumes), then OUT/summary.json, summary.md and index.html.")
    run.add_argument("dir", help="an OSWorld task file or a folder of them (evaluation_examples/examples)")
    run.add_argument("--out", required=True, help="the results folder; running again with it resumes")
    run.add_argument("--envs", type=int, default=1, help="desktops run in parallel (default 1)")
    run.add_argument("--provider", choices=("local", "docker"),
                     help="the provider for every task (default: local, docker for tasks that need a container)")
    run.add_argument("--network", action="store_true",
                     help="this machine has internet: run tasks that download files or open web pages (default: "
                          "they are reported as needing network and not run)")
    run.add_argument("--file-cache", help="a local mirror of OSWorld's remote files (<domain>/<id>/<file>)")
    run.add_argument("--made-files", action="store_true",
                     help="make our own stand-ins for the files of the tasks whose checkers compare with rules or "
                          "the input itself (step_envs.osworld.made_files) into OUT/made-files and use them as the "
                          "file cache")
    run.add_argument("--solutions", help="a folder of solutions <domain>/<id>.json (default: the project's)")
    run.add_argument("--domain", nargs="+", metavar="DOMAIN", help="only these domains")
    run.add_argument("--only", nargs="+", metavar="ID", help="only tasks whose id starts with one of these")
    run.add_argument("--solved-only", action="store_true",
                     help="only tasks with a solution (and infeasible ones): the quick check of the solutions")
    run.add_argument("--fresh", action="store_true", help="start over instead of resuming")
    run.add_argument("--redo", action="store_true",
                     help="run the selected tasks (--only, --domain) again even if recorded; the new rows replace "
                          "the old")
    run.set_defaults(func=cmd_tasks_audit_osworld)

    ids = sub.add_parser("ids", help="print every Gymnasium id registered by `import step_envs`")
    ids.set_defaults(func=cmd_ids)

    demo = sub.add_parser("demo", help="bench the solution and random agents on the smoke suite (what make demo runs)",
                          description="Run `bench` on a suite with the solution agent, then the random agent, each "
                                      "into a fresh directory under --out; print both tables and the reports' paths.")
    add_bench_options(demo, demo=True)
    demo.set_defaults(func=cmd_demo)
    add_bench_parser(sub)

    add_docker_commands(sub)
    add_emulator_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
