"""Step-level GRPO augmentation: extra groups of candidate actions at states of low-success tasks.

For tasks with `s_i < s_aug`, up to `M` states are taken from successful trajectories of the task (this round, else
a per-task buffer of recent successes). The current policy samples `G` actions at each state with the same prompt;
a candidate scores 1 when it agrees with the successful action (`actions_agree`: on a state whose observation has
the accessibility tree, a click agrees when it hits the same element, `algo.augment.agreement = "element"`; else
within `delta` pixels), else 0; the group advantage is
`(r - mean) / (std + eps)` (unbiased std) and groups without contrast are dropped.

A reply that could not be parsed (its step has `action_error`: it ran as a WAIT) never agrees, and a reference
step that could not be parsed is never a state to augment at: "WAIT because unreadable" is not the action that
succeeded.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from step_envs.episodes import Episode, StepRecord
from step_train.algos.advantages import group_normalize, is_degenerate
from step_train.algos.agreement import actions_agree, element_boxes, screen_tolerance
from step_train.algos.config import AugmentConfig
from step_train.algos.record import SuccessRecord
from step_train.algos.samples import StepPrompt, StepSample, step_prompt, step_sample

CandidatePolicy = Callable[[Sequence[StepPrompt], int], Sequence[Sequence[StepRecord]]]
"""Given prompts and G, returns G sampled steps per prompt (action text, old log-probs, token ids)."""


def is_success(episode: Episode, threshold: float) -> bool:
    """A valid episode with at least one step and `score >= threshold`."""
    return episode.valid and bool(episode.steps) and float(episode.score) >= threshold  # type: ignore[arg-type]


class SuccessBuffer:
    """The most recent successful trajectories of each task (at most `size` per task)."""

    def __init__(self, size: int = 8, success_threshold: float = 1.0) -> None:
        if size < 1:
            raise ValueError(f"buffer size must be >= 1, got {size}")
        self.size = size
        self.success_threshold = success_threshold
        self._episodes: dict[str, deque[Episode]] = {}

    def add(self, episodes: Iterable[Episode]) -> None:
        for episode in episodes:
            if is_success(episode, self.success_threshold):
                self._episodes.setdefault(episode.task_id, deque(maxlen=self.size)).append(episode)

    def get(self, task_id: str) -> list[Episode]:
        return list(self._episodes.get(task_id, ()))

    def state_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable state (episodes as dicts)."""
        return {
            "size": self.size,
            "success_threshold": self.success_threshold,
            "episodes": {task_id: [e.to_dict() for e in buf] for task_id, buf in self._episodes.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size = int(state["size"])
        self.success_threshold = float(state["success_threshold"])
        self._episodes = {
            task_id: deque((Episode.from_dict(e) for e in items), maxlen=self.size)
            for task_id, items in state["episodes"].items()
        }


@dataclass(frozen=True)
class AugmentState:
    """A state to augment at: the task, the prompt there and the action a successful trajectory took."""

    task_id: str
    prompt: StepPrompt
    reference: str


def select_states(
    episodes: Sequence[Episode],
    record: SuccessRecord,
    buffer: SuccessBuffer,
    config: AugmentConfig,
    rng: random.Random,
    history: int = 3,
) -> list[AugmentState]:
    """Up to `M` states (drawn without replacement, seeded) per task of the round with `s_i < s_aug`.

    States come from this round's successful trajectories of the task, or, when it has none, from the buffer.
    """
    round_tasks = list(dict.fromkeys(e.task_id for e in episodes if e.valid))
    states: list[AugmentState] = []
    for task_id in round_tasks:
        if record.rate(task_id) >= config.s_aug:
            continue
        source = [e for e in episodes if e.task_id == task_id and is_success(e, config.success_threshold)]
        source = source or buffer.get(task_id)
        positions = [(episode, t) for episode in source for t, step in enumerate(episode.steps)
                     if not step.action_error]
        for episode, t in rng.sample(positions, min(config.max_states, len(positions))):
            states.append(AugmentState(task_id, step_prompt(episode, t, history), episode.steps[t].action))
    return states


def score_candidates(
    states: Sequence[AugmentState], candidates: Sequence[Sequence[StepRecord]], config: AugmentConfig
) -> list[StepSample]:
    """Agreement rewards -> group-normalized samples with weight `lambda_aug`; degenerate groups are dropped."""
    if len(candidates) != len(states):
        raise ValueError(f"the policy returned {len(candidates)} candidate groups for {len(states)} states")
    delta = screen_tolerance(config.screen_size, config.delta_frac)
    samples: list[StepSample] = []
    for state, group in zip(states, candidates, strict=True):
        elements = element_boxes(state.prompt.a11y_tree, config.screen_size) if config.agreement == "element" else []
        rewards = [0.0 if c.action_error else float(actions_agree(c.action, state.reference, delta, elements))
                   for c in group]
        if is_degenerate(rewards):
            continue
        for candidate, advantage in zip(group, group_normalize(rewards, config.eps), strict=True):
            samples.append(
                step_sample(state.task_id, state.prompt, candidate, advantage, config.weight, "augment")
            )
    return samples


def augmentation_samples(
    episodes: Sequence[Episode],
    record: SuccessRecord,
    buffer: SuccessBuffer,
    policy: CandidatePolicy,
    config: AugmentConfig,
    rng: random.Random,
    history: int = 3,
) -> list[StepSample]:
    """One round of augmentation: pick states, add the round's successes to the buffer, sample G candidates per
    state with one policy call, score them. The record must already hold this round."""
    states = select_states(episodes, record, buffer, config, rng, history)
    buffer.add(episodes)
    if not states:
        return []
    return score_candidates(states, policy([s.prompt for s in states], config.group_size), config)
