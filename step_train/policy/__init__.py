"""The VLM policy: model loading with LoRA, prompts, batched seeded generation with log-probs, recomputed log-probs."""

from step_envs.agents.prompt import downscale, step_messages
from step_train.policy.model import LoraSettings, ModelSettings, load_model
from step_train.policy.processing import QwenStyleProcessor, load_processor
from step_train.policy.prompts import Encoded, Trajectory, encode_chat, trajectory_messages
from step_train.policy.sampling import Generation, SamplingSettings, turn_seed
from step_train.policy.vlm import VLMPolicy

__all__ = [
    "Encoded",
    "Generation",
    "LoraSettings",
    "ModelSettings",
    "QwenStyleProcessor",
    "SamplingSettings",
    "Trajectory",
    "VLMPolicy",
    "downscale",
    "encode_chat",
    "load_model",
    "load_processor",
    "step_messages",
    "trajectory_messages",
    "turn_seed",
]
