"""An RL round: plan tasks -> rollouts on the pool -> record -> advantages -> samples -> updates.

One round (`Trainer.train_round`), each arrow one call:
`sampler.plan(tasks, record)` -> `collect(pool, policy, plan)` -> `record.update(episodes)` ->
`training_samples(...)` (+ `augmentation_samples(...)` for STEP) -> `update(samples)` (PPO-clip minibatches with
gradient accumulation). The run loop around it (`step_train.loop.RunLoop`, shared with SFT) then evaluates on
held-out instances every `eval.every` rounds, writes the round's log row and checkpoints.

Everything random is seeded from (config seed, round, ...): the task draw, the sampler's RNG (saved), each env's
generation (`VLMPolicy` seeds per episode key and step), minibatch shuffles and the augmentation's RNG (saved), so
`resume` continues a killed run exactly where an uninterrupted run would be. The held-out evaluation decodes
greedily and draws no random numbers, so it changes none of that.
"""

from __future__ import annotations

import random
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from step_envs.episodes import Episode, StepRecord
from step_envs.progress import progress as progress_display
from step_envs.tasks import Task
from step_train.algos import (
    AdaptiveSampler,
    StepPrompt,
    StepSample,
    SuccessBuffer,
    SuccessRecord,
    TrajectorySample,
    augmentation_samples,
    collate,
    minibatches,
    nonzero_advantage,
    policy_loss,
    training_samples,
)
from step_train.algos.batch import response_logprobs, with_old_logprobs
from step_train.algos.sampler import rng_state, set_rng_state
from step_train.checkpoint import observation_dir, read_observations, read_state
from step_train.config import TrainConfig, from_dict
from step_train.eval import EvalResult, check_training_tasks, evaluate_set
from step_train.loop import LazyPool, RunLoop
from step_train.policy import Trajectory, VLMPolicy, turn_seed
from step_train.policy.prompts import Encoded
from step_train.rollout import ObservationStore, RoundRollouts, collect
from step_train.runlog import record_histogram
from step_train.tasks import load_tasks

Sample = StepSample | TrajectorySample


def draw_round_tasks(task_ids: Sequence[str], count: int, seed: int, round_index: int) -> list[str]:
    """The B task ids of a round: a draw without replacement seeded by (seed, round) (all tasks when B >= their
    number). Rounds draw from the same set again, so a run revisits its tasks."""
    ids = sorted(task_ids)
    return random.Random(turn_seed(seed, "tasks", round_index)).sample(ids, min(count, len(ids)))


