"""Config dataclasses for the STEP core and its baselines, with the defaults documented in docs/algorithms.md.

Every constant of the algorithm is a field here; `AlgoConfig.algorithm` picks one of the six training recipes and
`algorithm_settings` turns that name into the switches the trainer reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, get_args

Algorithm = Literal["step", "step-no-resample", "step-no-aug", "step-no-resample-no-aug", "tgrpo", "gigpo"]
ALGORITHMS: tuple[str, ...] = get_args(Algorithm)

SamplerMode = Literal["adaptive", "uniform"]
AdvantageKind = Literal["step", "tgrpo", "gigpo"]
SampleLevel = Literal["step", "trajectory"]
StepAdvantageMode = Literal["success_only", "baseline"]
Aggregation = Literal["token-mean", "seq-mean-token-mean"]
Agreement = Literal["element", "pixel"]


def check_choice(field_name: str, value: object, choices: object) -> None:
    """Raise a ValueError naming the known values when `value` is not one of the Literal type `choices`."""
    known = get_args(choices)
    if value not in known:
        raise ValueError(f"unknown {field_name} {value!r}; known: {', '.join(known)}")


@dataclass(frozen=True)
class SamplerConfig:
    """Success-rate-aware resampling: `p_rep(s) = sigmoid(kappa * (s - s0))`, cache `{j : 0 < s_j < s0}`."""

    copies: int = 8
    """N, rollouts per task slot in a round (the first copy is always the task itself)."""
    kappa: float = 10.0
    s0: float = 0.6
    mode: SamplerMode = "adaptive"
    """`uniform` keeps all N copies of every task (baselines and the no-resample ablations)."""

    def __post_init__(self) -> None:
        check_choice("sampler mode", self.mode, SamplerMode)
        if self.copies < 1:
            raise ValueError(f"copies (N) must be >= 1, got {self.copies}")


@dataclass(frozen=True)
class StepAdvantageConfig:
    """STEP trajectory advantage `A = r - s_i`, optionally divided by `sqrt(s_i (1 - s_i)) + eps`."""

    mode: StepAdvantageMode = "success_only"
    success_threshold: float = 1.0
    normalize: bool = False
    eps: float = 1e-6

    def __post_init__(self) -> None:
        check_choice("STEP advantage mode", self.mode, StepAdvantageMode)


@dataclass(frozen=True)
class TGRPOConfig:
    """Trajectory-level GRPO: `A = (r - mean_g) / (std_g + eps)` with the unbiased std of the task group."""

    eps: float = 1e-6
    sample_level: SampleLevel = "trajectory"

    def __post_init__(self) -> None:
        check_choice("sample level", self.sample_level, SampleLevel)


@dataclass(frozen=True)
class GiGPOConfig:
    """GiGPO: `A = A_E + omega * A_S` with discounted returns (factor `gamma`) inside anchor-state groups."""

    gamma: float = 0.95
    omega: float = 1.0


@dataclass(frozen=True)
class AugmentConfig:
    """Step-level GRPO augmentation for tasks with `s_i < s_aug`."""

    s_aug: float = 0.5
    max_states: int = 4
    """M, states taken per low-success task and round."""
    group_size: int = 4
    """G, candidate actions sampled from the current policy per state."""
    buffer_size: int = 8
    """Recent successful trajectories kept per task for rounds without a success of that task."""
    delta_frac: float = 0.05
    """Coordinate tolerance as a fraction of the screen diagonal (0.05: 73 px on 1280x720). Keep it under half the
    spacing of neighbouring targets (widget rows are 30 px apart: 0.01, 14.7 px), or a neighbour agrees."""
    agreement: Agreement = "element"
    """`element`: on a state whose observation has the accessibility tree, two clicks agree when they hit the same
    listed element (the smallest box holding each point), `delta` only for points outside every element; `pixel`:
    `delta` always."""
    screen_size: tuple[int, int] = (1920, 1080)
    weight: float = 1.0
    """lambda_aug, the loss weight of augmentation samples."""
    success_threshold: float = 1.0
    eps: float = 1e-6

    def __post_init__(self) -> None:
        check_choice("augment agreement", self.agreement, Agreement)


@dataclass(frozen=True)
class LossConfig:
    """PPO-clip with asymmetric clip range and an optional k3 KL to the reference policy."""

    clip_low: float = 0.2
    clip_high: float = 0.28
    kl_beta: float = 0.0
    aggregation: Aggregation = "token-mean"

    def __post_init__(self) -> None:
        check_choice("aggregation", self.aggregation, Aggregation)


@dataclass(frozen=True)
class AlgoConfig:
    """Everything the algorithm core needs for one training run."""

    algorithm: Algorithm = "step"
    alpha: float = 0.3
    """Smoothing factor of the success record."""
    history: int = 3
    """H, previous actions given as text in a step prompt."""
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    step: StepAdvantageConfig = field(default_factory=StepAdvantageConfig)
    tgrpo: TGRPOConfig = field(default_factory=TGRPOConfig)
    gigpo: GiGPOConfig = field(default_factory=GiGPOConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def __post_init__(self) -> None:
        check_choice("algorithm", self.algorithm, Algorithm)

    @property
    def settings(self) -> AlgorithmSettings:
        return algorithm_settings(self.algorithm, tgrpo_sample_level=self.tgrpo.sample_level)

    @property
    def sampler_config(self) -> SamplerConfig:
        """`sampler` with the mode the algorithm decides (`sampler.mode` only matters for a sampler used alone)."""
        return replace(self.sampler, mode=self.settings.sampler_mode)


@dataclass(frozen=True)
class AlgorithmSettings:
    """The switches one algorithm name stands for."""

    sampler_mode: SamplerMode
    advantage: AdvantageKind
    augmentation: bool
    sample_level: SampleLevel


def algorithm_settings(name: str, tgrpo_sample_level: SampleLevel = "trajectory") -> AlgorithmSettings:
    """Turn an algorithm name into its settings; T-GRPO's sample level is its own choice, all others use steps."""
    check_choice("algorithm", name, Algorithm)
    if name == "tgrpo":
        return AlgorithmSettings("uniform", "tgrpo", False, tgrpo_sample_level)
    if name == "gigpo":
        return AlgorithmSettings("uniform", "gigpo", False, "step")
    sampler_mode: SamplerMode = "uniform" if "no-resample" in name else "adaptive"
    return AlgorithmSettings(sampler_mode, "step", "no-aug" not in name, "step")
