"""Success-rate-aware adaptive resampling: which tasks the `B x N` rollouts of a round go to."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from step_train.algos.config import SamplerConfig
from step_train.algos.record import SuccessRecord


def replacement_probability(rate: float, kappa: float, s0: float) -> float:
    """`p_rep(s) = sigmoid(kappa * (s - s0))`: easy tasks give most of their extra copies away.

    Evaluated as `1 / (1 + e^-z)` for `z >= 0` and `e^z / (1 + e^z)` for `z < 0`, so `e` is only raised to
    non-positive powers: no overflow for any `kappa` (a plain `exp(-z)` overflows once `-z > ~709`).
    """
    z = kappa * (rate - s0)
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


def hard_task_cache(record: SuccessRecord, s0: float) -> tuple[list[str], list[float]]:
    """The cache `C = {j : 0 < s_j < s0}` of hard-but-solvable tasks and their weights `1 - s_j`."""
    tasks = sorted(task_id for task_id, s in record.rates.items() if 0.0 < s < s0)
    return tasks, [1.0 - record.rate(task_id) for task_id in tasks]


class AdaptiveSampler:
    """Plans a round of `len(tasks) * N` rollouts from the success record.

    Copy 0 of every task is kept. Each copy `k >= 1` of a task with rate `s_i` is replaced, with probability
    `p_rep(s_i)`, by a task drawn from the hard-task cache with weight `1 - s_j`. Tasks without a rate yet are never
    replaced, and the number of rollouts is always `len(tasks) * N`. Mode `uniform` keeps all N copies.
    Seeded; `state_dict` / `load_state_dict` save and restore the RNG for an exact resume.
    """

    def __init__(self, config: SamplerConfig | None = None, seed: int = 0) -> None:
        self.config = config or SamplerConfig()
        self._rng = random.Random(seed)

    def plan(self, tasks: Sequence[str], record: SuccessRecord) -> list[str]:
        """The task id of every rollout of the round, slot by slot: `N` entries per entry of `tasks`."""
        n = self.config.copies
        if self.config.mode == "uniform":
            return [task_id for task_id in tasks for _ in range(n)]
        cache, weights = hard_task_cache(record, self.config.s0)
        plan: list[str] = []
        for task_id in tasks:
            plan.append(task_id)
            rate = record.get(task_id)
            p_rep = (
                0.0
                if rate is None or not cache
                else replacement_probability(rate, self.config.kappa, self.config.s0)
            )
            for _ in range(n - 1):
                replace = self._rng.random() < p_rep
                plan.append(self._rng.choices(cache, weights)[0] if replace else task_id)
        return plan

    def state_dict(self) -> dict[str, Any]:
        """The RNG state as plain, JSON-serialisable lists."""
        return {"rng": rng_state(self._rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        set_rng_state(self._rng, state["rng"])


def rng_state(rng: random.Random) -> list:
    """`rng`'s state as a JSON-serialisable list (`set_rng_state` restores it)."""
    version, internal, gauss_next = rng.getstate()
    return [version, list(internal), gauss_next]


def set_rng_state(rng: random.Random, state: list) -> None:
    version, internal, gauss_next = state
    rng.setstate((version, tuple(internal), gauss_next))