def copies_moved(drawn: Sequence[str], plan: Sequence[str], copies: int) -> int:
    """How many of the round's rollouts adaptive resampling gave to another task than the one drawn for their slot
    (`plan` has `copies` entries per drawn task, in order)."""
    return sum(1 for index, task_id in enumerate(plan) if task_id != drawn[index // copies])


class Trainer(RunLoop):
    """Owns the policy, optimizer, success record, sampler and logs of one RL run directory (`RunLoop`: the loop,
    evaluation, checkpoints and resume)."""

    def __init__(
        self,
        config: TrainConfig,
        *,
        resume: bool = False,
        tasks: Sequence[Task] | None = None,
        console: Console | None = None,
    ) -> None:
        super().__init__(config, resume=resume, console=console)
        self.algo = self.config.algo
        task_list = list(tasks) if tasks is not None else load_tasks(self.config)
        check_training_tasks(task_list, self.config.eval)
        self.tasks = {t.id: t for t in task_list}
        self.eval_tasks = self._held_out(task_list)
        torch.manual_seed(self.config.seed)  # LoRA initialization
        self.policy = VLMPolicy(self.config.model, self.config.sampling, adapter_dir=self.init_adapter)
        self.store = ObservationStore(self.policy.observe, observation_dir(self.config.run_dir))
        self.record = SuccessRecord(self.algo.alpha)
        self.sampler = AdaptiveSampler(self.algo.sampler_config, seed=self.config.seed)
        self.buffer = SuccessBuffer(self.algo.augment.buffer_size, self.algo.augment.success_threshold)
        self.augment_rng = random.Random(turn_seed(self.config.seed, "augment"))
        optim = self.config.optim
        self._start_optimizer(optim.lr, optim.schedule, optim.warmup_rounds)
        if self.resumed is not None:
            self._restore(self.resumed)
        self._open_run_dir()

    @property
    def total_rounds(self) -> int:
        return self.config.budget.rounds

    @property
    def eval_every(self) -> int:
        return self.config.eval.every

    @property
    def checkpoint_every(self) -> int:
        return self.config.checkpoint_every

    # ---- checkpoint ---------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "record": self.record.state_dict(),
            "sampler": self.sampler.state_dict(),
            "buffer": self.buffer.state_dict(),
            "augment_rng": rng_state(self.augment_rng),
            "config": self.config.to_dict(),
        }

    def checkpoint_observations(self) -> dict[str, str]:
        """The screenshots of the success buffer's steps, written to the run's store."""
        return self.store.save(self._buffer_refs())

    def _restore(self, checkpoint: Path) -> None:
        state = read_state(checkpoint)
        saved = from_dict(TrainConfig, state["config"])
        if saved.model.path != self.config.model.path or saved.algo != self.algo:
            raise ValueError(
                f"{checkpoint} was written with another model or algorithm config; resume with the run's own "
                f"config ({Path(self.config.run_dir) / 'config.json'})"
            )
        self.policy.load_adapter_weights(checkpoint / "adapter")
        self.record.load_state_dict(state["record"])
        self.sampler.load_state_dict(state["sampler"])
        self.buffer.load_state_dict(state["buffer"])
        set_rng_state(self.augment_rng, state["augment_rng"])
        self.store.load(read_observations(checkpoint))
        self._resume(state)

    def _buffer_refs(self) -> list[str]:
        episodes = self.buffer.state_dict()["episodes"].values()
        return [step["observation_ref"] for items in episodes for e in items for step in e["steps"]]

    # ---- the loop -----------------------------------------------------------------------------------------------

    def evaluate(self, pool: Any) -> dict[str, EvalResult]:
        """The evaluations `eval` asks for after this round (`step_train.eval.evaluate_set`): held-out greedy, and
        with `eval.sampled` / `eval.train` sampled and on the training tasks. Sampled ones are seeded by the
        run's seed and round, apart from the rollouts."""
        settings = self.config.eval
        return evaluate_set(pool, self.policy, self.eval_tasks, sorted(self.tasks.values(), key=lambda t: t.id),
                            settings, settings.max_steps or self.config.env.max_steps,
                            scope=f"eval:{self.config.seed}:{self.round}", console=self.console)

    def round_tasks(self, round_index: int) -> list[str]:
        """The B task ids of a round (`draw_round_tasks`)."""
        return draw_round_tasks(self.tasks, self.config.budget.tasks_per_round, self.config.seed, round_index)

    def train_round(self, pool: LazyPool) -> dict[str, Any]:
        start = time.perf_counter()
        torch.manual_seed(turn_seed(self.config.seed, "torch", self.round))
        self.policy.round = self.round
        drawn = self.round_tasks(self.round)
        plan = self.sampler.plan(drawn, self.record)
        rollouts = self._collect(pool.get(), plan)
        episodes = rollouts.episodes
        round_means = self.record.update(episodes)
        samples: list[Sample] = list(training_samples(episodes, self.record, self.algo))
        augment: list[StepSample] = []
        if self.algo.settings.augmentation:
            augment = augmentation_samples(episodes, self.record, self.buffer, self.candidates, self.algo.augment,
                                           self.augment_rng, self.algo.history)
        update_start = time.perf_counter()
        stats = self.update(samples + augment)
        update_seconds = time.perf_counter() - update_start
        lr = self.optimizer.param_groups[0]["lr"]
        with warnings.catch_warnings():  # the schedule is per round; a round without samples steps it too
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
            self.scheduler.step()
        self.store.retain(Episode.from_dict(e) for items in self.buffer.state_dict()["episodes"].values()
                          for e in items)
        row = self._row(plan, rollouts, round_means, samples, augment, stats, lr, update_seconds,
                        time.perf_counter() - start)
        row["copies_moved"] = copies_moved(drawn, plan, self.algo.sampler.copies)
        return row

    def _collect(self, pool: Any, plan: list[str]) -> RoundRollouts:
        requests = [self.tasks[task_id] for task_id in plan]
        self.store.scope = f"round-{self.round:06d}/"
        columns = [TextColumn(f"round {self.round + 1}/{self.config.budget.rounds}"), BarColumn(),
                   MofNCompleteColumn(), TextColumn("episodes  success {task.fields[success]}"), TimeElapsedColumn()]
        scores: list[float] = []
        with progress_display(self.console, *columns, transient=True) as progress:
            bar = progress.add_task(f"round {self.round + 1}/{self.config.budget.rounds} rollouts",
                                    total=len(requests), success="-")

            def on_episode(episode: Episode) -> None:
                if episode.valid:
                    scores.append(float(episode.score))  # type: ignore[arg-type]
                shown = f"{sum(scores) / len(scores):.2f}" if scores else "-"
                progress.update(bar, advance=1, success=shown)

            return collect(pool, self.policy, requests, self.store, max_steps=self.config.env.max_steps,
                           on_episode=on_episode)

    # ---- augmentation candidates --------------------------------------------------------------------------------

    def candidates(self, prompts: Sequence[StepPrompt], group: int) -> list[list[StepRecord]]:
        """STEP's augmentation policy: `group` sampled actions at each prompt, from the current policy."""
        env = self.config.env
        encoded = [self._encode_step(p) for p in prompts]
        jobs = [(i, g) for i in range(len(prompts)) for g in range(group)]
        out: list[list[StepRecord]] = [[] for _ in prompts]
        size = self.config.optim.generation_batch_size
        for begin in range(0, len(jobs), size):
            chunk = jobs[begin : begin + size]
            seeds = [turn_seed(self.config.seed, "candidate", self.round, i, g) for i, g in chunk]
            for (i, _), generation in zip(chunk, self.policy.generate([encoded[i] for i, _ in chunk], seeds),
                                          strict=True):
                parsed = self.policy.parse(generation.text, env.action_space, tuple(env.screen_size),
                                           self.store[prompts[i].observation_ref], prompts[i].a11y_tree)
                out[i].append(StepRecord(action=parsed.action, observation_ref=prompts[i].observation_ref,
                                         action_error=parsed.error, logprobs=generation.logprobs,
                                         token_ids=generation.token_ids))
        return out

    # ---- updates ------------------------------------------------------------------------------------------------

    def _encode_step(self, prompt: StepPrompt, response: Sequence[int] | None = None) -> Encoded:
        env = self.config.env
        return self.policy.encode_step(prompt.instruction, self.store[prompt.observation_ref], prompt.history,
                                       env.action_space, tuple(env.screen_size), response=response,
                                       a11y_tree=prompt.a11y_tree)

    def encode_sample(self, sample: Sample) -> Encoded | list[Encoded]:
        """The sample's prompt and response tokens, built exactly as the rollout built them (a trajectory under
        `sampling.max_prompt_tokens`: one sequence per window, `VLMPolicy.trajectory_windows`)."""
        if sample.token_ids is None or any(t is None for t in _token_lists(sample)):
            raise ValueError(f"sample of task {sample.task_id!r} has no token ids; the policy records them")
        if isinstance(sample, StepSample):
            return self._encode_step(sample.prompt, sample.token_ids)
        env = self.config.env
        images = [self.store[ref] for ref in sample.observation_refs]
        trajectory = Trajectory(sample.instruction, images, sample.token_ids,  # type: ignore[arg-type]
                                env.action_space, tuple(env.screen_size))
        return self.policy.trajectory_windows(trajectory)

    def _units(self, samples: Sequence[Sample]) -> int:
        """What the loss averages over: response tokens (token-mean) or sequences with tokens."""
        lengths = [len(response_logprobs(s)) for s in samples]
        if self.algo.loss.aggregation == "token-mean":
            return sum(lengths)
        return sum(1 for n in lengths if n)

    def update(self, samples: Sequence[Sample]) -> dict[str, float | None]:
        """PPO-clip over shuffled minibatches; each minibatch is one optimizer step accumulated over micro-batches.

        Micro-batch losses are weighted by their share of the minibatch's tokens (or sequences), so the step
        optimizes the minibatch's token mean whatever the micro-batch size. Zero-advantage samples are dropped
        first (`optim.skip_zero_advantage`, without a KL term; see `nonzero_advantage`): a round where every
        advantage is 0 does no forward pass and no optimizer step. With `optim.recompute_old_logprobs`, the old
        log-probs come from the training forward pass (`_recompute_old_logprobs`).
        """
        optim = self.config.optim
        skip = optim.skip_zero_advantage and self.algo.loss.kl_beta == 0
        trained = nonzero_advantage(samples) if skip else list(samples)
        trained, drift = self._recompute_old_logprobs(trained)
        totals: Counter[str] = Counter()
        steps = 0
        params = self.policy.trainable_parameters()
        self.policy.model.train()
        for epoch in range(optim.epochs):
            seed = turn_seed(self.config.seed, "minibatch", self.round, epoch)
            for minibatch in minibatches(trained, optim.minibatch_size, seed):
                units = self._units(minibatch)
                if units == 0:
                    continue
                self.optimizer.zero_grad(set_to_none=True)
                for begin in range(0, len(minibatch), optim.micro_batch_size):
                    part = minibatch[begin : begin + optim.micro_batch_size]
                    share = self._units(part) / units
                    if share:
                        self._accumulate(part, share, totals)
                grad_norm = torch.nn.utils.clip_grad_norm_(params, optim.grad_clip)
                self.optimizer.step()
                totals["grad_norm"] += float(grad_norm)
                steps += 1
        self.policy.model.eval()
        tokens = totals["tokens"]
        out: dict[str, float | None] = {"optimizer_steps": steps, "train_tokens": int(tokens),
                                        "skipped_samples": len(samples) - len(trained), "logprob_drift": drift}
        for key in ("loss", "pg_loss", "grad_norm"):
            out[key] = totals[key] / steps if steps else None
        for key in ("clip_fraction", "approx_kl", "entropy", "kl_ref"):
            out[key] = totals[key] / tokens if tokens and key in totals else None
        return out

    def _recompute_old_logprobs(self, samples: list[Sample]) -> tuple[list[Sample], float | None]:
        """The samples with old log-probs from the training forward pass, and `logprob_drift`, the mean
        `|logp_recomputed - logp_rollout|` over their tokens (None when `optim.recompute_old_logprobs` is off).

        The pass runs without gradients in eval mode over the first epoch's minibatches and micro-batches, so the
        first optimizer step sees `rho = exp(logp - logp_old) = 1` exactly: in bf16 the rollout's log-probs (from
        `generate`, one token at a time with a KV cache) differ from it by rounding, which the clip would treat as
        policy change. The rollout's log-probs stay on the episodes; only the loss uses these.
        """
        setting = self.config.optim.recompute_old_logprobs
        if not (self.policy.device.type == "cuda" if setting == "auto" else setting) or not samples:
            return samples, None
        optim = self.config.optim
        seed = turn_seed(self.config.seed, "minibatch", self.round, 0)
        recomputed: dict[int, list[float]] = {}
        self.policy.model.eval()
        with torch.no_grad():
            for minibatch in minibatches(list(enumerate(samples)), optim.minibatch_size, seed):
                for begin in range(0, len(minibatch), optim.micro_batch_size):
                    part = minibatch[begin : begin + optim.micro_batch_size]
                    if not self._units([s for _, s in part]):
                        continue
                    logprobs, mask = self.policy.response_logprobs([self.encode_sample(s) for _, s in part])
                    for row, (index, _) in enumerate(part):
                        recomputed[index] = logprobs[row][mask[row] > 0].tolist()
        if not recomputed:
            return samples, None
        stored = torch.tensor([lp for i in recomputed for lp in response_logprobs(samples[i])])
        drift = float((torch.tensor([lp for values in recomputed.values() for lp in values]) - stored).abs().mean())
        return [with_old_logprobs(s, recomputed[i]) if i in recomputed else s for i, s in enumerate(samples)], drift

    def _accumulate(self, part: Sequence[Sample], share: float, totals: Counter[str]) -> None:
        batch = collate(part)
        encodings = [self.encode_sample(s) for s in part]
        logprobs, mask, entropy = self.policy.response_logprobs(encodings, entropy=True)
        if mask.shape != batch.mask.shape:
            raise ValueError(f"response tokens {tuple(mask.shape)} and old log-probs {tuple(batch.mask.shape)} differ")
        device = logprobs.device
        ref = None
        if self.algo.loss.kl_beta > 0:
            with torch.no_grad(), self.policy.reference():
                ref = self.policy.response_logprobs(encodings)[0]
        loss, stats = policy_loss(logprobs, batch.old_logprobs.to(device), batch.advantages.to(device),
                                  batch.mask.to(device), self.algo.loss, ref_logprobs=ref,
                                  weights=batch.weights.to(device), entropy=entropy)
        (loss * share).backward()
        tokens = float(batch.mask.sum())
        totals["loss"] += float(loss.detach()) * share
        totals["pg_loss"] += stats.pg_loss * share
        totals["tokens"] += tokens
        totals["clip_fraction"] += stats.clip_fraction * tokens
        totals["approx_kl"] += stats.approx_kl * tokens
        if stats.entropy is not None:
            totals["entropy"] += stats.entropy * tokens
        if stats.kl_ref is not None:
            totals["kl_ref"] += stats.kl_ref * tokens

    # ---- logs ---------------------------------------------------------------------------------------------------

    def _row(
        self,
        plan: list[str],
        rollouts: RoundRollouts,
        round_means: dict[str, float],
        samples: list[Sample],
        augment: list[StepSample],
        stats: dict[str, float | None],
        lr: float,
        update_seconds: float,
        round_seconds: float,
    ) -> dict[str, Any]:
        valid = [e for e in rollouts.episodes if e.valid]
        scores = [float(e.score) for e in valid]  # type: ignore[arg-type]
        train_tokens = stats.get("train_tokens") or 0
        return {
            "round": self.round,
            "success_rate": sum(scores) / len(scores) if scores else None,
            "episodes": len(rollouts.episodes),
            "valid_episodes": len(valid),
            "env_errors": rollouts.env_errors,
            "retries": rollouts.retries,
            "samples": len(samples),
            "augment_samples": len(augment),
            **stats,
            "lr": lr,
            "generated_tokens": rollouts.generated_tokens,
            "prompts_reused": rollouts.prompts_reused,
            "rollout_tokens_per_s": rollouts.generated_tokens / rollouts.model_seconds if rollouts.model_seconds else None,
            "train_tokens_per_s": train_tokens / update_seconds if update_seconds and train_tokens else None,
            "env_seconds": rollouts.env_seconds,
            "model_seconds": rollouts.model_seconds,
            "update_seconds": update_seconds,
            "round_seconds": round_seconds,
            "success_per_task": round_means,
            "rollouts_per_task": dict(sorted(Counter(plan).items())),
            "record": self.record.rates,
            "record_histogram": record_histogram(self.record.rates),
        }

    def progress_note(self, row: dict[str, Any]) -> str:
        return f"success {_fmt(row['success_rate'], '.2f')}"

    def report(self, row: dict[str, Any], results: dict[str, EvalResult], checkpoint: Path | None) -> Iterator[str]:
        """The round's row in one line, then one line per evaluation."""
        yield (f"round {row['round'] + 1}/{self.total_rounds}  success {_fmt(row['success_rate'], '.2f')}  "
               f"episodes {row['valid_episodes']}/{row['episodes']}  "
               f"samples {row['samples']}+{row['augment_samples']}  moved {row.get('copies_moved', 0)}  "
               f"loss {_fmt(row['loss'], '.4f')}  clip {_fmt(row['clip_fraction'])}  "
               f"kl {_fmt(row['approx_kl'], '.4f')}  env {row['env_seconds']:.1f}s  model {row['model_seconds']:.1f}s  "
               f"update {row['update_seconds']:.1f}s")
        for name, result in results.items():
            yield f"{name:<15} {result.summary()}"


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _token_lists(sample: Sample) -> tuple:
    return (sample.token_ids,) if isinstance(sample, StepSample) else sample.token_ids  # type: ignore[return-value]

