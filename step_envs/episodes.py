"""The episode and step records shared by the pool, the benchmark runner and the trainer.

Plain data, no torch: `step_envs` produces them, `step_train` reads them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StepRecord:
    """One step of an episode, as the policy saw and produced it."""

    action: str
    """The action text the policy produced (pyautogui code, computer_13 JSON, WAIT/DONE/FAIL)."""
    observation_ref: str = ""
    """Where the observation the action was chosen from lives (a file path or a key into an observation store)."""
    obs_hash: str | None = None
    """A hash of the observation (screenshot bytes or a11y text); equal hashes mark identical states (GiGPO anchors)."""
    reward: float = 0.0
    action_error: str | None = None
    logprobs: list[float] | None = None
    """Per-token log-probs of the action text under the policy that generated it (old log-probs)."""
    token_ids: list[int] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    a11y_tree: str | None = None
    """The accessibility tree (XML) the action was chosen from, when the policy's observation includes it."""


@dataclass
class Episode:
    """One finished (or failed) episode of one task instance."""

    task_id: str
    instruction: str = ""
    seed: int | None = None
    steps: list[StepRecord] = field(default_factory=list)
    score: float | None = None
    """The checker's score in [0, 1]; None when the environment failed (see `env_error`)."""
    reason: str = ""
    env_error: str | None = None
    """Set when the environment itself failed: the episode is not an outcome of the policy and is never scored."""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """True when the episode is an outcome of the policy (scored, no environment error)."""
        return self.env_error is None and self.score is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Episode:
        data = dict(data)
        data["steps"] = [StepRecord(**s) for s in data.get("steps", [])]
        return cls(**data)
