"""The STEP algorithm core and its baselines: pure functions and small classes over episode records and tensors.

One round: `AdaptiveSampler.plan(tasks, record)` -> rollouts -> `record.update(episodes)` ->
`training_samples(episodes, record, config)` (+ `augmentation_samples(...)` for STEP) -> `minibatches(...)` ->
`collate(minibatch)` -> `policy_loss(...)`.
"""

from step_train.algos.advantages import (
    EpisodeAdvantage,
    group_normalize,
    step_advantage,
    step_advantages,
    tgrpo_advantages,
)
from step_train.algos.agreement import (
    actions_agree,
    element_boxes,
    normalize_text,
    points_agree,
    screen_tolerance,
)
from step_train.algos.augment import (
    AugmentState,
    CandidatePolicy,
    SuccessBuffer,
    augmentation_samples,
    score_candidates,
    select_states,
)
from step_train.algos.batch import ResponseBatch, collate
from step_train.algos.config import (
    ALGORITHMS,
    AlgoConfig,
    Algorithm,
    AlgorithmSettings,
    AugmentConfig,
    GiGPOConfig,
    LossConfig,
    SamplerConfig,
    StepAdvantageConfig,
    TGRPOConfig,
    algorithm_settings,
)
from step_train.algos.gigpo import discounted_returns, gigpo_advantages
from step_train.algos.loss import LossStats, k3_kl, policy_loss
from step_train.algos.pipeline import compute_advantages, training_samples
from step_train.algos.record import SuccessRecord
from step_train.algos.sampler import AdaptiveSampler, replacement_probability
from step_train.algos.samples import (
    StepPrompt,
    StepSample,
    TrajectorySample,
    minibatches,
    nonzero_advantage,
    step_samples,
    trajectory_samples,
)

__all__ = [
    "ALGORITHMS",
    "AdaptiveSampler",
    "AlgoConfig",
    "Algorithm",
    "AlgorithmSettings",
    "AugmentConfig",
    "AugmentState",
    "CandidatePolicy",
    "EpisodeAdvantage",
    "GiGPOConfig",
    "LossConfig",
    "LossStats",
    "ResponseBatch",
    "SamplerConfig",
    "StepAdvantageConfig",
    "StepPrompt",
    "StepSample",
    "SuccessBuffer",
    "SuccessRecord",
    "TGRPOConfig",
    "TrajectorySample",
    "actions_agree",
    "algorithm_settings",
    "augmentation_samples",
    "collate",
    "compute_advantages",
    "discounted_returns",
    "element_boxes",
    "gigpo_advantages",
    "group_normalize",
    "k3_kl",
    "minibatches",
    "nonzero_advantage",
    "normalize_text",
    "points_agree",
    "policy_loss",
    "replacement_probability",
    "score_candidates",
    "screen_tolerance",
    "select_states",
    "step_advantage",
    "step_advantages",
    "step_samples",
    "tgrpo_advantages",
    "trajectory_samples",
    "training_samples",
]
