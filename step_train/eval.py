"""Held-out evaluation: greedy episodes on template instances that training never sees, success per template.

The config's `[eval]` section (`EvalSettings`) splits every template's seeds into training seeds and held-out
seeds. `held_out_tasks` turns the evaluated templates into their held-out instances, `evaluate` runs one greedy
episode of each on the same `EnvPool` the rollouts use, and `EvalResult` scores them:

    success(template) = sum(score of its valid episodes) / (number of its valid episodes)

and the overall `eval/success` is the same mean over every valid episode. An episode the environment broke
(`env_error`) is no outcome of the policy: it is counted in `env_errors` and left out of both means. Greedy
decoding draws no random numbers, so an evaluation between two rounds leaves every training RNG as it was.

`evaluate_checkpoint` is `step-train eval`: a run directory's config, one of its checkpoints' adapters (or whole
model, after full fine-tuning), the results as a table and as JSON and CSV files.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from step_envs.episodes import Episode
from step_envs.progress import progress as progress_display
from step_envs.tasks import Task, load_task
from step_train.config import EvalSettings, TrainConfig
from step_train.tasks import load_tasks, make_pool
from step_train.warmstart import FULL_MODEL_DIR

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def check_training_tasks(tasks: Sequence[Task], settings: EvalSettings) -> None:
    """Raise when a training task is a template instance whose seed is outside `train_seeds`: such an instance
    could be one of the held-out ones, and evaluation on it would not measure generalization."""
    start, stop = settings.train_seeds
    outside = [t.id for t in tasks if t.template and t.seed is not None and not start <= t.seed < stop]
    if outside:
        shown = ", ".join(outside[:5]) + (f" and {len(outside) - 5} more" if len(outside) > 5 else "")
        raise ValueError(
            f"training task(s) {shown} have seeds outside eval.train_seeds [{start}, {stop}): the seeds of a "
            f"template are split between training (eval.train_seeds) and held-out evaluation (eval.seeds "
            f"[{settings.seeds[0]}, {settings.seeds[1]})); train on seeds in [{start}, {stop}) or move the ranges"
        )


def eval_source(config: TrainConfig, training: Sequence[Task] | None = None) -> list[Task]:
    """The tasks whose templates are evaluated: `eval.suite`'s, else the training tasks (`training`, or the
    config's `env.suite` / `env.tasks`)."""
    from step_envs.tasks.suites import load_suite

    if config.eval.suite:
        return load_suite(config.eval.suite)
    if training is not None:
        return list(training)

    return load_tasks(config)


def held_out_tasks(source: Sequence[Task], settings: EvalSettings) -> list[Task]:
    """Every template of `source` at every seed of `settings.seeds`, templates in name order.

    Fixed tasks of `source` are left out: their one instance is the one training uses, so it is not held out.
    """
    templates = sorted({t.template for t in source if t.template})
    if not templates:
        fixed = ", ".join(t.id for t in list(source)[:3])
        raise ValueError(
            f"no template tasks to hold out instances of (only fixed tasks: {fixed}...): evaluation runs the "
            "templates' held-out seeds (eval.seeds), and a fixed task's only instance is the one training uses; "
            "evaluate a suite with templates (eval.suite, or --suite widgets) or turn evaluation off (eval.every = 0)"
        )
    return [load_task(f"{template}/{seed}") for template in templates for seed in range(*settings.seeds)]


@dataclass
class TemplateScore:
    """The held-out episodes of one template (or of all): how many ran, how many the env broke, the scores."""

    episodes: int = 0
    env_errors: int = 0
    score_sum: float = 0.0

    def add(self, episode: Episode) -> None:
        self.episodes += 1
        if episode.valid:
            self.score_sum += float(episode.score)  # type: ignore[arg-type]
        else:
            self.env_errors += 1

    @property
    def valid(self) -> int:
        return self.episodes - self.env_errors

    @property
    def success(self) -> float | None:
        """Mean checker score over the valid episodes (None when the env broke every one)."""
        return self.score_sum / self.valid if self.valid else None

    def to_dict(self) -> dict[str, Any]:
        return {"success": self.success, "episodes": self.episodes, "valid_episodes": self.valid,
                "env_errors": self.env_errors}


