"""The trainable VLM policy: an `Agent` for the env pool, and the log-prob function the trainer's loss needs.

`act(turns)` renders one prompt per waiting env (STEP's step prompt, or the whole trajectory so far), generates for
all of them in one left-padded batch, and parses each reply with the shared action parser. Every row samples from
its own generator seeded by (policy seed, round, episode key, step), so what an env gets does not depend on which
other envs happened to be waiting: a resumed run replays an uninterrupted one.

`response_logprobs(encodings)` recomputes the log-probs of the reply tokens on the same token ids; with
`reference()` (adapters disabled) the same call gives the reference policy's, so KL needs no second model.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from PIL import Image

from step_envs.agents.base import AgentAction, Turn
from step_envs.agents.parsing import parse_reply
from step_envs.tasks import Task
from step_train.policy.model import ModelSettings, load_model
from step_train.policy.processing import load_processor, processor_tokenizer
from step_train.policy.prompts import Encoded, downscale, encode_chat, step_messages, trajectory_messages

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
    coordinates: str = "absolute"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.context not in ("step", "trajectory"):
            raise ValueError(f"unknown context {self.context!r}; known: step, trajectory")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 (the policy samples), got {self.temperature}")


@dataclass
class Generation:
    """One sampled reply: its text, token ids (ending with the end-of-turn token when it stopped) and log-probs."""

    text: str
    token_ids: list[int]
    logprobs: list[float]


@dataclass
class EpisodeState:
    """What the trajectory prompt needs of an episode in flight."""

    images: list[Image.Image] = field(default_factory=list)
    replies: list[list[int]] = field(default_factory=list)


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
    distribution is `softmax(logits / temperature)` (no top-k / top-p), the one the loss recomputes.
    """

    def __init__(self, generators: Sequence[torch.Generator], temperature: float, suppressed: Sequence[int]) -> None:
        self.generators = list(generators)
        self.temperature = temperature
        self.suppressed = list(suppressed)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(suppress(scores.float().clone(), self.suppressed) / self.temperature, dim=-1).cpu()
        chosen = [int(torch.multinomial(row, 1, generator=g)) for row, g in zip(probs, self.generators, strict=True)]
        masked = torch.full_like(scores, float("-inf"))
        masked[torch.arange(len(chosen)), torch.tensor(chosen)] = 0.0
        return masked


