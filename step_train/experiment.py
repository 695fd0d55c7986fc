"""The steps of `benchmarks/reproduce_step.py`: a model, demonstrations, a supervised warm start, baselines on
held-out instances, then RL from the warm start for every method x seed with the same trajectory budget.

**Settings.** One training config (TOML or YAML, e.g. `configs/reproduce-widgets.toml`) with an `[experiment]`
table (`ExperimentSettings`): the widget templates, how many training instances of each RL draws from, the model
size to initialize, the number of demonstration episodes, the methods and seeds, where the results go, and a
`[experiment.quick]` table of `section.key = value` replacements that `--quick` applies. Everything else is the
trainer's own config: `[sft]` trains the warm start, `[budget]` and `[algo.sampler]` give every run the same
trajectory budget

    trajectories = budget.rounds x budget.tasks_per_round (B) x algo.sampler.copies (N)

(every method collects exactly B x N episodes a round: adaptive resampling moves copies between tasks, never adds
any), `[eval]` splits each template's seeds into training seeds and held-out seeds, and `eval.every` says how
often (in rounds) a run is evaluated on the held-out instances.

**Work directory** (the config's `run_dir`). Each step writes its output there and is skipped when the output is
already there, so an interrupted experiment continues where it stopped:

    model-<size>/            init-model (unless model.path or --model names a model)
    demos/                   the solution agent's demonstrations (resumes episode by episode)
    sft/                     the warm start (resumes from its latest checkpoint)
    baselines/<name>.json    held-out evaluations: untrained model, warm start, random widget (redone when what
                             they evaluate changed)
    rl/<method>-seed<k>/     one RL run (resumes from its latest checkpoint); metrics.jsonl holds every round
    steps.jsonl              what each step did and how long it took
"""

from __future__ import annotations

import dataclasses
import gc
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from step_envs.tasks import Task, load_task
from step_train.algos import ALGORITHMS
from step_train.checkpoint import latest_checkpoint, read_state
from step_train.config import TrainConfig, from_dict, read_config_file, set_key
from step_train.demos import DemoFormat
from step_train.eval import EvalResult, evaluate
from step_train.policy.init_model import SHAPES
from step_train.trainer import Trainer
from step_train.warmstart import checkpoint_weights, with_init

SIZES = tuple(SHAPES)