@dataclass
class EvalResult:
    """One evaluation: overall and per-template scores, and what each held-out episode did."""

    overall: TemplateScore
    templates: dict[str, TemplateScore]
    instances: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def of(cls, tasks: Sequence[Task], episodes: Sequence[Episode], seconds: float = 0.0) -> EvalResult:
        """Score `episodes` (one per task of `tasks`, in order) by the tasks' templates."""
        overall, templates = TemplateScore(), {}
        instances = []
        for task, episode in zip(tasks, episodes, strict=True):
            overall.add(episode)
            templates.setdefault(task.template, TemplateScore()).add(episode)
            instances.append({"task_id": task.id, "template": task.template, "seed": task.seed,
                              "score": episode.score, "env_error": episode.env_error, "reason": episode.reason,
                              "actions": [step.action for step in episode.steps]})
        return cls(overall, dict(sorted(templates.items())), instances, seconds)

    def row(self, prefix: str = "eval") -> dict[str, Any]:
        """The keys the trainer adds to a round's log row: `<prefix>/success`, `<prefix>/success/<template>`,
        counts (`eval` for the greedy held-out evaluation, `eval/<name>` for the others, `EVALUATIONS`)."""
        return {
            f"{prefix}/success": self.overall.success,
            f"{prefix}/episodes": self.overall.episodes,
            f"{prefix}/env_errors": self.overall.env_errors,
            f"{prefix}/seconds": self.seconds,
            **{f"{prefix}/success/{name}": score.success for name, score in self.templates.items()},
        }

    def summary(self) -> str:
        """One line: overall and per-template success, episodes and env errors."""
        per_template = "  ".join(f"{name} {_rate(score.success)}" for name, score in self.templates.items())
        return (f"eval  success {_rate(self.overall.success)}  ({self.overall.valid}/{self.overall.episodes} "
                f"episodes, {self.overall.env_errors} env errors, {self.seconds:.1f}s)  {per_template}")

    def table(self, title: str = "held-out evaluation") -> Table:
        table = Table(title=title)
        for name in ("template", "episodes", "env errors", "success"):
            table.add_column(name, justify="left" if name == "template" else "right")
        for name, score in [*self.templates.items(), ("all", self.overall)]:
            table.add_row(name, str(score.episodes), str(score.env_errors), _rate(score.success),
                          style="bold" if name == "all" else None)
        return table

    def to_dict(self) -> dict[str, Any]:
        return {**self.overall.to_dict(), "seconds": self.seconds,
                "templates": {name: score.to_dict() for name, score in self.templates.items()},
                "instances": self.instances}

    def write(self, out_dir: str | Path, name: str, meta: dict[str, Any]) -> list[Path]:
        """`<name>.json` (everything, with `meta`) and `<name>.csv` (one line per template, then `all`)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        json_path, csv_path = out / f"{name}.json", out / f"{name}.csv"
        json_path.write_text(json.dumps({**meta, **self.to_dict()}, indent=1, sort_keys=True))
        with open(csv_path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=("template", "episodes", "valid_episodes", "env_errors",
                                                        "success"))
            writer.writeheader()
            for template, score in [*self.templates.items(), ("all", self.overall)]:
                writer.writerow({"template": template, **score.to_dict()})
        return [json_path, csv_path]


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def step_limit(max_steps: int | None, slack: int | None) -> int | Callable[[Task], int | None] | None:
    """The pool's `max_steps` for an evaluation: `max_steps`, or with `slack`, per task the smaller of it and the
    task's solution length + `slack` (a task without a solution keeps `max_steps`)."""
    if slack is None:
        return max_steps

    def limit(task: Task) -> int | None:
        if not task.solution:
            return max_steps
        needed = len(task.solution) + slack
        return needed if max_steps is None else min(max_steps, needed)

    return limit


EVALUATIONS = (("heldout", False, True), ("heldout_sampled", False, False), ("train", True, True),
               ("train_sampled", True, False))
"""(name, on the training tasks, greedy) of the evaluations `eval.train` / `eval.sampled` switch on; the log row
keys are `eval/...` for `heldout` (as ever) and `eval/<name>/...` for the others."""


def enabled_evaluations(settings: EvalSettings) -> list[tuple[str, bool, bool]]:
    """The `EVALUATIONS` `settings` asks for: held-out greedy always, sampled ones with `eval.sampled`, those on
    the training tasks with `eval.train`."""
    return [(name, on_training, greedy) for name, on_training, greedy in EVALUATIONS
            if (settings.train or not on_training) and (settings.sampled or greedy)]


def eval_prefix(name: str) -> str:
    """The log row prefix of evaluation `name`: `eval` for `heldout`, `eval/<name>` for the others."""
    return "eval" if name == "heldout" else f"eval/{name}"


