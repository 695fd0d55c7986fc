"""The run loop that RL (`step_train.trainer.Trainer`) and SFT (`step_train.sft.SFTTrainer`) share.

A run trains round by round in its run directory: an RL round collects episodes and updates on them, an SFT round
is one optimizer step on one batch of demonstrations. `RunLoop.run` repeats

    train_round -> evaluate (every `eval_every` rounds and after the last) -> log row
    -> checkpoint (every `checkpoint_every` rounds and after the last)

until `total_rounds` rounds are done, under one progress bar. Both write the same files: `config.json`, one row
per round in `metrics.jsonl`, `metrics.csv` and TensorBoard (`step_train.runlog`; the row's `round` counts from
0) and `checkpoints/round-NNNNNN/` after N rounds (`step_train.checkpoint`). A resumed run continues after its
latest checkpoint: the optimizer, scheduler and round count come back here, the rest in the subclass, and the log
rows of rounds after the checkpoint are dropped.

A subclass's `__init__` calls `RunLoop.__init__` (the config as it trains, the checkpoint to resume), builds its
policy, then `_start_optimizer`, `_resume` when `self.resumed` is set, and `_open_run_dir`; it supplies
`train_round`, `state_dict`, `report` and the round counts.
"""

from __future__ import annotations

import json
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from step_envs.progress import progress as progress_display
from step_envs.tasks import Task
from step_train.checkpoint import latest_checkpoint, load_training_state, write_checkpoint
from step_train.config import TrainConfig
from step_train.eval import EvalResult, eval_source, evaluate, held_out_tasks, result_row
from step_train.runlog import RunLog
from step_train.tasks import make_pool
from step_train.warmstart import ADAPTER_DIR, with_init

log = logging.getLogger(__name__)


def lr_factor(round_index: int, total_rounds: int, schedule: str, warmup: int) -> float:
    """Linear warm-up over `warmup` rounds, then constant, linear decay to 0, or cosine decay to 0."""
    if warmup and round_index < warmup:
        return (round_index + 1) / warmup
    progress = (round_index - warmup) / max(1, total_rounds - warmup)
    if schedule == "linear":
        return max(0.0, 1.0 - progress)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return 1.0


class LazyPool:
    """The env pool of one `RunLoop.run`: the one it was given (left open), else one started the first time a round
    or an evaluation needs it (SFT steps need none) and closed when the run ends."""

    def __init__(self, start: Callable[[], Any], given: Any | None = None) -> None:
        self._start, self._pool, self._owned = start, given, False

    def get(self) -> Any:
        if self._pool is None:
            self._pool, self._owned = self._start(), True
        return self._pool

    def close(self) -> None:
        if self._owned:
            self._pool.close()


