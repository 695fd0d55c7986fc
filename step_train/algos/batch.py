"""Minibatch tensors: padded old log-probs, response mask, advantages and weights of a list of samples."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from step_train.algos.samples import StepSample, TrajectorySample


@dataclass(frozen=True)
class ResponseBatch:
    """Right-padded `[B, T]` old log-probs with their mask, and `[B]` advantages and weights."""

    old_logprobs: torch.Tensor
    mask: torch.Tensor
    advantages: torch.Tensor
    weights: torch.Tensor


def response_logprobs(sample: StepSample | TrajectorySample) -> list[float]:
    """The old log-probs of the sample's response tokens; a trajectory's are its steps' in order."""
    per_step = (sample.old_logprobs,) if isinstance(sample, StepSample) else sample.old_logprobs
    if any(lp is None for lp in per_step):
        raise ValueError(
            f"sample of task {sample.task_id!r} has no old log-probs; record them at rollout time (StepRecord.logprobs)"
        )
    return [lp for step in per_step for lp in step]  # type: ignore[union-attr]


def with_old_logprobs(
    sample: StepSample | TrajectorySample, logprobs: Sequence[float]
) -> StepSample | TrajectorySample:
    """The sample with `logprobs` (one per response token, in `response_logprobs` order) as its old log-probs; a
    trajectory's are cut back into its steps by their lengths."""
    if len(logprobs) != len(response_logprobs(sample)):
        raise ValueError(f"sample of task {sample.task_id!r} has {len(response_logprobs(sample))} response tokens, "
                         f"got {len(logprobs)} log-probs")
    values = tuple(float(lp) for lp in logprobs)
    if isinstance(sample, StepSample):
        return dataclasses.replace(sample, old_logprobs=values)
    steps, begin = [], 0
    for step in sample.old_logprobs:
        steps.append(values[begin : begin + len(step)])  # type: ignore[arg-type]
        begin += len(step)  # type: ignore[arg-type]
    return dataclasses.replace(sample, old_logprobs=tuple(steps))


def collate(samples: Sequence[StepSample | TrajectorySample]) -> ResponseBatch:
    """Stack a minibatch into tensors (float32), padding responses on the right with mask 0."""
    rows = [response_logprobs(s) for s in samples]
    width = max((len(r) for r in rows), default=0)
    old = torch.zeros(len(rows), width)
    mask = torch.zeros(len(rows), width)
    for i, row in enumerate(rows):
        old[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1.0
    advantages = torch.tensor([s.advantage for s in samples], dtype=torch.float32)
    weights = torch.tensor([s.weight for s in samples], dtype=torch.float32)
    return ResponseBatch(old, mask, advantages, weights)