def evaluate(
    pool: Any,
    policy: Any,
    tasks: Sequence[Task],
    *,
    max_steps: int | None = None,
    step_slack: int | None = None,
    greedy: bool = True,
    seed_scope: object = None,
    console: Console | None = None,
    label: str = "eval",
) -> EvalResult:
    """One episode of each task on the pool, greedy (default) or sampled at the policy's temperature; the policy
    is left as it was. `seed_scope` stands in for the policy's round in its per-turn seeds while sampling, so a
    sampled evaluation draws other numbers than the rollouts and changes none of theirs. `step_slack`: see
    `step_limit`. An agent without a `greedy` switch (a baseline such as `random-widget`) acts as it always does."""
    start = time.perf_counter()
    before = getattr(policy, "greedy", None)
    round_before = getattr(policy, "round", None)
    if before is not None:
        policy.greedy = greedy
    if seed_scope is not None and round_before is not None:
        policy.round = seed_scope
    try:
        with progress_display(console, TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("episodes"),
                              TimeElapsedColumn(), transient=True) as progress:
            bar = progress.add_task(label, total=len(tasks))

            def advance(_: Episode) -> None:
                progress.advance(bar)

            episodes = pool.run_episodes(policy, list(tasks), max_steps=step_limit(max_steps, step_slack),
                                         on_episode=advance)
    finally:
        if before is not None:
            policy.greedy = before
        if seed_scope is not None and round_before is not None:
            policy.round = round_before
    return EvalResult.of(tasks, episodes, time.perf_counter() - start)


def evaluate_set(pool: Any, policy: Any, held_out: Sequence[Task], training: Sequence[Task], settings: EvalSettings,
                 max_steps: int | None, *, scope: object = "eval", console: Console | None = None
                 ) -> dict[str, EvalResult]:
    """The evaluations `settings` asks for (`EVALUATIONS`: held-out greedy always; sampled with `eval.sampled`;
    the training tasks with `eval.train`), by name. Sampled ones are seeded by `scope` and their name."""
    results = {}
    for name, on_training, greedy in enabled_evaluations(settings):
        tasks = training if on_training else held_out
        results[name] = evaluate(pool, policy, tasks, max_steps=max_steps, step_slack=settings.step_slack,
                                 greedy=greedy, seed_scope=None if greedy else f"{scope}:{name}", console=console,
                                 label=name.replace("_", " "))
    return results


def result_row(results: dict[str, EvalResult]) -> dict[str, Any]:
    """The log row keys of `evaluate_set`'s results."""
    row: dict[str, Any] = {}
    for name, result in results.items():
        row.update(result.row(eval_prefix(name)))
    return row


def evaluate_checkpoint(
    run_dir: str | Path,
    *,
    round_index: int | None = None,
    overrides: Sequence[str] = (),
    out_dir: str | Path | None = None,
    console: Console | None = None,
) -> tuple[EvalResult, list[Path]]:
    """Evaluate the adapter of a run's checkpoint (the latest, or the one after `round_index` rounds) with the
    run's `config.json` (plus `section.key=value` overrides); results go to `out_dir` (default `RUN_DIR/eval`)
    as `round-NNNNNN.json` / `.csv`."""
    from step_train.checkpoint import find_checkpoint
    from step_train.config import load_config
    from step_train.policy import VLMPolicy

    run = Path(run_dir)
    config_path = run / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} is missing: RUN_DIR must be a run directory that step-train train "
                                "wrote (it holds config.json and checkpoints/)")
    checkpoint = find_checkpoint(run, round_index)
    adapter, full_model = checkpoint / "adapter", checkpoint / FULL_MODEL_DIR
    full = (full_model / "config.json").is_file()  # full fine-tuning (sft.full): the whole model, no adapter
    for name in () if full else ADAPTER_FILES:
        if not (adapter / name).is_file():
            raise FileNotFoundError(f"{adapter / name} is missing: the checkpoint has no complete adapter; pick "
                                    "another with --checkpoint N")
    config = load_config(config_path, list(overrides)).resolved()
    config.apply_threads()
    tasks = held_out_tasks(eval_source(config), config.eval)
    max_steps = config.eval.max_steps or config.env.max_steps
    if console is not None:
        console.print(f"evaluating {checkpoint} on {len(tasks)} held-out instances "
                      f"(seeds {config.eval.seeds[0]}..{config.eval.seeds[1] - 1}, {max_steps} steps)")
    if full:
        policy = VLMPolicy(dataclasses.replace(config.model, path=str(full_model)), config.sampling)
    else:
        policy = VLMPolicy(config.model, config.sampling, adapter_dir=adapter)
    with make_pool(config.env) as pool:
        result = evaluate(pool, policy, tasks, max_steps=max_steps, step_slack=config.eval.step_slack, console=console)
    meta = {"run_dir": str(run), "checkpoint": str(checkpoint), "round": int(checkpoint.name.split("-")[1]),
            "suite": config.eval.suite or config.env.suite, "seeds": list(config.eval.seeds),
            "max_steps": max_steps}
    written = result.write(out_dir if out_dir is not None else run / "eval", checkpoint.name, meta)
    return result, written