@dataclass(frozen=True)
class ExperimentSettings:
    """The `[experiment]` table: what the experiment runs besides one training config."""

    templates: tuple[str, ...] = ("widget-click-button", "widget-choose-radio", "widget-select-option",
                                  "widget-click-sequence")
    """Widget templates (`step-envs tasks list --suite widgets`) to demonstrate, train and evaluate on."""
    train_instances: int = 8
    """RL trains on the first `train_instances` seeds of `eval.train_seeds` of every template. STEP's success
    record is per task and its resampling only moves copies to tasks it has tried before, so RL revisits a small
    set; generalization is measured on `eval.seeds`, which neither demonstrations nor RL ever use."""
    model_size: str = "small"
    """The `step-train init-model` size to start from when `model.path` is empty: tiny, small, base or medium."""
    demo_episodes: int = 200
    """Solution-agent episodes, round-robin over the templates at the training seeds."""
    methods: tuple[str, ...] = ("step", "tgrpo", "gigpo", "step-no-resample", "step-no-aug")
    """Algorithms (`step_train.algos.ALGORITHMS`) or names of `variants`, each run for every seed."""
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Named methods that are an algorithm with other settings, e.g. `step-baseline = {algorithm = "step",
    "algo.step.mode" = "baseline"}`: a variant the report shows as its own row instead of a silent choice."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """One RL run per method and seed (`seed` of its config: task draw, LoRA init, sampling)."""
    random_widget_seed: int = 0
    demo_seeds: tuple[int, int] | None = None
    """Seeds `[start, stop)` the demonstrations draw from (inside `eval.train_seeds`); None: all of
    `eval.train_seeds`. Starting them after the RL training instances keeps the warm start from having seen the
    very tasks RL trains on, so training success measures what RL learns."""
    results: str = "benchmarks/results/reproduce"
    """Where the CSV, the PNG curves and the markdown table go."""
    quick: dict[str, Any] = field(default_factory=dict)
    """`section.key = value` replacements `--quick` applies to the whole config."""

    def __post_init__(self) -> None:
        if self.model_size not in SIZES:
            raise ValueError(f"unknown experiment.model_size {self.model_size!r}; known: {', '.join(SIZES)}")
        unknown = [m for m in self.methods if m not in ALGORITHMS and m not in self.variants]
        if unknown or not self.methods:
            raise ValueError(f"experiment.methods {list(self.methods)} must be a non-empty list of algorithms or "
                             f"experiment.variants; known: {', '.join([*ALGORITHMS, *self.variants])}")
        for name, variant in self.variants.items():
            if variant.get("algorithm") not in ALGORITHMS:
                raise ValueError(f"experiment.variants.{name} needs algorithm = one of {', '.join(ALGORITHMS)}, "
                                 f"got {variant.get('algorithm')!r}")
        if not self.templates or not self.seeds:
            raise ValueError("experiment.templates and experiment.seeds must not be empty")
        if min(self.train_instances, self.demo_episodes) < 1:
            raise ValueError("experiment.train_instances and experiment.demo_episodes must be >= 1")


def load_experiment(path: str | Path, *, quick: bool = False,
                    overrides: Sequence[tuple[str, Any]] = ()) -> tuple[TrainConfig, ExperimentSettings]:
    """The config at `path` with `[experiment.quick]` applied (when `quick`), then `overrides` (dotted keys)."""
    data = read_config_file(path)
    replacements = list(data.get("experiment", {}).get("quick", {}).items()) if quick else []
    for key, value in [*replacements, *overrides]:
        set_key(data, key, value)
    config = from_dict(TrainConfig, data)
    settings = from_dict(ExperimentSettings, config.experiment, "experiment")
    for template in settings.templates:
        load_task(f"{template}/{config.eval.train_seeds[0]}")  # an unknown template is an error naming the known
    if settings.train_instances > config.eval.train_seeds[1] - config.eval.train_seeds[0]:
        raise ValueError(f"experiment.train_instances {settings.train_instances} is more than eval.train_seeds "
                         f"{list(config.eval.train_seeds)} holds")
    if settings.demo_seeds is not None:
        start, stop = settings.demo_seeds
        if not config.eval.train_seeds[0] <= start < stop <= config.eval.train_seeds[1]:
            raise ValueError(f"experiment.demo_seeds {list(settings.demo_seeds)} must lie inside eval.train_seeds "
                             f"{list(config.eval.train_seeds)} (demonstrations never use held-out seeds)")
    return config, settings


def demo_seeds(config: TrainConfig, settings: ExperimentSettings) -> tuple[int, int]:
    """The seeds demonstrations draw from: `experiment.demo_seeds`, else `eval.train_seeds`."""
    return settings.demo_seeds or config.eval.train_seeds


def trajectory_budget(config: TrainConfig) -> int:
    """Episodes every RL run collects: rounds x B x N."""
    return config.budget.rounds * config.budget.tasks_per_round * config.algo.sampler.copies


def training_tasks(config: TrainConfig, settings: ExperimentSettings) -> list[Task]:
    """Every template at the first `train_instances` training seeds."""
    start = config.eval.train_seeds[0]
    return [load_task(f"{template}/{seed}") for template in settings.templates
            for seed in range(start, start + settings.train_instances)]


# ---- the step log -----------------------------------------------------------------------------------------------


@dataclass
class ExperimentStep:
    """One step of the experiment as `steps.jsonl` keeps it."""

    name: str
    status: str = "done"
    """`done`, `cached` (its output was already there) or `failed`."""
    detail: str = ""
    seconds: float = 0.0


class StepLog:
    """Prints each step as it starts and ends and appends it to `steps.jsonl`, with how long it took."""

    def __init__(self, path: str | Path, console: Console, total: int) -> None:
        self.path, self.console, self.total = Path(path), console, total
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: list[ExperimentStep] = []
        self.done: dict[str, ExperimentStep] = {}
        """The last time each step was done, in this invocation or an earlier one."""
        if self.path.is_file():
            for line in self.path.read_text().splitlines():
                stored = json.loads(line)
                if stored["status"] == "done":
                    self.done[stored["name"]] = ExperimentStep(stored["name"], "done", stored["detail"],
                                                               stored["seconds"])

    @contextmanager
    def step(self, name: str) -> Iterator[ExperimentStep]:
        record = ExperimentStep(name)
        self.console.rule(f"[{len(self.records) + 1}/{self.total}] {name}", align="left")
        start = time.perf_counter()
        yield record
        record.seconds = time.perf_counter() - start
        self.records.append(record)
        if record.status == "done":
            self.done[name] = record
        with open(self.path, "a") as handle:
            handle.write(json.dumps({**dataclasses.asdict(record), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
                         + "\n")
        self.console.print(f"{name}: {record.status}, {record.seconds:.1f}s  {record.detail}")

    def table(self) -> list[dict[str, Any]]:
        """This invocation's steps: `name`, `status`, `seconds` (the time the step took when it was done, here or
        in an earlier invocation) and `detail`."""
        rows = []
        for record in self.records:
            done = self.done.get(record.name, record)
            rows.append({"name": record.name, "status": record.status, "seconds": done.seconds,
                         "detail": done.detail if record.status == "cached" else record.detail})
        return rows


# ---- model, demonstrations, warm start ----------------------------------------------------------------------------


def demo_format_of(config: TrainConfig) -> DemoFormat:
    """Demonstrations as `config`'s policy sees a step: its dialect, screen, screenshot size and observation."""
    return DemoFormat(config.model.dialect, config.env.action_space, tuple(config.env.screen_size),
                      config.sampling.max_pixels, config.sampling.shows.a11y)