class VLMPolicy:
    """A Hugging Face vision-language model with LoRA adapters, acting in step_envs and trained by step_train."""

    name = "vlm"

    def __init__(
        self,
        model: ModelSettings,
        sampling: SamplingSettings | None = None,
        *,
        adapter_dir: str | Path | None = None,
    ) -> None:
        self.settings = model
        self.sampling = sampling or SamplingSettings()
        self.model, self.device, self.dtype = load_model(model, adapter_dir)
        self.processor = load_processor(model.path)
        self.tokenizer = processor_tokenizer(self.processor)
        self.eos_ids = self._eos_ids()
        self.eos_texts = tuple(self.tokenizer.convert_ids_to_tokens(i) for i in self.eos_ids)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_ids[0]
        self.round = 0
        self._episodes: dict[str, EpisodeState] = {}
        self._forward_keys = _forward_parameters(self.model)
        self.suppressed_ids = self._placeholder_ids()
        self.generated_tokens = 0

    def _eos_ids(self) -> list[int]:
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        if eos is None:
            eos = self.tokenizer.eos_token_id
        ids = [eos] if isinstance(eos, int) else list(eos or [])
        if not ids:
            raise ValueError(f"{self.settings.path} defines no end-of-sequence token (generation_config.eos_token_id)")
        return ids

    def _placeholder_ids(self) -> list[int]:
        config = self.model.get_base_model().config
        names = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id",
                 "image_token_index", "video_token_index")
        ids = {getattr(config, n) for n in names if isinstance(getattr(config, n, None), int)}
        token = getattr(self.processor, "image_token", None)
        if token:
            ids.add(self.tokenizer.convert_tokens_to_ids(token))
        return sorted(i for i in ids if 0 <= i < self.model.get_base_model().get_output_embeddings().weight.shape[0])

    # ---- the Agent protocol -------------------------------------------------------------------------------------

    def reset(self, task: Task, key: str) -> None:
        self._episodes[key] = EpisodeState()

    def end(self, key: str) -> None:
        self._episodes.pop(key, None)

    def act(self, turns: list[Turn]) -> list[AgentAction]:
        """One action per turn, generated in one batch; an unparsable reply is a WAIT with `parse_error`."""
        encodings = []
        for turn in turns:
            image = self.observe(turn.observation["screenshot"])
            state = self._episodes.setdefault(turn.key, EpisodeState())
            state.images = state.images[: turn.step] + [image]
            if self.sampling.context == "trajectory":
                encodings.append(self.encode_trajectory(turn.observation["instruction"], state.images,
                                                        state.replies[: turn.step], turn.action_space,
                                                        turn.screen_size))
            else:
                history = turn.history[-self.sampling.history :] if self.sampling.history else []
                encodings.append(self.encode_step(turn.observation["instruction"], image, history,
                                                  turn.action_space, turn.screen_size))
        seeds = [turn_seed(self.sampling.seed, self.round, t.key, t.step) for t in turns]
        generations = self.generate(encodings, seeds)
        actions = []
        for turn, generation in zip(turns, generations, strict=True):
            self._episodes[turn.key].replies[turn.step :] = [generation.token_ids]
            parsed = parse_reply(generation.text, turn.action_space, turn.screen_size, self.sampling.coordinates)
            actions.append(
                AgentAction(
                    text=parsed.action,
                    raw=generation.text,
                    logprobs=generation.logprobs,
                    token_ids=generation.token_ids,
                    parse_error=parsed.error,
                )
            )
        return actions

    # ---- prompts ------------------------------------------------------------------------------------------------

    def observe(self, screenshot: Any) -> Image.Image:
        """The screenshot as the model sees it (downscaled): the rollout and the training pass use this image."""
        return downscale(screenshot, self.sampling.max_pixels)

    def encode_step(
        self,
        instruction: str,
        image: Image.Image,
        history: Sequence[str],
        action_space: str = "pyautogui",
        screen_size: tuple[int, int] = (1280, 720),
        response: Sequence[int] | None = None,
    ) -> Encoded:
        """STEP's step prompt (plus the response tokens, for training)."""
        messages = step_messages(instruction, history, action_space, screen_size, self.sampling.coordinates)
        return encode_chat(self.processor, messages, [image], final_reply=response, eos_texts=self.eos_texts)

    def encode_trajectory(
        self,
        instruction: str,
        images: Sequence[Image.Image],
        replies: Sequence[Sequence[int]],
        action_space: str = "pyautogui",
        screen_size: tuple[int, int] = (1280, 720),
    ) -> Encoded:
        """The trajectory prompt: with one reply fewer than images it asks for the next action (rollout); with as
        many replies as images it is a whole trajectory whose replies are all response tokens (training)."""
        if len(replies) not in (len(images) - 1, len(images)):
            raise ValueError(f"a trajectory prompt needs {len(images)} or {len(images) - 1} replies, got {len(replies)}")
        messages = trajectory_messages(instruction, len(images), action_space, screen_size, self.sampling.coordinates)
        final = replies[len(images) - 1] if len(replies) == len(images) else None
        encoded = encode_chat(self.processor, messages, images, replies[: len(images) - 1],
                              final_reply=final, eos_texts=self.eos_texts)
        if final is None:
            encoded.reply_spans = []  # earlier replies are context while the policy acts
        return encoded

    # ---- model calls --------------------------------------------------------------------------------------------

    def _batch(self, encodings: Sequence[Encoded]) -> dict[str, torch.Tensor]:
        """Left-padded model inputs; image tensors of all rows concatenated in row order."""
        width = max(len(e.input_ids) for e in encodings)
        ids = torch.full((len(encodings), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(encodings), width), dtype=torch.long)
        types = torch.zeros((len(encodings), width), dtype=torch.long)
        images: dict[str, list[torch.Tensor]] = {}
        for row, e in enumerate(encodings):
            n = len(e.input_ids)
            ids[row, width - n :] = torch.tensor(e.input_ids)
            mask[row, width - n :] = 1
            types[row, width - n :] = torch.tensor(e.mm_token_type_ids)
            for key, values in e.image_inputs.items():
                images.setdefault(key, []).extend(values)
        batch = {"input_ids": ids, "attention_mask": mask}
        if "mm_token_type_ids" in self._forward_keys:
            batch["mm_token_type_ids"] = types
        for key, values in images.items():
            batch[key] = torch.cat(values, dim=0)
        return {k: v.to(self.device, dtype=self.dtype if v.is_floating_point() else v.dtype) for k, v in batch.items()}

    @torch.no_grad()
    def generate(self, encodings: Sequence[Encoded], seeds: Sequence[int]) -> list[Generation]:
        """Sample one reply per prompt (row `i` from a generator seeded with `seeds[i]`)."""
        from transformers import GenerationConfig, LogitsProcessorList

        batch = self._batch(encodings)
        width = batch["input_ids"].shape[1]
        generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        config = GenerationConfig(
            do_sample=False,
            max_new_tokens=self.sampling.max_new_tokens,
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
            output_logits=True,
            return_dict_in_generate=True,
        )
        self.model.eval()
        out = self.model.generate(
            **batch,
            generation_config=config,
            logits_processor=LogitsProcessorList(
                [SeededSampling(generators, self.sampling.temperature, self.suppressed_ids)]
            ),
        )
        new_tokens = out.sequences[:, width:].cpu()
        logits = suppress(torch.stack(out.logits, dim=1).float(), self.suppressed_ids)
        logprobs = logits.div(self.sampling.temperature).log_softmax(-1).cpu()
        generations = []
        for row in range(len(encodings)):
            tokens = new_tokens[row].tolist()
            end = next((i + 1 for i, t in enumerate(tokens) if t in self.eos_ids), len(tokens))
            tokens = tokens[:end]
            lps = logprobs[row, torch.arange(end), torch.tensor(tokens, dtype=torch.long)].tolist()
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            generations.append(Generation(text, tokens, lps))
            self.generated_tokens += len(tokens)
        return generations

    def response_logprobs(self, encodings: Sequence[Encoded], *, entropy: bool = False) -> tuple[torch.Tensor, ...]:
        """Log-probs of every reply token (replies in order, right-padded) as `[B, T]`, with its mask; with
        `entropy`, also the per-token entropy. Differentiable through the adapters; call under `no_grad` for
        old or reference log-probs."""
        batch = self._batch(encodings)
        width = batch["input_ids"].shape[1]
        starts = [width - len(e.input_ids) + e.reply_spans[0][0] for e in encodings]
        keep = width - min(starts) + 1
        logits = self.model(**batch, use_cache=False, logits_to_keep=keep).logits
        logits = suppress(logits[:, :-1].float(), self.suppressed_ids) / self.sampling.temperature  # p predicts p + 1
        offset = width - keep
        rows = [
            [width - len(e.input_ids) + j for s, t in e.reply_spans for j in range(s, t)] for e in encodings
        ]
        length = max(len(r) for r in rows)
        positions = torch.zeros(len(rows), length, dtype=torch.long)
        mask = torch.zeros(len(rows), length)
        for i, row in enumerate(rows):
            positions[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1.0
        positions = positions.to(logits.device)
        tokens = batch["input_ids"].gather(1, positions)
        log_probs = torch.log_softmax(logits.gather(1, (positions - 1 - offset).clamp(min=0).unsqueeze(-1)
                                                    .expand(-1, -1, logits.shape[-1])), dim=-1)
        chosen = log_probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
        mask = mask.to(chosen.device)
        chosen = chosen * mask
        if not entropy:
            return chosen, mask
        with torch.no_grad():
            ent = -(log_probs.exp() * log_probs.nan_to_num(neginf=0.0)).sum(-1) * mask
        return chosen, mask, ent

    @contextlib.contextmanager
    def reference(self) -> Iterator[None]:
        """The reference policy: the same model with its adapters disabled."""
        with self.model.disable_adapter():
            yield

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def save_adapter(self, directory: str | Path) -> None:
        """The LoRA adapters in peft's format (`adapter_config.json` + `adapter_model.safetensors`)."""
        self.model.save_pretrained(str(directory))

    def load_adapter_weights(self, directory: str | Path) -> None:
        """Load saved adapter weights into the current adapters (resume)."""
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        state = load_file(str(Path(directory) / "adapter_model.safetensors"))
        result = set_peft_model_state_dict(self.model, state)
        if getattr(result, "unexpected_keys", None):
            raise ValueError(f"adapter at {directory} does not fit this model: {result.unexpected_keys[:5]}")


def _forward_parameters(model: torch.nn.Module) -> set[str]:
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return set(inspect.signature(base.forward).parameters)
