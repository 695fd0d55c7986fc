"""AdaptiveSampler: success-rate-aware resampling with a fixed budget."""

import json
import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from step_envs.episodes import Episode
from step_train.algos import AdaptiveSampler, SamplerConfig, SuccessRecord, replacement_probability


def record_with(rates: dict[str, float]) -> SuccessRecord:
    record = SuccessRecord()
    record.load_state_dict({"alpha": 0.3, "rates": rates, "rollouts": {t: 1 for t in rates}})
    return record


def test_replacement_probability_is_the_logistic_of_the_rate():
    assert replacement_probability(0.6, 10.0, 0.6) == 0.5
    assert replacement_probability(1.0, 10.0, 0.6) == pytest.approx(1 / (1 + math.exp(-4)))  # 0.98201
    assert replacement_probability(0.0, 10.0, 0.6) == pytest.approx(1 / (1 + math.exp(6)))  # 0.00247


def test_replacement_probability_saturates_instead_of_overflowing_for_extreme_kappa():
    # kappa * (s0 - s) = 6e5 and 4e307: a plain exp(-z) raises OverflowError past ~709
    assert replacement_probability(0.0, 1e6, 0.6) == 0.0
    assert replacement_probability(1.0, 1e6, 0.6) == 1.0
    assert replacement_probability(0.0, 1e308, 0.4) == 0.0
    assert replacement_probability(0.6 - 1e-3, 1e4, 0.6) == pytest.approx(1 / (1 + math.exp(10)))


def test_uniform_mode_keeps_every_copy():
    sampler = AdaptiveSampler(SamplerConfig(copies=3, mode="uniform"))
    plan = sampler.plan(["a", "b"], record_with({"a": 1.0, "b": 0.3}))
    assert plan == ["a", "a", "a", "b", "b", "b"]


def test_never_tried_tasks_are_never_replaced():
    sampler = AdaptiveSampler(SamplerConfig(copies=8, kappa=1000.0), seed=1)
    plan = sampler.plan(["new"], record_with({"hard": 0.2}))
    assert plan == ["new"] * 8


def test_easy_task_gives_extra_copies_to_the_hard_task_but_keeps_its_first():
    sampler = AdaptiveSampler(SamplerConfig(copies=4, kappa=1000.0), seed=0)
    plan = sampler.plan(["easy", "hard"], record_with({"easy": 1.0, "hard": 0.2}))
    assert plan == ["easy", "hard", "hard", "hard", "hard", "hard", "hard", "hard"]


def test_cache_excludes_unsolved_and_easy_tasks():
    sampler = AdaptiveSampler(SamplerConfig(copies=5, kappa=1000.0), seed=0)
    plan = sampler.plan(["easy"], record_with({"easy": 1.0, "unsolved": 0.0, "medium": 0.6}))
    assert plan == ["easy"] * 5


def test_replacements_are_drawn_with_weight_one_minus_rate():
    sampler = AdaptiveSampler(SamplerConfig(copies=8, kappa=1000.0), seed=3)
    plan = sampler.plan(["easy"] * 2000, record_with({"easy": 1.0, "a": 0.1, "b": 0.5}))
    counts = Counter(plan)
    assert counts["easy"] == 2000
    assert counts["a"] / (counts["a"] + counts["b"]) == pytest.approx(0.9 / 1.4, abs=0.02)


def test_replacement_frequency_follows_the_logistic():
    sampler = AdaptiveSampler(SamplerConfig(copies=8), seed=5)
    plan = sampler.plan(["mid"] * 3000, record_with({"mid": 0.7, "hard": 0.1}))
    replaced = Counter(plan)["hard"] / (3000 * 7)
    assert replaced == pytest.approx(replacement_probability(0.7, 10.0, 0.6), abs=0.02)  # 0.731


def test_same_seed_gives_the_same_plan():
    record = record_with({"a": 0.9, "b": 0.3, "c": 0.5})
    plans = [AdaptiveSampler(SamplerConfig(), seed=7).plan(["a", "b", "c"], record) for _ in range(2)]
    assert plans[0] == plans[1]


def test_restored_rng_state_continues_the_same_plans():
    record = record_with({"a": 0.9, "b": 0.3, "c": 0.5})
    sampler = AdaptiveSampler(SamplerConfig(), seed=11)
    sampler.plan(["a", "b"], record)
    saved = json.loads(json.dumps(sampler.state_dict()))
    expected = [sampler.plan(["a", "b", "c"], record) for _ in range(3)]
    resumed = AdaptiveSampler(SamplerConfig(), seed=999)
    resumed.load_state_dict(saved)
    assert [resumed.plan(["a", "b", "c"], record) for _ in range(3)] == expected


def test_invalid_config_is_rejected_with_the_known_values():
    with pytest.raises(ValueError, match="copies"):
        SamplerConfig(copies=0)
    with pytest.raises(ValueError, match="known: adaptive, uniform"):
        SamplerConfig(mode="random")  # type: ignore[arg-type]


@settings(deadline=None)
@given(
    rates=st.dictionaries(st.sampled_from("abcdefgh"), st.floats(0.0, 1.0), max_size=8),
    tasks=st.lists(st.sampled_from("abcdefghxyz"), max_size=12),
    copies=st.integers(1, 10),
    mode=st.sampled_from(["adaptive", "uniform"]),
    seed=st.integers(0, 2**16),
)
def test_plan_keeps_the_budget_and_first_copies(rates, tasks, copies, mode, seed):
    record = SuccessRecord()
    for task_id, rate in rates.items():
        record.update([Episode(task_id, score=rate)])
    plan = AdaptiveSampler(SamplerConfig(copies=copies, mode=mode), seed=seed).plan(tasks, record)
    assert len(plan) == len(tasks) * copies
    assert plan[::copies] == tasks
    cache = {t for t, s in rates.items() if 0.0 < s < 0.6}
    for slot, task_id in enumerate(tasks):
        for other in plan[slot * copies + 1 : (slot + 1) * copies]:
            assert other == task_id or other in cache
