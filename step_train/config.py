"""The training config: one TOML or YAML file with model, envs, algorithm, budget, optimizer and LoRA.

Sections map onto dataclasses (`[model]`, `[model.lora]`, `[sampling]`, `[env]`, `[budget]`, `[optim]`, `[algo]`,
`[algo.sampler]`, `[eval]`, `[sft]`, ...); unknown keys are errors that list the known ones. `override(config, ["algo.sampler.copies=4"])`
applies `key=value` pairs from the command line (values read as YAML scalars: `4`, `0.5`, `true`, `[1, 2]`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from step_envs.core import DEFAULT_SCREEN
from step_train.algos import AlgoConfig
from step_train.policy.model import ModelSettings
from step_train.policy.sampling import SamplingSettings


@dataclass(frozen=True)
class EnvSettings:
    """Which tasks, where the envs live and how many run at once."""

    suite: str = "widgets"
    """A suite name (`widgets`, `smoke`, `desktop-core`, `all`) or a path to task JSON files."""
    tasks: tuple[str, ...] = ()
    """Train on these task ids of the suite only (all when empty)."""
    provider: str = "local"
    num_envs: int = 4
    max_steps: int = 15
    action_space: str = "pyautogui"
    screen_size: tuple[int, int] = DEFAULT_SCREEN
    max_retries: int = 2
    batch_window: float = 0.0
    """Seconds the rollout waits, once one env waits for an action, for the others to be ready too, so the policy
    computes one larger batch (on a CPU a batch of 4 costs ~2x one); 0 (default): act for whoever is waiting at
    once. Worth it only where a reply costs much more than an env step (long replies, a large model)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    provider_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BudgetSettings:
    """How long to train: rounds of `tasks_per_round` (B) tasks x `algo.sampler.copies` (N) rollouts."""

    rounds: int = 100
    tasks_per_round: int = 8


@dataclass(frozen=True)
class OptimizerSettings:
    """AdamW on the adapters, the learning-rate schedule (per round) and how a round's samples are batched."""

    lr: float = 1e-5
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0
    schedule: str = "constant"
    """`constant`, `linear` (to 0 at the last round) or `cosine`, after `warmup_rounds` of linear warm-up."""
    warmup_rounds: int = 0
    epochs: int = 1
    """Passes over one round's samples."""
    minibatch_size: int = 16
    """Samples per optimizer step."""
    micro_batch_size: int = 4
    """Samples per forward pass; a minibatch accumulates gradients over ceil(minibatch / micro) passes."""
    generation_batch_size: int = 16
    """Prompts per generate call for augmentation candidates."""
    skip_zero_advantage: bool = True
    """Drop samples with advantage exactly 0 before minibatching when `algo.loss.kl_beta` is 0: their loss and
    gradient are exactly 0, so they are never forwarded and the token mean is over the other samples' tokens.
    False forwards them (the token mean then also counts their tokens)."""
    recompute_old_logprobs: bool | str = "auto"
    """Before the first epoch, recompute the old log-probs with the training forward pass (no grad, eval mode, the
    first epoch's micro-batches) instead of taking the rollout's: in bf16, `generate` and the training pass round
    differently, so `rho != 1` before any step. `auto`: on when the model is on cuda."""

    def __post_init__(self) -> None:
        if self.schedule not in ("constant", "linear", "cosine"):
            raise ValueError(f"unknown schedule {self.schedule!r}; known: constant, linear, cosine")
        if self.recompute_old_logprobs not in (True, False, "auto"):
            raise ValueError(f"unknown recompute_old_logprobs {self.recompute_old_logprobs!r}; known: auto, true, "
                             "false")
        if min(self.minibatch_size, self.micro_batch_size, self.epochs, self.generation_batch_size) < 1:
            raise ValueError("minibatch_size, micro_batch_size, epochs and generation_batch_size must be >= 1")


