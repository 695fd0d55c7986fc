"""How the policy samples: the settings, the seeded per-row sampler whose distribution the loss recomputes, and the
stable seeds every draw is keyed by."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from step_envs.agents.a11y import check_scope
from step_envs.agents.prompt import Observation

Context = Literal["step", "trajectory"]


@dataclass(frozen=True)
class SamplingSettings:
    """How the policy samples and what it shows the model."""

    temperature: float = 1.0
    max_new_tokens: int = 64
    max_pixels: int = 640 * 360
    """Screenshots are downscaled to at most this many pixels before the processor sees them."""
    history: int = 3
    """H, previous actions shown in a step prompt."""
    context: Context = "step"
    """`trajectory`: every earlier screenshot and reply is in the prompt (T-GRPO's trajectory variant)."""
    observation: str = "screenshot"
    """What a step prompt shows: `screenshot`, `a11y` (the accessibility tree as a table) or `screenshot+a11y`
    (`step_envs.agents.prompt.step_messages`); with a11y the envs run with `a11y_tree=True`. `shows` is the value."""
    max_a11y_rows: int = 60
    """At most this many accessibility-tree elements in a prompt (the rest are counted)."""
    a11y_scope: str = "all"
    """`all`: every element on the screen; `active`: the active window's only (no panels or desktop)."""
    a11y_tags: bool = False
    """Number the tree's rows and let actions name an element's centre as `tag_N` (OSWorld's set-of-marks
    convention): the policy's replies are resolved to points, and supervised targets clicking an element's
    centre are written with its tag."""
    max_prompt_tokens: int | None = None
    """A trajectory prompt keeps the latest screenshots that fit in this many tokens and says how many earlier ones
    it left out (every earlier reply stays); None or 0: no cap. Step prompts hold one screenshot: not capped."""
    seed: int = 0
    merge_lora: bool | str = "auto"
    """Generate with the LoRA deltas merged into the base weights (restored exactly afterwards): the same replies,
    fewer matmuls. `auto`: on a CPU in float32; on a GPU in bf16 the merged forward rounds differently from the
    training pass, so it stays off there unless set."""
    lean_decode: bool = True
    """Decode with the project's own token loop where the model has Qwen2's layout (`step_train.policy.decode`:
    the same replies and log-probs with ~half the per-token overhead of transformers' `generate` on a CPU; checked
    once against transformers' forward, `generate` otherwise). False: always `generate`."""
    prompt_cache_mb: float = 256.0
    """With `lean_decode`: keep the prefills (keys, values, logits) of recent text-only prompts, up to this many
    MiB, and reuse them when the same prompt comes again under the same weights (a group's copies start from one
    prompt); the replies are the same as without it. 0: off. Prompts with images are never kept, and a GPU's
    padded batch (prefilled at once) is not cached."""
    use_generation_config: bool = False
    """Adopt the checkpoint's `generation_config.json` temperature; its other sampling options (repetition
    penalty, top-k, top-p, ...) are then an error, since the loss cannot recompute them. False: all are ignored."""

    def __post_init__(self) -> None:
        if self.context not in ("step", "trajectory"):
            raise ValueError(f"unknown context {self.context!r}; known: step, trajectory")
        shows = Observation.named(self.observation)
        check_scope(self.a11y_scope)
        if self.a11y_tags and not shows.a11y:
            raise ValueError(f"sampling.a11y_tags numbers the accessibility tree's rows, which observation "
                             f"{self.observation!r} does not show: use 'a11y' or 'screenshot+a11y'")
        if self.context == "trajectory" and shows.a11y:
            raise ValueError(f"observation {self.observation!r} is for step prompts; trajectory prompts show "
                             "screenshots only (set algo.tgrpo.sample_level = 'step')")
        if self.merge_lora not in (True, False, "auto"):
            raise ValueError(f"sampling.merge_lora must be true, false or 'auto', got {self.merge_lora!r}")
        if self.prompt_cache_mb < 0:
            raise ValueError(f"sampling.prompt_cache_mb must be >= 0 (0: off), got {self.prompt_cache_mb}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 (the policy samples), got {self.temperature}")
        if self.max_prompt_tokens is not None and self.max_prompt_tokens < 0:
            raise ValueError(f"max_prompt_tokens must be >= 0 (0 or unset: no cap), got {self.max_prompt_tokens}")

    @property
    def shows(self) -> Observation:
        """What the prompt shows (`observation`): the screenshot, the accessibility tree, or both."""
        return Observation.named(self.observation)


@dataclass
class Generation:
    """One sampled reply: its text, token ids (ending with the end-of-turn token when it stopped) and log-probs."""

    text: str
    token_ids: list[int]
    logprobs: list[float]


def turn_seed(*parts: object) -> int:
    """A stable 63-bit seed from the parts (not Python's salted `hash`)."""
    text = ":".join(str(p) for p in parts).encode()
    return (zlib.crc32(text) << 31) ^ zlib.crc32(text[::-1])


def suppress(logits: torch.Tensor, token_ids: Sequence[int]) -> torch.Tensor:
    """Logits with the placeholder tokens (image, video, vision start/end) made impossible: a reply holding one
    would be read back as an image slot."""
    if token_ids:
        logits[..., list(token_ids)] = float("-inf")
    return logits


class SeededSampling:
    """A logits processor that samples each row with its own generator and masks every other token.

    Greedy search after it picks the sampled token; the raw logits still come back for the log-probs. The
    distribution is `softmax(logits / temperature)` (no top-k / top-p), the one the loss recomputes. Without
    generators every row takes its most likely token instead (greedy decoding, for evaluation).
    """

    def __init__(self, generators: Sequence[torch.Generator] | None, temperature: float,
                 suppressed: Sequence[int]) -> None:
        self.generators = None if generators is None else list(generators)
        self.temperature = temperature
        self.suppressed = list(suppressed)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(suppress(scores.float().clone(), self.suppressed) / self.temperature, dim=-1).cpu()
        if self.generators is None:
            chosen = probs.argmax(dim=-1).tolist()
        else:
            chosen = [int(torch.multinomial(row, 1, generator=g))
                      for row, g in zip(probs, self.generators, strict=True)]
        masked = torch.full_like(scores, float("-inf"))
        masked[torch.arange(len(chosen)), torch.tensor(chosen)] = 0.0
        return masked
