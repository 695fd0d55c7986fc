"""Supervised fine-tuning on demonstrations: `step-train sft CONFIG --demos DIR`.

**Examples.** Every record of the dataset (`step_train.sft_data`) is one example built by the policy's own prompt
builder, as a rollout step is: `VLMPolicy.encode_step(instruction, screenshot, last H env actions, ...)` (the
screenshot downscaled by `VLMPolicy.observe`, H = `algo.history`; the record's accessibility tree too when
`sampling.observation` shows it), with the record's env action written in the
model's dialect (`ActionSet.render`), tokenized, plus the end-of-turn token as the response `y`. The loss of an
optimizer step over a batch `B` is the mean negative log-likelihood of the response tokens:

    L(B) = - sum_{i in B} sum_t log pi(y_{i,t} | x_i, y_{i,<t}) / sum_{i in B} |y_i|

with `pi = softmax(logits / sampling.temperature)`, the distribution the policy samples from and the RL loss
recomputes (`VLMPolicy.response_logprobs`). Micro-batches accumulate gradients, each weighted by its share of the
batch's tokens, so the step optimizes L(B) whatever `sft.micro_batch_size` is.

**What trains.** LoRA adapters (`model.lora`), or with `sft.full` every weight of the model, vision tower
included (the LoRA wrappers stay frozen at zero). AdamW with `sft.lr` and `optim`'s betas, weight decay and
gradient clip; the learning rate follows `sft.schedule` per optimizer step.

**Order and resume.** Epoch `e` visits the records in an order shuffled by a generator seeded with (seed, "sft",
e); step `s` of the run is batch `s mod S` of epoch `s div S`, `S = ceil(records / sft.batch_size)`; torch's RNG
is seeded per step. A checkpoint after step `s` (`RUN_DIR/checkpoints/round-<s>`, the trainer's format; `s`
counts optimizer steps) holds the weights (`adapter/`, or `model/` with `sft.full`), optimizer, scheduler and
state, so `--resume` continues exactly as an uninterrupted run would, without repeating a step; the log rows of
steps after the checkpoint are dropped. Resuming with other demonstrations or another training config is an
error.

**Logs.** One row per optimizer step in `metrics.jsonl`, `metrics.csv` and TensorBoard (`step_train.runlog`;
`round` is the step): `loss` (L of the batch), `lr`, `grad_norm`, `samples`, `train_tokens`, `update_seconds`,
and, every `sft.eval_every` steps and after the last, the held-out `eval/success` (`step_train.eval`: greedy
episodes of the templates that RL on the same config evaluates, `eval.suite`'s or else `env.suite`'s / `env.tasks`',
at the seeds `eval.seeds` that demonstrations never use), so that `step-train eval` and the RL run that follows
score the same instances.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from step_envs.agents.a11y import tag_action
from step_envs.agents.prompt import recent
from step_envs.progress import progress as progress_display
from step_train.checkpoint import latest_checkpoint, load_training_state, read_state, write_checkpoint
from step_train.config import TrainConfig, from_dict
from step_train.eval import EvalResult, eval_source, evaluate, held_out_tasks
from step_train.policy import Encoded, VLMPolicy, turn_seed
from step_train.runlog import RunLog
from step_train.sft_data import Demos, DemoStep, read_demos
from step_train.tasks import make_pool
from step_train.trainer import lr_factor
from step_train.warmstart import ADAPTER_DIR, FULL_MODEL_DIR, save_full_model, with_init

RESUMABLE = ("eval_every", "checkpoint_every")
"""`sft` keys a resumed run may change: they decide what is logged and saved, not what is trained."""


class SFTTrainer:
    """Owns the policy, optimizer, demonstrations and logs of one SFT run directory."""

    def __init__(self, config: TrainConfig, demos: str | Path, *, resume: bool = False,
                 console: Console | None = None) -> None:
        self.console = console or Console()
        checkpoint = latest_checkpoint(config.run_dir)
        if resume and checkpoint is None:
            raise FileNotFoundError(f"no checkpoint under {Path(config.run_dir) / 'checkpoints'}; start without "
                                    "--resume")
        if not resume and checkpoint is not None:
            raise ValueError(f"{config.run_dir} already holds checkpoints (latest: {checkpoint.name}); continue "
                             "that run with --resume, or pick another --run-dir")
        config, init_adapter = with_init(config)
        self.config = config.resolved()
        self.config.apply_threads()
        self.settings = self.config.sft
        if self.settings.full and init_adapter is not None:
            raise ValueError(f"sft.full trains a whole model, and {config.model.init} holds LoRA adapters: start "
                             "full fine-tuning from a model directory or a full checkpoint (model/), or set "
                             "sft.full = false")
        self.demos: Demos = read_demos(demos, self.config)
        self.steps_per_epoch = math.ceil(len(self.demos) / self.settings.batch_size)
        self.total_steps = self.settings.epochs * self.steps_per_epoch
        state = read_state(checkpoint) if checkpoint is not None else None
        if state is not None:
            self._check_resume(state, checkpoint)
        self.policy = self._load_policy(checkpoint if state is not None else None, init_adapter)
        self._image_sizes: dict[tuple[int, int], tuple[int, int]] = {}
        self.replies = [self.reply_tokens(step) for step in self.demos.steps]
        optim = self.config.optim
        self.optimizer = torch.optim.AdamW(self.policy.trainable_parameters(), lr=self.settings.lr,
                                           betas=optim.betas, weight_decay=optim.weight_decay)
        total, schedule, warmup = self.total_steps, self.settings.schedule, self.settings.warmup_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer,
                                                           lambda s: lr_factor(s, total, schedule, warmup))
        self.step = 0
        if state is not None:
            load_training_state(checkpoint, self.optimizer, self.scheduler)
            self.step = int(state["round"])
            self.console.print(f"resumed from {checkpoint} after step {self.step}")
        self.eval_tasks = held_out_tasks(eval_source(self.config), self.config.eval) if self.settings.eval_every else []
        Path(self.config.run_dir).mkdir(parents=True, exist_ok=True)
        (Path(self.config.run_dir) / "config.json").write_text(json.dumps(self.config.to_dict(), indent=1,
                                                                          sort_keys=True))
        self.runlog = RunLog(self.config.run_dir, tensorboard=self.config.tensorboard, completed_rounds=self.step)
        self._orders: dict[int, list[int]] = {}

    def _load_policy(self, checkpoint: Path | None, init_adapter: Path | None) -> VLMPolicy:
        """The policy with what trains made trainable: the LoRA adapters (fresh, `init_adapter`'s, or the
        resumed checkpoint's), or with `sft.full` every other weight (from the resumed checkpoint's `model/`)."""
        model = self.config.model
        if checkpoint is not None and self.settings.full:
            model = dataclasses.replace(model, path=str(checkpoint / FULL_MODEL_DIR))
        torch.manual_seed(self.config.seed)  # LoRA initialization
        policy = VLMPolicy(model, self.config.sampling, adapter_dir=init_adapter)
        if self.settings.full:
            for name, parameter in policy.model.named_parameters():
                parameter.requires_grad_("lora_" not in name)
        elif checkpoint is not None:
            policy.load_adapter_weights(checkpoint / ADAPTER_DIR)
        return policy

    # ---- examples -----------------------------------------------------------------------------------------------

    def reply_tokens(self, step: DemoStep) -> list[int]:
        """The response of a record: its env action as the model's dialect writes it, tokenized, then the
        end-of-turn token. One the policy could not generate within `sampling.max_new_tokens` is an error."""
        env = self.config.env
        if step.image_size not in self._image_sizes:
            self._image_sizes[step.image_size] = self.policy.image_size(self.policy.observe(_blank(step.image_size)))
        image_size = self._image_sizes[step.image_size]
        text = self.policy.actions(env.action_space).render(step.action, tuple(env.screen_size), image_size)
        if self.config.sampling.a11y_tags and step.a11y_tree:  # a click on an element's centre names its tag
            text = tag_action(text, self.policy.tag_points(step.a11y_tree, env.action_space, tuple(env.screen_size),
                                                           image_size))
        tokens = self.policy.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.policy.eos_ids[0]]
        limit = self.config.sampling.max_new_tokens
        if len(tokens) > limit:
            raise ValueError(f"{step.where}: the reply {text!r} is {len(tokens)} tokens with the end of turn, more "
                             f"than sampling.max_new_tokens {limit}: the policy could never write it; raise "
                             "sampling.max_new_tokens")
        return tokens

    def encode(self, index: int) -> Encoded:
        """Record `index` as the policy's step prompt plus its response tokens."""
        step, env = self.demos.steps[index], self.config.env
        image = self.policy.observe(step.image())
        return self.policy.encode_step(step.instruction, image, recent(step.history, self.config.sampling.history),
                                       env.action_space, tuple(env.screen_size), response=self.replies[index],
                                       a11y_tree=step.a11y_tree)

    def batch(self, step: int) -> list[int]:
        """The record indices of optimizer step `step` (see the module docstring)."""
        epoch, position = divmod(step, self.steps_per_epoch)
        if epoch not in self._orders:
            order = list(range(len(self.demos)))
            random.Random(turn_seed(self.config.seed, "sft", epoch)).shuffle(order)
            self._orders = {epoch: order}
        size = self.settings.batch_size
        return self._orders[epoch][position * size : (position + 1) * size]

    # ---- the loop -----------------------------------------------------------------------------------------------

    def run(self, pool: Any | None = None, *, stop_after: int | None = None) -> list[dict[str, Any]]:
        """Train until `sft.epochs` are done (or `stop_after` more steps); returns this call's rows.

        The held-out evaluation runs on `pool` (left open), or on a pool started from the config at the first
        evaluation and closed at the end."""
        own_pool = None
        rows = []
        target = self.total_steps if stop_after is None else min(self.total_steps, self.step + stop_after)
        columns = [TextColumn("sft"), BarColumn(), MofNCompleteColumn(), TextColumn("steps  {task.fields[note]}"),
                   TimeElapsedColumn(), TimeRemainingColumn()]
        try:
            with progress_display(self.console, *columns, transient=True) as progress:
                bar = progress.add_task("sft", total=self.total_steps, completed=self.step, note="")
                while self.step < target:
                    row = self.train_step()
                    progress.update(bar, advance=1, note=f"epoch {row['epoch'] + 1}/{self.settings.epochs}  "
                                                         f"loss {row['loss']:.4f}")
                    if self._evaluates_after(self.step + 1):
                        if pool is None:
                            pool = own_pool = make_pool(self.config.env)
                        evaluation = self.evaluate_held_out(pool)
                        row.update(evaluation.row())
                        progress.console.print(f"step {self.step + 1}/{self.total_steps}  {evaluation.summary()}")
                    self.runlog.write(row)
                    rows.append(row)
                    self.step += 1
                    if self.step % self.settings.checkpoint_every == 0 or self.step == self.total_steps:
                        path = self.save_checkpoint()
                        progress.console.print(f"step {self.step}/{self.total_steps}  epoch {row['epoch'] + 1}  "
                                               f"loss {row['loss']:.4f}  lr {row['lr']:.2e}  checkpoint {path}")
        finally:
            if own_pool is not None:
                own_pool.close()
        return rows

    def close(self) -> None:
        self.runlog.close()

    def train_step(self) -> dict[str, Any]:
        """One optimizer step on the mean response-token NLL of batch `self.step` (see the module docstring)."""
        start = time.perf_counter()
        torch.manual_seed(turn_seed(self.config.seed, "sft-step", self.step))
        indices = self.batch(self.step)
        tokens = sum(len(self.replies[i]) for i in indices)
        self.optimizer.zero_grad(set_to_none=True)
        self.policy.model.train()
        nll = 0.0
        micro = self.settings.micro_batch_size
        for begin in range(0, len(indices), micro):
            logprobs, mask = self.policy.response_logprobs([self.encode(i) for i in indices[begin : begin + micro]])
            part = -(logprobs * mask).sum()
            (part / tokens).backward()
            nll += float(part.detach())
        params = self.policy.trainable_parameters()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, self.config.optim.grad_clip))
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.policy.model.eval()
        seconds = time.perf_counter() - start
        return {"round": self.step, "epoch": self.step // self.steps_per_epoch, "loss": nll / tokens, "lr": lr,
                "grad_norm": grad_norm, "samples": len(indices), "optimizer_steps": 1, "train_tokens": tokens,
                "update_seconds": seconds, "train_tokens_per_s": tokens / seconds}

    def _evaluates_after(self, done: int) -> bool:
        every = self.settings.eval_every
        return bool(every) and (done % every == 0 or done == self.total_steps)

    def evaluate_held_out(self, pool: Any) -> EvalResult:
        """Greedy episodes of the held-out instances (`eval` section) with the current weights."""
        settings = self.config.eval
        return evaluate(pool, self.policy, self.eval_tasks, max_steps=settings.max_steps or self.config.env.max_steps,
                        step_slack=settings.step_slack, console=self.console)

    # ---- checkpoints --------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "round": self.step,
            "kind": "sft",
            "epoch": self.step // self.steps_per_epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "demos": {"directory": str(self.demos.directory), "records": len(self.demos),
                      "fingerprint": self.demos.fingerprint},
            "config": self.config.to_dict(),
        }

    def save_checkpoint(self) -> Path:
        """The trainer's checkpoint layout after `self.step` steps, with `model/` instead of `adapter/` when the
        whole model trains."""
        save_weights = None
        if self.settings.full:
            base = self.config.model.path

            def save_weights(directory: Path) -> None:
                save_full_model(self.policy, directory / FULL_MODEL_DIR, base)

        return write_checkpoint(self.config.run_dir, self.step, policy=self.policy, optimizer=self.optimizer,
                                scheduler=self.scheduler, state=self.state_dict(), observations={},
                                keep=self.config.keep_checkpoints, save_weights=save_weights)

    def _check_resume(self, state: dict[str, Any], checkpoint: Path) -> None:
        """A resumed run trains what the checkpoint's run trained: the same records, model and training keys."""
        if state.get("kind") != "sft":
            raise ValueError(f"{checkpoint} was written by step-train train, not sft; resume it with step-train "
                             "train --resume, or start it from there with --init")
        saved = state.get("demos", {})
        if saved.get("fingerprint") != self.demos.fingerprint:
            raise ValueError(f"the demonstrations in {self.demos.directory} ({len(self.demos)} records) are not the "
                             f"ones {checkpoint} trained on ({saved.get('records')} records in "
                             f"{saved.get('directory')}); resume with those, or start a new --run-dir")
        differ = _training_keys(from_dict(TrainConfig, state["config"])).items() ^ _training_keys(self.config).items()
        if differ:
            keys = ", ".join(sorted({key for key, _ in differ}))
            raise ValueError(f"{checkpoint} was trained with other {keys}; resume with the run's own config "
                             f"({Path(self.config.run_dir) / 'config.json'}) or start a new --run-dir")


def _training_keys(config: TrainConfig) -> dict[str, str]:
    """What decides the weights a run trains to, as comparable strings."""
    sft = {key: value for key, value in dataclasses.asdict(config.sft).items() if key not in RESUMABLE}
    optim = config.optim
    keys = {"seed": config.seed, "model": config.model, "sampling": config.sampling, "sft": sft,
            "optim": (optim.betas, optim.weight_decay, optim.grad_clip), "env.action_space": config.env.action_space,
            "env.screen_size": config.env.screen_size}
    return {key: repr(value) for key, value in keys.items()}


def _blank(size: Sequence[int]) -> Any:
    from PIL import Image

    return Image.new("RGB", (int(size[0]), int(size[1])))