def warm_start(config: TrainConfig, demos: Path, pool: Any, console: Console) -> tuple[str, bool]:
    """Supervised fine-tuning on `demos` into `config.run_dir` (resumed from its latest checkpoint); what it did,
    and whether it was already done."""
    from step_train.sft import SFTTrainer

    trainer = SFTTrainer(config, demos, resume=latest_checkpoint(config.run_dir) is not None, console=console)
    try:
        rows = trainer.run(pool)
    finally:
        trainer.close()
    if not rows:
        return f"{trainer.round} steps already in {config.run_dir}", True
    return (f"steps {rows[0]['round'] + 1}-{trainer.round} of {trainer.total_rounds} on {len(trainer.demos)} records, "
            f"loss {rows[0]['loss']:.3f} -> {rows[-1]['loss']:.3f}"), False


# ---- cached evaluations -----------------------------------------------------------------------------------------


def cached_evaluation(path: Path, key: dict[str, Any], run: Callable[[], EvalResult]) -> tuple[dict[str, Any], bool]:
    """The evaluation stored at `path` (`EvalResult.write`'s JSON) when it was made with the same `key`, else
    `run()` written there; and whether it was cached."""
    key = json.loads(json.dumps(key))  # as the JSON file holds it: tuples become lists
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored.get("key") == key:
            return stored, True
    result = run()
    result.write(path.parent, path.stem, {"key": key})
    return json.loads(path.read_text()), False


def evaluate_random_widget(pool: Any, config: TrainConfig, seed: int, tasks: Sequence[Task],
                           console: Console) -> EvalResult:
    """The random-widget agent (`step_envs.agents.simple.RandomWidgetAgent`, seeded) on the tasks: on `pool` when
    its envs read the accessibility tree, else on a pool of the same envs with `a11y_tree` on."""
    from step_envs.agents.simple import RandomWidgetAgent
    from step_train.tasks import make_pool

    agent, max_steps = RandomWidgetAgent(seed), config.eval.max_steps or config.env.max_steps
    if pool.env_kwargs.get("a11y_tree"):
        result = evaluate(pool, agent, tasks, max_steps=max_steps, console=console)
    else:
        env = dataclasses.replace(config.env, env_kwargs={**config.env.env_kwargs, "a11y_tree": True})
        with make_pool(env) as a11y_pool:
            result = evaluate(a11y_pool, agent, tasks, max_steps=max_steps, console=console)
    console.print(result.summary())
    return result


def evaluate_policy(pool: Any, config: TrainConfig, tasks: Sequence[Task], console: Console, *,
                    greedy: bool = True, scope: str = "baseline") -> EvalResult:
    """Episodes of `config`'s model (from `model.init` when set) on `tasks`, as its RL run would act: greedy, or
    sampled at its temperature with per-turn seeds drawn from `scope` (see `step_train.eval.evaluate`)."""
    from step_train.policy import VLMPolicy

    started, adapter = with_init(config)
    resolved = started.resolved()
    resolved.apply_threads()
    policy = VLMPolicy(resolved.model, resolved.sampling, adapter_dir=adapter)
    result = evaluate(pool, policy, tasks, max_steps=config.eval.max_steps or config.env.max_steps,
                      step_slack=config.eval.step_slack, greedy=greedy, seed_scope=None if greedy else scope,
                      console=console)
    console.print(result.summary())
    return result