class RunLoop(ABC):
    """One run directory trained round by round (see the module docstring)."""

    label = "train"
    """The progress bar's name."""
    unit = "round"
    """What the messages call a round."""
    starts_over = True
    """A run started without `resume` where checkpoints already are starts over there; False refuses, asking for
    `--resume` or another `--run-dir`."""

    policy: Any
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    runlog: RunLog

    def __init__(self, config: TrainConfig, *, resume: bool, console: Console | None) -> None:
        self.console = console or Console()
        self.resumed = self._checkpoint_to_resume(config.run_dir, resume)
        """The checkpoint this run continues from, or None."""
        config, self.init_adapter = with_init(config)  # `model.init`: start from a checkpoint's weights
        self.config = config.resolved()
        self.config.apply_threads()
        self.round = 0
        """Rounds done: the index of the next one."""
        self.eval_tasks: list[Task] = []

    def _checkpoint_to_resume(self, run_dir: str, resume: bool) -> Path | None:
        checkpoint = latest_checkpoint(run_dir)
        if resume and checkpoint is None:
            raise FileNotFoundError(f"no checkpoint under {Path(run_dir) / 'checkpoints'}; start without --resume")
        if not resume and checkpoint is not None and not self.starts_over:
            raise ValueError(f"{run_dir} already holds checkpoints (latest: {checkpoint.name}); continue that run "
                             "with --resume, or pick another --run-dir")
        return checkpoint if resume else None

    # ---- what a run supplies ------------------------------------------------------------------------------------

    @property
    @abstractmethod
    def total_rounds(self) -> int:
        """The rounds of the whole run."""

    @property
    @abstractmethod
    def eval_every(self) -> int:
        """Evaluate after every `eval_every` rounds and after the last; 0: never."""

    @property
    @abstractmethod
    def checkpoint_every(self) -> int:
        """A checkpoint after every `checkpoint_every` rounds and after the last."""

    @abstractmethod
    def train_round(self, pool: LazyPool) -> dict[str, Any]:
        """Train round `self.round`; its log row (`round` = `self.round`)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """The checkpoint's `state.json`: `round`, `config` and what a resumed run needs besides the weights,
        optimizer and scheduler."""

    @abstractmethod
    def report(self, row: dict[str, Any], results: dict[str, EvalResult], checkpoint: Path | None) -> Iterator[str]:
        """The lines to print after a round: its row, its evaluations, its checkpoint."""

    def progress_note(self, row: dict[str, Any]) -> str:
        """What the progress bar shows after a round."""
        return ""

    # ---- setting up ---------------------------------------------------------------------------------------------

    def _held_out(self, training: Sequence[Task] | None = None) -> list[Task]:
        """The held-out instances the run is evaluated on (none when it never evaluates; `eval_source`)."""
        return held_out_tasks(eval_source(self.config, training), self.config.eval) if self.eval_every else []

    def _start_optimizer(self, lr: float, schedule: str, warmup: int) -> None:
        """AdamW on the policy's trainable weights with `optim`'s betas and weight decay; the learning rate follows
        `lr_factor` per round over `total_rounds`."""
        optim = self.config.optim
        self.optimizer = torch.optim.AdamW(self.policy.trainable_parameters(), lr=lr, betas=optim.betas,
                                           weight_decay=optim.weight_decay)
        total = self.total_rounds
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer,
                                                           lambda r: lr_factor(r, total, schedule, warmup))

    def _resume(self, state: dict[str, Any]) -> None:
        """The optimizer, scheduler and round count of `self.resumed` (whose `state.json` is `state`)."""
        assert self.resumed is not None
        load_training_state(self.resumed, self.optimizer, self.scheduler)
        self.round = int(state["round"])
        self.console.print(f"resumed from {self.resumed} after {self.unit} {self.round}")

    def _open_run_dir(self) -> None:
        """Write the run's `config.json` and open its log (dropping rows of rounds after the resumed checkpoint)."""
        run_dir = Path(self.config.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(self.config.to_dict(), indent=1, sort_keys=True))
        self.runlog = RunLog(run_dir, tensorboard=self.config.tensorboard, completed_rounds=self.round)

    # ---- the loop -----------------------------------------------------------------------------------------------

    def make_pool(self) -> Any:
        """An `EnvPool` of the envs the `[env]` section describes."""
        return make_pool(self.config.env)

    def run(self, pool: Any | None = None, *, stop_after: int | None = None) -> list[dict[str, Any]]:
        """Train until `total_rounds` rounds are done (or `stop_after` more rounds); returns this call's rows.

        A pool passed in is used and left open; otherwise one is started from the config when a round or an
        evaluation first needs it, and closed at the end.
        """
        target = self.total_rounds if stop_after is None else min(self.total_rounds, self.round + stop_after)
        envs = LazyPool(self.make_pool, pool)
        rows = []
        columns = [TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                   TextColumn(f"{self.unit}s  {{task.fields[note]}}"), TimeElapsedColumn(), TimeRemainingColumn()]
        try:
            with progress_display(self.console, *columns, transient=True) as progress:
                bar = progress.add_task(self.label, total=self.total_rounds, completed=self.round, note="")
                while self.round < target:
                    row = self.train_round(envs)
                    results = self.evaluate(envs.get()) if self._due(self.eval_every, self.round + 1) else {}
                    row.update(result_row(results))
                    self.runlog.write(row)
                    rows.append(row)
                    self.round += 1
                    checkpoint = self.save_checkpoint() if self._due(self.checkpoint_every, self.round) else None
                    progress.update(bar, advance=1, note=self.progress_note(row))
                    for line in self.report(row, results, checkpoint):
                        progress.console.print(line)
        finally:
            envs.close()
        return rows

    def _due(self, every: int, done: int) -> bool:
        """Whether something done every `every` rounds (never when 0) and after the last is due after `done`."""
        return bool(every) and (done % every == 0 or done == self.total_rounds)

    def close(self) -> None:
        self.runlog.close()

    # ---- evaluation ---------------------------------------------------------------------------------------------

    def evaluate_held_out(self, pool: Any) -> EvalResult:
        """Greedy episodes of the held-out instances (`eval` section) with the current weights."""
        settings = self.config.eval
        return evaluate(pool, self.policy, self.eval_tasks, max_steps=settings.max_steps or self.config.env.max_steps,
                        step_slack=settings.step_slack, console=self.console)

    def evaluate(self, pool: Any) -> dict[str, EvalResult]:
        """The evaluations after a round, by name (`step_train.eval.EVALUATIONS`): the greedy held-out one."""
        return {"heldout": self.evaluate_held_out(pool)}

    # ---- checkpoints --------------------------------------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        """The run after `self.round` rounds, laid out as `step_train.checkpoint` says."""
        observations = self.checkpoint_observations()
        path = write_checkpoint(self.config.run_dir, self.round, policy=self.policy, optimizer=self.optimizer,
                                scheduler=self.scheduler, state=self.state_dict(), observations=observations,
                                keep=self.config.keep_checkpoints, save_weights=self.save_weights)
        log.info("checkpoint %s", path)
        return path

    def checkpoint_observations(self) -> dict[str, str]:
        """The screenshots the checkpoint's state points to, ref -> content hash (`write_checkpoint`): none."""
        return {}

    def save_weights(self, directory: Path) -> None:
        """The trained weights into a checkpoint directory: the policy's LoRA adapters (`adapter/`)."""
        self.policy.save_adapter(directory / ADAPTER_DIR)
