"""`step-envs bench ...` and `step-envs demo`: the command-line side of the benchmark runner."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from step_envs.actions import DIALECTS, get_dialect
from step_envs.bench.results import ResultsDir, write_summary
from step_envs.bench.tables import compare_table, differing_tasks, spread_table, summary_table, verdict
from step_envs.cli.console import wide_console
from step_envs.kinds import kind_of_provider, kind_of_suite
from step_envs.progress import PlainProgress
from step_envs.progress import progress as progress_display
from step_envs.tasks import Task

DEMO_AGENTS = ("solution", "random")


def suite_tasks(suite: str) -> list[Task]:
    """The tasks of a suite: a named suite of any kind of env (:mod:`step_envs.kinds`: ``smoke``, ``widgets``,
    ``android-smoke``, ...), or a folder of task files or a suite file (what `step_envs.tasks.load_suite` takes)."""
    from step_envs.tasks.suites import load_suite

    kind = kind_of_suite(suite)
    return kind.suites[suite]() if kind is not None else load_suite(suite)


def _options(pairs: list[str], flag: str) -> dict[str, Any]:
    """``key=value`` pairs of a repeatable flag (``--agent-arg``, ...); values are read as JSON when they parse
    (numbers, true, lists)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} takes key=value, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _progress(console: Console) -> Progress | PlainProgress:
    return progress_display(console, TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("success {task.fields[success]}"), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn())


def bench_once(args: argparse.Namespace, agent_spec: str, out: Path, console: Console) -> int:
    """Run one agent on the suite into `out` with a progress bar; print its table and the report's path."""
    from step_envs.agents import make_agent
    from step_envs.agents.openai_agent import AgentError
    from step_envs.bench.runner import run_bench

    tasks = suite_tasks(args.suite)
    agent = make_agent(agent_spec, _options(args.agent_arg, "--agent-arg"), model=args.model, base_url=args.base_url,
                       api_key=os.environ.get(args.api_key_env) if args.api_key_env else None, seed=args.seed,
                       dialect=args.dialect, adapter=args.adapter)
    env_kwargs: dict[str, Any] = {}
    kind = kind_of_provider(args.provider)
    if kind.action_space is not None:
        if args.action_space:
            raise ValueError(f"--action-space is a desktop option; the {args.provider!r} provider runs {kind.name} "
                             f"envs, which take {kind.action_space} actions")
    else:
        env_kwargs["action_space"] = args.action_space or (get_dialect(args.dialect).default_space if args.dialect
                                                           else "pyautogui")
        observation = getattr(agent, "observation", None)
        if observation is not None and observation.a11y:  # a model agent shown the accessibility tree
            env_kwargs["a11y_tree"] = True
            env_kwargs["a11y_scope"] = getattr(agent, "a11y_scope", "all")  # the env reads only what it shows
    env_kwargs.update(_options(args.env_arg, "--env-arg"))
    pool_kwargs = {"provider_kwargs": _options(args.provider_arg, "--provider-arg")}
    scored = [0, 0.0]  # episodes scored this far, sum of their scores
    with _progress(console) as progress:
        bar = progress.add_task(f"{agent_spec} on {args.suite}", total=None, success="-")

        def on_start(total: int, done: int) -> None:
            rows = ResultsDir.open(out).final_rows() if done else []
            for row in rows:
                if row.get("env_error") is None and row.get("score") is not None:
                    scored[0], scored[1] = scored[0] + 1, scored[1] + float(row["score"])
            progress.update(bar, total=total, completed=done, success=_so_far(scored))
            if done:
                console.print(f"resuming {out}: {done} of {total} episodes already scored")

        def on_row(row: dict[str, Any]) -> None:
            if row.get("env_error") is None and row.get("score") is not None:
                scored[0], scored[1] = scored[0] + 1, scored[1] + float(row["score"])
            progress.update(bar, advance=1, success=_so_far(scored))

        try:
            result = run_bench(agent, tasks, out, agent_spec=agent_spec, suite=args.suite, envs=args.envs,
                               provider=args.provider, max_steps=args.max_steps, seeds=_seeds(args),
                               env_kwargs=env_kwargs, pool_kwargs=pool_kwargs, image_format=args.images,
                               fresh=args.fresh, record=args.record, on_start=on_start, on_row=on_row)
        except AgentError as exc:
            console.print(f"[red]the agent stopped the run:[/red] {exc}\nepisodes finished so far are in {out}; "
                          "run the same command again to resume")
            return 1
    console.print(summary_table(result.summary, f"{agent_spec} on {args.suite} ({args.provider} provider)"))
    spread = spread_table(result.summary)
    if spread is not None:
        console.print(spread)
    console.print(f"ran {result.ran}, skipped {result.skipped} already scored; report: [bold]{result.report}[/bold]")
    return 0


