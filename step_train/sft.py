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
is seeded per step. SFT runs in RL's run loop (`step_train.loop.RunLoop`), a round being one optimizer step: a
checkpoint after step `s` (`RUN_DIR/checkpoints/round-<s>`, the RL runs' layout; `s` counts optimizer steps)
holds the weights (`adapter/`, or `model/` with `sft.full`), optimizer, scheduler and state, so `--resume`
continues exactly as an uninterrupted run would, without repeating a step; the log rows of steps after the
checkpoint are dropped. Resuming with other demonstrations or another training config is an error.

**Logs.** One row per optimizer step in `metrics.jsonl`, `metrics.csv` and TensorBoard (`step_train.runlog`;
`round` is the step): `loss` (L of the batch), `lr`, `grad_norm`, `samples`, `train_tokens`, `update_seconds`,
and, every `sft.eval_every` steps and after the last, the held-out `eval/success` (`step_train.eval`: greedy
episodes of the templates that RL on the same config evaluates, `eval.suite`'s or else `env.suite`'s / `env.tasks`',
at the seeds `eval.seeds` that demonstrations never use), so that `step-train eval` and the RL run that follows
score the same instances.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from step_envs.agents.a11y import tag_action
from step_envs.agents.prompt import recent
from step_train.checkpoint import read_state
from step_train.config import TrainConfig, from_dict
from step_train.eval import EvalResult
from step_train.loop import LazyPool, RunLoop
from step_train.policy import Encoded, VLMPolicy, turn_seed
from step_train.sft_data import Demos, DemoStep, read_demos
from step_train.warmstart import ADAPTER_DIR, FULL_MODEL_DIR, save_full_model

RESUMABLE = ("eval_every", "checkpoint_every")
"""`sft` keys a resumed run may change: they decide what is logged and saved, not what is trained."""


class SFTTrainer(RunLoop):
    """Owns the policy, optimizer, demonstrations and logs of one SFT run directory (`RunLoop`: the loop, held-out
    evaluation, checkpoints and resume; a round is one optimizer step)."""

    label = "sft"
    unit = "step"
    starts_over = False

    def __init__(self, config: TrainConfig, demos: str | Path, *, resume: bool = False,
                 console: Console | None = None) -> None:
        super().__init__(config, resume=resume, console=console)
        self.settings = self.config.sft
        if self.settings.full and self.init_adapter is not None:
            raise ValueError(f"sft.full trains a whole model, and {config.model.init} holds LoRA adapters: start "
                             "full fine-tuning from a model directory or a full checkpoint (model/), or set "
                             "sft.full = false")
        self.demos: Demos = read_demos(demos, self.config)
        self.steps_per_epoch = math.ceil(len(self.demos) / self.settings.batch_size)
        state = read_state(self.resumed) if self.resumed is not None else None
        if state is not None:
            self._check_resume(state)
        self.policy = self._load_policy()
        self._image_sizes: dict[tuple[int, int], tuple[int, int]] = {}
        self.replies = [self.reply_tokens(step) for step in self.demos.steps]
        self._start_optimizer(self.settings.lr, self.settings.schedule, self.settings.warmup_steps)
        if state is not None:
            self._resume(state)
        self.eval_tasks = self._held_out()
        self._open_run_dir()
        self._orders: dict[int, list[int]] = {}

    @property
    def total_rounds(self) -> int:
        """The optimizer steps of the run: `sft.epochs` x steps per epoch."""
        return self.settings.epochs * self.steps_per_epoch

    @property
    def eval_every(self) -> int:
        return self.settings.eval_every

    @property
    def checkpoint_every(self) -> int:
        return self.settings.checkpoint_every

    def _load_policy(self) -> VLMPolicy:
        """The policy with what trains made trainable: the LoRA adapters (fresh, `model.init`'s, or the resumed
        checkpoint's), or with `sft.full` every other weight (from the resumed checkpoint's `model/`)."""
        model = self.config.model
        if self.resumed is not None and self.settings.full:
            model = dataclasses.replace(model, path=str(self.resumed / FULL_MODEL_DIR))
        torch.manual_seed(self.config.seed)  # LoRA initialization
        policy = VLMPolicy(model, self.config.sampling, adapter_dir=self.init_adapter)
        if self.settings.full:
            for name, parameter in policy.model.named_parameters():
                parameter.requires_grad_("lora_" not in name)
        elif self.resumed is not None:
            policy.load_adapter_weights(self.resumed / ADAPTER_DIR)
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

    def train_round(self, pool: LazyPool) -> dict[str, Any]:
        """One optimizer step on the mean response-token NLL of batch `self.round` (see the module docstring); the
        envs are not needed."""
        start = time.perf_counter()
        step = self.round
        torch.manual_seed(turn_seed(self.config.seed, "sft-step", step))
        indices = self.batch(step)
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
        return {"round": step, "epoch": step // self.steps_per_epoch, "loss": nll / tokens, "lr": lr,
                "grad_norm": grad_norm, "samples": len(indices), "optimizer_steps": 1, "train_tokens": tokens,
                "update_seconds": seconds, "train_tokens_per_s": tokens / seconds}

    def progress_note(self, row: dict[str, Any]) -> str:
        return f"epoch {row['epoch'] + 1}/{self.settings.epochs}  loss {row['loss']:.4f}"

    def report(self, row: dict[str, Any], results: dict[str, EvalResult], checkpoint: Path | None) -> Iterator[str]:
        """The step's evaluation, and its loss and learning rate when it was checkpointed."""
        where = f"step {self.round}/{self.total_rounds}"
        for result in results.values():
            yield f"{where}  {result.summary()}"
        if checkpoint is not None:
            yield (f"{where}  epoch {row['epoch'] + 1}  loss {row['loss']:.4f}  lr {row['lr']:.2e}  "
                   f"checkpoint {checkpoint}")

    # ---- checkpoints --------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "kind": "sft",
            "epoch": self.round // self.steps_per_epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "demos": {"directory": str(self.demos.directory), "records": len(self.demos),
                      "fingerprint": self.demos.fingerprint},
            "config": self.config.to_dict(),
        }

    def save_weights(self, directory: Path) -> None:
        """The adapters (`adapter/`), or with `sft.full` the whole model (`model/`)."""
        if self.settings.full:
            save_full_model(self.policy, directory / FULL_MODEL_DIR, self.config.model.path)
        else:
            super().save_weights(directory)

    def _check_resume(self, state: dict[str, Any]) -> None:
        """A resumed run trains what the checkpoint's run trained: the same records, model and training keys."""
        checkpoint = self.resumed
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
