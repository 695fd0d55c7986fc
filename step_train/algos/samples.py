"""Training samples: episodes with advantages -> single-step samples (or whole-trajectory samples), and minibatches."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from step_envs.episodes import Episode, StepRecord
from step_train.algos.advantages import EpisodeAdvantage

Sample = TypeVar("Sample")


@dataclass(frozen=True)
class StepPrompt:
    """What the policy sees at one step: the instruction, the observation and the last `H` actions as text."""

    instruction: str
    observation_ref: str
    history: tuple[str, ...] = ()
    a11y_tree: str | None = None
    """The accessibility tree (XML) at the step, when the policy's observation shows it."""


@dataclass(frozen=True)
class StepSample:
    """One step as a training sample: prompt, the action text produced there, its old log-probs, advantage, weight."""

    task_id: str
    prompt: StepPrompt
    action: str
    old_logprobs: tuple[float, ...] | None
    token_ids: tuple[int, ...] | None
    advantage: float
    weight: float = 1.0
    source: str = "rollout"
    """`rollout` for steps of collected episodes, `augment` for step-level GRPO candidates."""


@dataclass(frozen=True)
class TrajectorySample:
    """A whole trajectory as one sample (T-GRPO `sample_level="trajectory"`): every observation and action."""

    task_id: str
    instruction: str
    observation_refs: tuple[str, ...]
    actions: tuple[str, ...]
    old_logprobs: tuple[tuple[float, ...] | None, ...]
    token_ids: tuple[tuple[int, ...] | None, ...]
    advantage: float
    weight: float = 1.0


def _optional_tuple(values: list | None) -> tuple | None:
    return None if values is None else tuple(values)


def step_prompt(episode: Episode, t: int, history: int) -> StepPrompt:
    """The prompt of step `t`: instruction, observation at `t`, actions `t - H .. t - 1`."""
    previous = episode.steps[max(0, t - history) : t]
    step = episode.steps[t]
    return StepPrompt(episode.instruction, step.observation_ref, tuple(s.action for s in previous), step.a11y_tree)


def step_sample(
    task_id: str,
    prompt: StepPrompt,
    step: StepRecord,
    advantage: float,
    weight: float = 1.0,
    source: str = "rollout",
) -> StepSample:
    return StepSample(
        task_id=task_id,
        prompt=prompt,
        action=step.action,
        old_logprobs=_optional_tuple(step.logprobs),
        token_ids=_optional_tuple(step.token_ids),
        advantage=advantage,
        weight=weight,
        source=source,
    )


def step_samples(advantages: Sequence[EpisodeAdvantage], history: int = 3) -> list[StepSample]:
    """Every step `t` of every kept episode becomes one sample carrying that step's advantage."""
    samples: list[StepSample] = []
    for item in advantages:
        episode = item.episode
        if not episode.valid:
            continue
        for t, (step, advantage) in enumerate(zip(episode.steps, item.advantages, strict=True)):
            samples.append(step_sample(episode.task_id, step_prompt(episode, t, history), step, advantage))
    return samples


def trajectory_samples(advantages: Sequence[EpisodeAdvantage]) -> list[TrajectorySample]:
    """Every kept episode with at least one step becomes one sample with its trajectory advantage."""
    samples: list[TrajectorySample] = []
    for item in advantages:
        episode = item.episode
        if not episode.valid or not episode.steps:
            continue
        samples.append(
            TrajectorySample(
                task_id=episode.task_id,
                instruction=episode.instruction,
                observation_refs=tuple(s.observation_ref for s in episode.steps),
                actions=tuple(s.action for s in episode.steps),
                old_logprobs=tuple(_optional_tuple(s.logprobs) for s in episode.steps),
                token_ids=tuple(_optional_tuple(s.token_ids) for s in episode.steps),
                advantage=item.trajectory_advantage,
            )
        )
    return samples


def nonzero_advantage(samples: Sequence[StepSample | TrajectorySample]) -> list[StepSample | TrajectorySample]:
    """The samples whose advantage is not exactly 0, in order.

    With `A = 0` the PPO-clip term `-w * min(rho * A, clip(rho, 1 - eps_low, 1 + eps_high) * A)` is exactly 0 for
    every token, and so is its gradient: such a sample (an all-fail T-GRPO group, a GiGPO step with nothing to
    tell apart) would only add its tokens to the minibatch's token-mean denominator. Dropping it before
    minibatching saves its forward and backward passes, and the token mean is then over the informative samples
    only. Not valid with a KL term (`beta > 0`): its gradient does not vanish with `A`.
    """
    return [s for s in samples if s.advantage != 0]


def minibatches(samples: Sequence[Sample], size: int, seed: int) -> list[list[Sample]]:
    """Shuffle the samples (seeded, regardless of which trajectory they came from) and cut them into minibatches.

    The last minibatch holds the remainder and may be smaller than `size`.
    """
    if size < 1:
        raise ValueError(f"minibatch size must be >= 1, got {size}")
    order = list(samples)
    random.Random(seed).shuffle(order)
    return [order[i : i + size] for i in range(0, len(order), size)]