def policy_key(config: TrainConfig, tasks: Sequence[Task], greedy: bool = True) -> dict[str, Any]:
    """What an evaluation of `config`'s policy depends on (the warm start's step count included)."""
    init = config.model.init
    checkpoint = latest_checkpoint(init) if init else None
    resolved = config.resolved()
    return {"model": config.model.path, "init": str(checkpoint) if checkpoint else init,
            "dialect": config.model.dialect, "sampling": dataclasses.asdict(resolved.sampling),
            "env": [config.env.action_space, list(config.env.screen_size)],
            "max_steps": config.eval.max_steps or config.env.max_steps, "step_slack": config.eval.step_slack,
            "greedy": greedy, "tasks": [t.id for t in tasks]}


def prompt_kind(config: TrainConfig) -> str:
    """`step` or `trajectory`: the prompts a run's policy is shown (T-GRPO's trajectory samples see the whole
    episode so far)."""
    return config.resolved().sampling.context


# ---- RL runs ----------------------------------------------------------------------------------------------------


def arm_config(config: TrainConfig, method: str, seed: int, run_dir: Path, warm_start: Path,
               variants: dict[str, dict[str, Any]] | None = None) -> TrainConfig:
    """The config of one RL run: `method` (an algorithm, or one of `variants`: an algorithm and `section.key`
    replacements) from the warm start, with its own seed and run directory."""
    variant = dict((variants or {}).get(method, {"algorithm": method}))
    algorithm = variant.pop("algorithm")
    if variant:
        data = config.to_dict()
        for key, value in variant.items():
            set_key(data, key, value)
        config = from_dict(TrainConfig, data)
    return dataclasses.replace(
        config, run_dir=str(run_dir), seed=seed, experiment={},
        model=dataclasses.replace(config.model, init=str(warm_start)),
        algo=dataclasses.replace(config.algo, algorithm=algorithm),
    )


def completed_rounds(config: TrainConfig) -> int:
    """Rounds the run in `config.run_dir` has done; an error when it started from another warm start than
    `config.model.init`'s latest checkpoint (the warm start was trained again since)."""
    checkpoint = latest_checkpoint(config.run_dir)
    if checkpoint is None:
        return 0
    state = read_state(checkpoint)
    started, warm = Path(state["config"]["model"]["init"]), checkpoint_weights(config.model.init).path
    if started.resolve() != warm.resolve():
        raise ValueError(f"{config.run_dir} was trained from {started}, and the warm start is now {warm}: delete "
                         f"{config.run_dir} to train it again from the new warm start")
    return int(state["round"])


def reset_peak_memory() -> None:
    """Start a new peak for `peak_memory`: Linux's resident-set high-water mark (VmHWM, reset by writing 5 to
    /proc/self/clear_refs) and torch's CUDA peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_memory() -> dict[str, float | None]:
    """`peak_rss_mb` (the process's resident peak since `reset_peak_memory`; None off Linux) and `peak_cuda_mb`
    (torch's allocated peak; None without CUDA)."""
    rss = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
    except OSError:
        pass
    cuda = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return {"peak_rss_mb": rss, "peak_cuda_mb": cuda}


class MeasuredTrainer(Trainer):
    """The trainer, with each round's row also holding the memory peak of its update (`peak_memory`)."""

    def update(self, samples: Sequence[Any]) -> dict[str, float | None]:
        reset_peak_memory()
        stats = super().update(samples)
        return {**stats, **peak_memory()}


def train_arm(config: TrainConfig, tasks: Sequence[Task], pool: Any, console: Console) -> tuple[str, bool]:
    """Train (or resume) one RL run to `budget.rounds`; what it did, and whether it was already done."""
    done = completed_rounds(config)
    if done >= config.budget.rounds:
        return f"{done} rounds already in {config.run_dir}", True
    trainer = MeasuredTrainer(config, resume=done > 0, tasks=tasks, console=console)
    try:
        rows = trainer.run(pool)
    finally:
        trainer.close()
    round_index = trainer.round
    del trainer
    gc.collect()  # the next run's memory peaks should not count this run's model
    evaluated = [r for r in rows if r.get("eval/success") is not None]
    final = f", held-out success {evaluated[-1]['eval/success']:.2f}" if evaluated else ""
    return f"rounds {done + 1}-{round_index}, {sum(r['episodes'] for r in rows)} episodes{final}", False
