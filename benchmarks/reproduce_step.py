"""Reproduce STEP against T-GRPO, GiGPO and STEP's ablations on widget tasks, from scratch, with the same
trajectory budget for every run, and report held-out success.

    .venv/bin/python benchmarks/reproduce_step.py                  # CPU: a small random model (up to 150 min)
    .venv/bin/python benchmarks/reproduce_step.py --model DIR      # a real checkpoint instead, on a GPU
    .venv/bin/python benchmarks/reproduce_step.py --quick          # <= 10 minutes on 2 cores (the CI test)

Steps, each skipped when its output is already in the work directory (the config's `run_dir`), so rerunning the
same command continues an interrupted experiment:

1. the model: `step-train init-model` of `experiment.model_size` (skipped with `--model DIR` or `model.path`);
2. demonstrations: the solution agent on the templates' training seeds (`step-train demos`);
3. the warm start: supervised fine-tuning on them (`step-train sft`, the config's `[sft]`);
4. baselines, greedy on the held-out seeds (`eval.seeds`), per template: the untrained model, the warm start
   (also with T-GRPO's trajectory prompts when it runs with them), and a random widget of the right role;
5. RL from the warm start for every method x seed (`step-train train --init`), every run collecting the same
   number of trajectories, evaluated on the held-out seeds every `eval.every` rounds;
6. the report: `<results>/<name>.csv` (one row per evaluation: method, seed, round, trajectories,
   eval_success, per-template success, wall and update seconds, memory peaks), `<name>-baselines.csv`, the curves
   `<name>-success-vs-trajectories.png` and `<name>-success-vs-wall.png`, and `<name>.md`, the tables (also
   printed). `<name>` is the config file's name; `<results>` is `experiment.results` (or `--out`).

The settings are the config's (`configs/reproduce-widgets.toml`; the `[experiment]` table is described in
`step_train/experiment.py`); `--quick` applies its `[experiment.quick]` table, `--set KEY=VALUE` anything else.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import yaml
from rich.console import Console

from step_envs.cli.console import wide_console
from step_envs.tasks import load_task
from step_train.algos import ALGORITHMS
from step_train.demos import record_demos
from step_train.eval import enabled_evaluations, held_out_tasks
from step_train.experiment import (
    StepLog,
    arm_config,
    cached_evaluation,
    completed_rounds,
    demo_format_of,
    demo_seeds,
    evaluate_policy,
    evaluate_random_widget,
    load_experiment,
    policy_key,
    prompt_kind,
    train_arm,
    training_tasks,
    trajectory_budget,
    warm_start,
)
from step_train.experiment_report import (
    curve_rows,
    evaluation,
    plot_curves,
    summary_markdown,
    warm_start_check,
    write_baselines_csv,
    write_csv,
)
from step_train.runlog import read_rows
from step_train.tasks import make_pool

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "configs" / "reproduce-widgets.toml"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reproduce_step.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="the experiment's config (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="the <= 10-minute version: the config's [experiment.quick] replacements (a tiny model, "
                             "few demonstrations and SFT steps, 2 methods x 1 seed x 4 rounds)")
    parser.add_argument("--model", help="a local model directory (a real checkpoint) instead of init-model's")
    parser.add_argument("--work", help="the work directory (default: the config's run_dir)")
    parser.add_argument("--out", help="where the CSV, PNG and markdown go (default: experiment.results)")
    parser.add_argument("--methods", nargs="+", metavar="METHOD",
                        help=f"methods to run (default: experiment.methods): algorithms ({', '.join(ALGORITHMS)}) "
                             "or names of the config's experiment.variants")
    parser.add_argument("--seeds", nargs="+", type=int, metavar="SEED", help="RL seeds (default: experiment.seeds)")
    parser.add_argument("--report-only", action="store_true",
                        help="start no RL run: the report of the finished ones among the methods x seeds (unfinished "
                             "ones are named and left out), e.g. while the experiment still runs elsewhere")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="replace any config key, e.g. --set sampling.observation=a11y (repeatable)")
    return parser


def overrides(args: argparse.Namespace) -> list[tuple[str, object]]:
    """The flags as (dotted key, value) pairs, `--set` last (values read as YAML scalars)."""
    pairs: list[tuple[str, object]] = []
    for flag, key in (("model", "model.path"), ("work", "run_dir"), ("out", "experiment.results"),
                      ("methods", "experiment.methods"), ("seeds", "experiment.seeds")):
        if getattr(args, flag) is not None:
            pairs.append((key, getattr(args, flag)))
    for pair in args.set:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {pair!r}: expected section.key=value, e.g. sampling.observation=a11y")
        pairs.append((key.strip(), yaml.safe_load(raw)))
    return pairs


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = wide_console()
    try:
        return reproduce(args, console)
    except (FileNotFoundError, ValueError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 1


def reproduce(args: argparse.Namespace, console: Console) -> int:
    started = time.perf_counter()
    config, settings = load_experiment(args.config, quick=args.quick, overrides=overrides(args))
    name = Path(args.config).stem + ("-quick" if args.quick else "")
    work, results = Path(config.run_dir), Path(settings.results)
    train = training_tasks(config, settings)
    held_out = held_out_tasks(train, config.eval)
    arms = [(method, seed) for seed in settings.seeds for method in settings.methods]
    warm = work / "sft"
    kinds = sorted({prompt_kind(arm_config(config, m, 0, work, warm, settings.variants))
                    for m in settings.methods})
    extra = (len(enabled_evaluations(config.eval)) - 1) * len(kinds)
    steps = StepLog(work / "steps.jsonl", console, total=6 + len(kinds) + extra + (0 if args.report_only else len(arms)))
    console.print(f"{len(settings.methods)} methods x {len(settings.seeds)} seeds from one warm start, "
                  f"{trajectory_budget(config)} trajectories each ({config.budget.rounds} rounds x "
                  f"{config.budget.tasks_per_round} tasks x {config.algo.sampler.copies} copies) on {len(train)} "
                  f"training instances; {len(held_out)} held-out episodes per evaluation, every "
                  f"{config.eval.every} rounds; observation {config.sampling.observation}; work directory {work}")

    with steps.step("model") as step:
        if config.model.path:
            step.status, step.detail = "cached", f"given: {config.model.path}"
        else:
            model_dir = work / f"model-{settings.model_size}"
            if (model_dir / "config.json").is_file():
                step.status, step.detail = "cached", f"{model_dir} is there"
            else:
                from step_train.policy.init_model import init_model

                made = init_model(model_dir, settings.model_size, suite=config.env.suite, seed=config.seed)
                step.detail = f"{settings.model_size} Qwen2-VL, {made.parameters:,} parameters, in {model_dir}"
            config = dataclasses.replace(config, model=dataclasses.replace(config.model, path=str(model_dir)))

    with make_pool(config.resolved().env) as pool:
        with steps.step("demonstrations") as step:
            demos = work / "demos"
            units = [load_task(f"{template}/{config.eval.train_seeds[0]}") for template in settings.templates]
            summary = record_demos(units, demos, demo_format_of(config), episodes=settings.demo_episodes,
                                   seeds=demo_seeds(config, settings), max_steps=config.env.max_steps, pool=pool,
                                   console=console)
            if summary.env_errors:
                step.status = "failed"
                console.print(f"[red]error:[/red] the env broke {len(summary.env_errors)} demonstration episode(s) "
                              f"after every retry ({summary.env_errors[0]}, ...); run the same command again")
                return 1
            episodes, records = summary.totals["train"]
            step.status = "cached" if summary.already == summary.planned else "done"
            step.detail = f"{episodes} episodes, {records} records in {demos}"

        with steps.step("warm start (supervised fine-tuning)") as step:
            sft_config = dataclasses.replace(config, run_dir=str(warm), experiment={})
            step.detail, cached = warm_start(sft_config, demos, pool, console)
            step.status = "cached" if cached else "done"

        baselines: dict[str, dict] = {}
        warm_config = dataclasses.replace(config, model=dataclasses.replace(config.model, init=str(warm)))
        evaluated = [("untrained", config)] + [
            ("warm-start" if kind == "step" else "warm-start-trajectory",
             warm_config if kind == "step" else arm_config(config, "tgrpo", 0, work, warm))
            for kind in kinds]
        starts: dict[str, dict[str, dict | None]] = {}
        for baseline, policy_config in evaluated:
            with steps.step(f"baseline: {baseline}") as step:
                stored, cached = cached_evaluation(
                    work / "baselines" / f"{baseline}.json", policy_key(policy_config, held_out),
                    lambda c=policy_config: evaluate_policy(pool, c, held_out, console))
                baselines[baseline] = evaluation(stored)
                step.status, step.detail = ("cached" if cached else "done"), f"success {stored['success']:.3f}"
            if baseline == "untrained":
                continue
            # round 0 of every run: the warm start as the runs' evaluations see it (sampled, training tasks)
            starts[baseline] = {"heldout": baselines[baseline]}
            for kind, on_training, greedy in enabled_evaluations(config.eval)[1:]:
                tasks = train if on_training else held_out
                with steps.step(f"baseline: {baseline}, {kind.replace('_', ' ')}") as step:
                    stored, cached = cached_evaluation(
                        work / "baselines" / f"{baseline}-{kind}.json", policy_key(policy_config, tasks, greedy),
                        lambda c=policy_config, t=tasks, g=greedy, k=kind: evaluate_policy(
                            pool, c, t, console, greedy=g, scope=f"warm-start:{k}"))
                    starts[baseline][kind] = evaluation(stored)
                    if kind == "heldout_sampled" and baseline == "warm-start":
                        baselines["warm-start-sampled"] = starts[baseline][kind]
                    step.status, step.detail = ("cached" if cached else "done"), f"success {stored['success']:.3f}"
        with steps.step("baseline: random-widget") as step:
            key = {"agent": "random-widget", "seed": settings.random_widget_seed, "tasks": [t.id for t in held_out],
                   "max_steps": config.eval.max_steps or config.env.max_steps}
            stored, cached = cached_evaluation(
                work / "baselines" / "random-widget.json", key,
                lambda: evaluate_random_widget(pool, config, settings.random_widget_seed, held_out, console))
            baselines["random-widget"] = evaluation(stored)
            step.status, step.detail = ("cached" if cached else "done"), f"success {stored['success']:.3f}"

        rows, left_out = [], []
        for method, seed in arms:
            arm = arm_config(config, method, seed, work / "rl" / f"{method}-seed{seed}", warm, settings.variants)
            if args.report_only:
                if completed_rounds(arm) < config.budget.rounds:
                    left_out.append(f"{method} seed {seed} ({completed_rounds(arm)}/{config.budget.rounds} rounds)")
                    continue
            else:
                with steps.step(f"rl: {method}, seed {seed}") as step:
                    step.detail, cached = train_arm(arm, train, pool, console)
                    step.status = "cached" if cached else "done"
            start = starts["warm-start" if prompt_kind(arm) == "step" else "warm-start-trajectory"]
            rows += curve_rows(method, seed, arm.algo.settings.sample_level, start, read_rows(arm.run_dir))

    if left_out:
        console.print(f"--report-only: runs not finished, left out of the report: {', '.join(left_out)}")
    with steps.step("report") as step:
        results.mkdir(parents=True, exist_ok=True)
        meta = [f"{time.strftime('%Y-%m-%d')}, {platform.node()}: {platform.machine()}, {_device()}; "
                f"`benchmarks/reproduce_step.py --config {_shown(args.config)}{' --quick' if args.quick else ''}`",
                f"model: {config.model.path} (dialect {config.model.dialect}); observation: "
                f"{config.sampling.observation}; templates: {', '.join(settings.templates)}",
                f"RL: {len(train)} training instances; every run {trajectory_budget(config)} trajectories "
                f"({config.budget.rounds} rounds x {config.budget.tasks_per_round} tasks x "
                f"{config.algo.sampler.copies} copies); held-out seeds {config.eval.seeds[0]}-"
                f"{config.eval.seeds[1] - 1} ({len(held_out)} episodes per evaluation, every {config.eval.every} "
                f"rounds); evaluated greedy{' and sampled' if config.eval.sampled else ''} on the held-out "
                f"instances{' and the training tasks' if config.eval.train else ''}; STEP's advantage "
                f"{config.algo.step.mode}, T-GRPO's loss {config.algo.loss.aggregation}",
                f"the steps took {sum(s['seconds'] for s in steps.table()) / 60:.1f} min in all; this invocation "
                f"{(time.perf_counter() - started) / 60:.1f} min"]
        written = [write_csv(results / f"{name}.csv", rows),
                   write_baselines_csv(results / f"{name}-baselines.csv", baselines),
                   *plot_curves(rows, baselines, results / name)]
        report = summary_markdown(f"STEP vs T-GRPO vs GiGPO: {name}", meta, rows, baselines, steps.table())
        (results / f"{name}.md").write_text(report)
        written.append(results / f"{name}.md")
        step.detail = ", ".join(str(p) for p in written)
    console.print(report, markup=False, highlight=False)
    console.print(warm_start_check(baselines)[1])
    return 0


def _shown(path: str) -> str:
    """`path` relative to the repository when it is inside it."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else path


def _device() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"no GPU, {os.cpu_count()} CPUs"


if __name__ == "__main__":
    sys.exit(main())