def _seeds(args: argparse.Namespace) -> list[int] | None:
    """The reset seeds to run every task with: --seeds, or 0..K-1 for --repeats K."""
    repeats = getattr(args, "repeats", None)
    if repeats is not None:
        if repeats < 1:
            raise ValueError(f"--repeats takes a count of at least 1, got {repeats}")
        return list(range(repeats))
    return args.seeds


def _so_far(scored: list[Any]) -> str:
    return f"{100 * scored[1] / scored[0]:.0f}% of {scored[0]}" if scored[0] else "-"


def cmd_bench(args: argparse.Namespace) -> int:
    console = wide_console()
    if not args.out:
        console.print("[red]error:[/red] --out DIR is required: where the results go (re-use it to resume)")
        return 2
    try:
        return bench_once(args, args.agent, Path(args.out), console)
    except (ValueError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2


def cmd_compare(args: argparse.Namespace) -> int:
    console = wide_console()
    dirs = [ResultsDir.open(path) for path in (args.first, args.second)]
    for results in dirs:
        if not results.episodes_file.exists():
            console.print(f"[red]error:[/red] {results.path} has no {results.episodes_file.name}: "
                          "is it a `step-envs bench --out` directory?")
            return 2
    console.print(compare_table(*dirs))
    console.print(verdict(*dirs))
    differing = differing_tasks(*dirs)
    if differing:
        console.print(f"{len(differing)} episodes scored differently"
                      + (f" (first {args.show}):" if len(differing) > args.show else ":"))
        for task, seed, a, b in differing[: args.show]:
            console.print(f"  {task} seed={seed}: {a} -> {b}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from step_envs.bench.report import write_report

    results = ResultsDir.open(args.dir)
    summary = write_summary(results)
    console = wide_console()
    console.print(summary_table(summary, f"{summary['meta'].get('agent', '?')} on {summary['meta'].get('suite', '?')}"))
    console.print(f"report: [bold]{write_report(results, summary)}[/bold]")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """`make demo`: the solution and random agents on the smoke suite, fresh each time."""
    console = wide_console()
    status = 0
    for agent in DEMO_AGENTS:
        run_args = argparse.Namespace(**vars(args), agent=agent, agent_arg=[], model=None, base_url=None,
                                      api_key_env=None, seed=0, dialect=None, adapter=None, action_space=None,
                                      env_arg=[], provider_arg=[], seeds=None, repeats=None, images="jpeg",
                                      fresh=True,
                                      record=False)
        try:
            status |= bench_once(run_args, agent, Path(args.out) / agent, console)
        except (ValueError, FileNotFoundError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            return 2
    console.print(f"compare them: [bold]step-envs bench compare {Path(args.out) / DEMO_AGENTS[0]} "
                  f"{Path(args.out) / DEMO_AGENTS[1]}[/bold]")
    return status


def add_bench_options(parser: argparse.ArgumentParser, *, demo: bool = False) -> None:
    parser.add_argument("--suite", default="smoke", help="a suite name (smoke, desktop-core, widgets, all; Android: "
                                                        "android-smoke, android-core) or a path to a task JSON dir "
                                                        "or suite file (default: smoke)")
    parser.add_argument("--envs", type=int, default=2, help="environments run in parallel (default 2)")
    parser.add_argument("--provider", default="local", help="local (default), docker or ray; for the Android suites "
                                                           "emulator or fake-emulator")
    parser.add_argument("--max-steps", type=int, default=15, help="actions per episode before it is cut (default 15)")
    if demo:
        parser.add_argument("--out", default="results/demo", help="where the results go (default results/demo)")
        return
    parser.add_argument("--agent", default="solution",
                        help="solution, noop, replay, random, random-widget, openai, hf, or module:Class "
                             "(default: solution)")
    parser.add_argument("--out", help="the results directory (required); re-running with it resumes")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, nargs="+", help="run every task once per seed (env reset seed)")
    seeds.add_argument("--repeats", type=int, metavar="K",
                       help="run every task K times, with reset seeds 0..K-1 (--seeds spelled short); the table "
                            "then lists the tasks whose runs disagree and summary.json each task's mean and std")
    parser.add_argument("--model", help="openai: the served model name (else $OPENAI_MODEL); hf: a model directory")
    parser.add_argument("--base-url", help="openai: the endpoint, e.g. http://127.0.0.1:8000/v1 "
                                           "(else $OPENAI_BASE_URL); the key comes from $OPENAI_API_KEY")
    parser.add_argument("--api-key-env", help="openai: read the API key from this environment variable instead")
    parser.add_argument("--dialect", choices=tuple(DIALECTS),
                        help="model agents: how the model writes actions and points (" + "; ".join(
                            f"{d.name}: {d.summary}" for d in DIALECTS.values()) + "); default: the action space's")
    parser.add_argument("--adapter", help="hf: a step-train checkpoint (RUN_DIR/checkpoints/round-N) whose LoRA "
                                          "adapter, dialect and prompt settings to use")
    parser.add_argument("--seed", type=int, help="random agent: its seed (default 0)")
    parser.add_argument("--agent-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="any other constructor argument of the agent, e.g. temperature=0.7 (repeatable)")
    parser.add_argument("--action-space", choices=("pyautogui", "computer_13"),
                        help="what a desktop env executes (default: the dialect's, else pyautogui)")
    parser.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of every env (DesktopEnv's, or AndroidEnv's on an Android provider), e.g. "
                             "screen_size=[1080,2400] (repeatable)")
    parser.add_argument("--provider-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of every env's provider, e.g. avd_name=step_pixel for emulator (repeatable)")
    parser.add_argument("--images", default="jpeg", choices=("jpeg", "png", "none"),
                        help="how per-step screenshots are saved (default jpeg)")
    parser.add_argument("--fresh", action="store_true", help="delete --out first instead of resuming")
    parser.add_argument("--record", action="store_true",
                        help="keep a screen recording (mp4) of every episode beside its steps, linked from the report")


def add_bench_parser(sub: Any) -> None:
    """`bench` (run or resume), `bench compare DIR1 DIR2`, `bench report DIR`."""
    bench = sub.add_parser(
        "bench", help="score an agent on a suite; `bench compare A B`, `bench report DIR`",
        description="Run an agent on every task of a suite with a pool of environments. Every episode is written "
                    "to --out as it ends (episodes.jsonl, per-step screenshots, summary.json, report.html); "
                    "running the same command again resumes: scored episodes are skipped, env errors re-run.")
    add_bench_options(bench)
    bench.set_defaults(func=cmd_bench)
    actions = bench.add_subparsers(dest="bench_command")
    compare = actions.add_parser("compare", help="side-by-side success of two results directories")
    compare.add_argument("first")
    compare.add_argument("second")
    compare.add_argument("--show", type=int, default=20, help="list at most this many differing episodes")
    compare.set_defaults(func=cmd_compare)
    report = actions.add_parser("report", help="rewrite summary.json and report.html of a results directory")
    report.add_argument("dir")
    report.set_defaults(func=cmd_report)