@dataclass(frozen=True)
class EvalSettings:
    """Held-out evaluation: greedy episodes on template instances that training never sees.

    A template instance is `<template>/<seed>`; the config splits every template's seeds into two disjoint
    half-open ranges: training tasks must have a seed in `train_seeds` (a training task outside it is an error),
    and evaluation runs each template of the evaluated tasks at every seed of `seeds`, one greedy episode each.
    So `eval/success` is measured on instances of the trained templates that no rollout has seen. Fixed
    (non-template) tasks have one instance only, which training may use: they are left out of the evaluation.
    """

    every: int = 0
    """Evaluate after every `every` rounds and after the last one; 0 turns the periodic evaluation off."""
    seeds: tuple[int, int] = (1000, 1004)
    """Held-out seeds `[start, stop)`: `stop - start` episodes per template."""
    train_seeds: tuple[int, int] = (0, 1000)
    """Seeds `[start, stop)` training tasks may have; must not overlap `seeds`."""
    suite: str = ""
    """Evaluate the templates of this suite (a name or path, as `env.suite`); empty: the training tasks'."""
    max_steps: int | None = None
    """Steps per evaluation episode; None: `env.max_steps`."""
    step_slack: int | None = None
    """Cap each evaluation episode at its task's solution length + `step_slack` steps (within `max_steps`): a
    greedy policy that repeats a wrong click stops there instead of running every step. None: no cap."""
    sampled: bool = False
    """Also run every evaluated instance once at the sampling temperature (what the rollouts do): RL first moves the
    sampled success, which greedy decoding can hide. Seeded apart from the rollouts, so it changes none of them."""
    train: bool = False
    """Also evaluate on the training tasks (each once; greedy, and sampled with `sampled`): what RL optimizes."""

    def __post_init__(self) -> None:
        if self.step_slack is not None and self.step_slack < 0:
            raise ValueError(f"eval.step_slack must be >= 0 (or unset for no cap), got {self.step_slack}")
        if self.every < 0:
            raise ValueError(f"eval.every must be >= 0 (0 turns evaluation off), got {self.every}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"eval.max_steps must be >= 1 (or unset for env.max_steps), got {self.max_steps}")
        for name, span in (("seeds", self.seeds), ("train_seeds", self.train_seeds)):
            if not (isinstance(span, tuple) and len(span) == 2 and all(type(v) is int for v in span)
                    and 0 <= span[0] < span[1]):
                raise ValueError(f"eval.{name} must be [start, stop] with 0 <= start < stop (seeds start .. stop-1), "
                                 f"got {span!r}")
        low, high = max(self.seeds[0], self.train_seeds[0]), min(self.seeds[1], self.train_seeds[1])
        if low < high:
            raise ValueError(
                f"eval.seeds [{self.seeds[0]}, {self.seeds[1]}) and eval.train_seeds [{self.train_seeds[0]}, "
                f"{self.train_seeds[1]}) overlap at seeds {low}..{high - 1}: those instances would be trained on "
                "and evaluated as held out; make the ranges disjoint"
            )


@dataclass(frozen=True)
class SFTSettings:
    """Supervised fine-tuning on demonstrations (`step-train sft`, `step_train.sft`): AdamW (with `optim`'s
    betas, weight decay and gradient clip) on the mean NLL of the demonstrated replies' tokens."""

    epochs: int = 3
    """Passes over the records, each in its own seeded order."""
    lr: float = 1e-4
    batch_size: int = 8
    """Records per optimizer step (the last batch of an epoch may hold fewer)."""
    micro_batch_size: int = 4
    """Records per forward pass; a batch accumulates gradients over ceil(batch / micro) passes."""
    schedule: str = "constant"
    """`constant`, `linear` (to 0 at the last step) or `cosine`, after `warmup_steps` of linear warm-up."""
    warmup_steps: int = 0
    full: bool = False
    """Train every weight of the model (vision tower included) instead of LoRA adapters; checkpoints then hold the
    whole model (`model/`) instead of `adapter/`."""
    near_miss: bool = False
    """Also train on the dataset's `near_miss/` records (episodes whose solution scored below 1.0)."""
    eval_every: int = 0
    """Held-out evaluation (the `eval` section's seeds) every `eval_every` optimizer steps and after the last; 0:
    none."""
    checkpoint_every: int = 100
    """A checkpoint every `checkpoint_every` optimizer steps and after the last."""

    def __post_init__(self) -> None:
        if self.schedule not in ("constant", "linear", "cosine"):
            raise ValueError(f"unknown sft.schedule {self.schedule!r}; known: constant, linear, cosine")
        if min(self.epochs, self.batch_size, self.micro_batch_size, self.checkpoint_every) < 1:
            raise ValueError("sft.epochs, sft.batch_size, sft.micro_batch_size and sft.checkpoint_every must be >= 1")
        if min(self.eval_every, self.warmup_steps) < 0:
            raise ValueError("sft.eval_every and sft.warmup_steps must be >= 0 (eval_every 0: no evaluation)")
        if self.lr <= 0:
            raise ValueError(f"sft.lr must be > 0, got {self.lr}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; saved with every checkpoint."""

    run_dir: str = "runs/step"
    seed: int = 0
    model: ModelSettings = field(default_factory=ModelSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    env: EnvSettings = field(default_factory=EnvSettings)
    budget: BudgetSettings = field(default_factory=BudgetSettings)
    optim: OptimizerSettings = field(default_factory=OptimizerSettings)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    eval: EvalSettings = field(default_factory=EvalSettings)
    sft: SFTSettings = field(default_factory=SFTSettings)
    checkpoint_every: int = 1
    keep_checkpoints: int = 3
    tensorboard: bool = True
    torch_threads: int | None = None
    """Threads torch computes with on the CPU (`torch.set_num_threads`). None: the cores this process may use minus
    `env.num_envs` (at least 1), since the envs' desktops share the cores: on 2 cores, 2 threads beside 2 envs ran a
    forward + backward 2.5-4x slower than 1 thread."""
    experiment: dict[str, Any] = field(default_factory=dict)
    """`[experiment]`: settings of a script that drives several runs from this file (`step_train.experiment`, for
    `benchmarks/reproduce_step.py`); training reads none of them."""

    def resolved(self) -> TrainConfig:
        """The config with what the algorithm decides for the policy (history, step or trajectory prompts) and
        the augmentation's coordinate tolerance measured on the env's screen."""
        context = "trajectory" if self.algo.settings.sample_level == "trajectory" else "step"
        sampling = dataclasses.replace(self.sampling, history=self.algo.history, context=context, seed=self.seed)
        augment = dataclasses.replace(self.algo.augment, screen_size=tuple(self.env.screen_size))
        env = self.env
        if sampling.shows.a11y:  # the envs must observe what the prompt shows, and only that
            env = dataclasses.replace(env, env_kwargs={"a11y_scope": sampling.a11y_scope, **env.env_kwargs,
                                                       "a11y_tree": True})
        return dataclasses.replace(self, sampling=sampling, env=env,
                                   algo=dataclasses.replace(self.algo, augment=augment))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def threads(self) -> int:
        """`torch_threads`, or its default (see there)."""
        if self.torch_threads is not None:
            if self.torch_threads < 1:
                raise ValueError(f"torch_threads must be >= 1 (or unset for the default), got {self.torch_threads}")
            return self.torch_threads
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cores = os.cpu_count() or 1
        return max(1, cores - self.env.num_envs)

    def apply_threads(self) -> int:
        """Set torch's CPU threads to `threads()`; returns the number."""
        import torch

        count = self.threads()
        torch.set_num_threads(count)
        return count


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
"""A number as YAML 1.1 may leave it a string: `5e-4` (it reads a float only with a dot, `5.0e-4`)."""


def _convert(value: Any, hint: Any, where: str) -> Any:
    """`value` (parsed TOML/YAML/JSON) as the annotated type: nested dataclasses, tuples, optionals."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a table, got {value!r}")
        return from_dict(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if value is None else _convert(value, options[0], where)
    if origin is tuple and isinstance(value, (list, tuple)):
        args = typing.get_args(hint)
        item = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        if item is None and len(value) != len(args):
            raise ValueError(f"{where}: expected {len(args)} values, got {value!r}")
        return tuple(_convert(v, item or args[i], where) for i, v in enumerate(value))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return float(value)  # `lr: 5e-4` in a YAML file or `--set optim.lr=5e-4`
    return value


def from_dict(cls: type, data: dict[str, Any], where: str = "config") -> Any:
    """Build dataclass `cls` from a mapping; unknown keys raise with the list of known ones."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**{k: _convert(v, hints[k], f"{where}.{k}") for k, v in data.items()})


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A `.toml`, `.yaml`/`.yml` or `.json` file as a dict."""
    path = Path(path)
    text = path.read_text()
    if path.suffix == ".toml":
        return tomllib.loads(text)
    if path.suffix in (".yaml", ".yml"):
        return yaml.safe_load(text) or {}
    if path.suffix == ".json":
        return json.loads(text)
    raise ValueError(f"config {path}: use a .toml, .yaml or .json file")


def set_key(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for key in keys[:-1]:
        data = data.setdefault(key, {})
        if not isinstance(data, dict):
            raise ValueError(f"override {dotted}: {key} is not a section")
    data[keys[-1]] = value


def override(data: dict[str, Any], pairs: list[str]) -> dict[str, Any]:
    """Apply `section.key=value` overrides to a config dict (values parsed as YAML scalars)."""
    data = json.loads(json.dumps(data))
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"override {pair!r}: expected section.key=value, e.g. algo.sampler.copies=4")
        set_key(data, key.strip(), yaml.safe_load(raw))
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a config file (or start from the defaults), apply overrides, validate."""
    data = read_config_file(path) if path is not None else {}
    return from_dict(TrainConfig, override(data, overrides or []))
