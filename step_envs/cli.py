"""`step-envs`: list tasks and Gymnasium ids, run the demo."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from step_envs.tasks import Task, builtin_tasks, load_dir


def _tasks(source: str | None) -> list[Task]:
    return load_dir(source) if source else list(builtin_tasks().values())


def _console() -> Console:
    """Rich console; 140 columns when the output is not a terminal (pipes, CI logs), so tables do not wrap."""
    console = Console()
    return console if console.is_terminal else Console(width=140)


def cmd_tasks_list(args: argparse.Namespace) -> int:
    tasks = _tasks(args.dir)
    if args.json:
        for task in tasks:
            print(json.dumps({"id": task.id, "domain": task.domain, "difficulty": task.difficulty,
                              "feasible": not task.infeasible, "gym_id": f"step_envs/{task.id}-v0",
                              "instruction": task.instruction}))
        return 0
    table = Table(title=f"{len(tasks)} desktop tasks")
    for column in ("id", "domain", "difficulty", "feasible"):
        table.add_column(column, no_wrap=True)
    table.add_column("instruction", no_wrap=True, overflow="ellipsis", max_width=70)
    for task in tasks:
        table.add_row(task.id, task.domain, task.difficulty, "no" if task.infeasible else "yes", task.instruction)
    _console().print(table)
    return 0


def cmd_ids(args: argparse.Namespace) -> int:
    import step_envs

    for env_id in step_envs.registered_ids():
        print(env_id)
    return 0


def run_solution(env: Any, task: Task) -> dict[str, Any]:
    """Reset to ``task`` and replay its solution; returns one results row."""
    t0 = time.monotonic()
    _, info = env.reset(options={"task": task})
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


def cmd_demo(args: argparse.Namespace) -> int:
    from step_envs.desktop.env import DesktopEnv

    console = _console()
    by_domain: dict[str, Task] = {}
    for task in _tasks(None):
        if not task.infeasible:
            by_domain.setdefault(task.domain, task)
    tasks = list(by_domain.values())[: args.tasks]
    if not tasks:
        console.print("[red]no built-in tasks found[/red] (looked under envs/tasks/desktop)")
        return 1
    rows = []
    env = DesktopEnv(provider=args.provider, max_steps=50)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            bar = progress.add_task("starting the desktop", total=len(tasks))
            for task in tasks:
                progress.update(bar, description=f"solution agent on {task.id}")
                rows.append(run_solution(env, task))
                progress.advance(bar)
    finally:
        env.close()
    table = Table(title=f"solution agent, {args.provider} provider")
    for column in ("task", "domain", "steps", "reset s", "episode s", "score"):
        table.add_column(column, no_wrap=True, justify="left" if column in ("task", "domain") else "right")
    table.add_column("checker's reason", no_wrap=True, overflow="ellipsis", max_width=50)
    for row in rows:
        score = "env_error" if row["env_error"] else f"{row['score']:.2f}"
        table.add_row(row["task"], row["domain"], str(row["steps"]), f"{row['reset_s']:.2f}",
                      f"{row.get('episode_s', 0):.2f}", score, (row["reason"] or "").replace("\n", " "))
    console.print(table)
    solved = sum(1 for row in rows if row["score"] == 1.0)
    console.print(f"solved {solved}/{len(rows)}; list every task with [bold]step-envs tasks list[/bold]")
    return 0 if solved == len(rows) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="step-envs", description="Desktop environments for computer-use agents.")
    sub = parser.add_subparsers(dest="command", required=True)

    tasks = sub.add_parser("tasks", help="work with task suites").add_subparsers(dest="tasks_command", required=True)
    listing = tasks.add_parser("list", help="print the tasks as a table (or JSON lines)")
    listing.add_argument("--dir", help="a directory of task JSON files (default: the built-in tasks)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line per task")
    listing.set_defaults(func=cmd_tasks_list)

    ids = sub.add_parser("ids", help="print every Gymnasium id registered by `import step_envs`")
    ids.set_defaults(func=cmd_ids)

    demo = sub.add_parser("demo", help="replay the solutions of a few built-in tasks and print the results")
    demo.add_argument("--tasks", type=int, default=5, help="how many tasks, one per domain (default 5)")
    demo.add_argument("--provider", default="local", help="where the desktop runs (default: local)")
    demo.set_defaults(func=cmd_demo)

    from step_envs.cli_docker import add_commands as add_docker_commands

    add_docker_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
