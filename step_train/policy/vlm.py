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
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from step_envs.actions import ActionSet, ParsedReply, action_set
from step_envs.agents.a11y import parse_tagged, tag_points
from step_envs.agents.prompt import downscale, recent, step_messages
from step_envs.core import DEFAULT_SCREEN
from step_envs.pool.agent import AgentAction, Turn
from step_envs.tasks import Task
from step_train.policy.decode import LeanDecoder
from step_train.policy.generation_defaults import take_generation_defaults
from step_train.policy.merge import LoraMerge
from step_train.policy.model import ModelSettings, load_model
from step_train.policy.pointer import (
    PointerHead,
    PointerSampling,
    Site,
    TokenText,
    decoder_norm,
    final_states,
    head_sites,
    load_head,
    new_head,
    save_head,
)
from step_train.policy.processing import load_processor, model_image_size, processor_tokenizer
from step_train.policy.prompts import (
    Encoded,
    Trajectory,
    count_chat_tokens,
    encode_chat,
    image_token_count,
    trajectory_messages,
)
from step_train.policy.sampling import Generation, SamplingSettings, SeededSampling, suppress, turn_seed


@dataclass
class EpisodeState:
    """What the trajectory prompt needs of an episode in flight."""

    images: list[Image.Image] = field(default_factory=list)
    replies: list[list[int]] = field(default_factory=list)


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
        temperature = take_generation_defaults(self.model.get_base_model(), use=self.sampling.use_generation_config,
                                               temperature=self.sampling.temperature, where=model.path)
        self.sampling = dataclasses.replace(self.sampling, temperature=temperature)
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
        self._image_tokens: dict[tuple[int, int], int] = {}
        self._lean: LeanDecoder | None | bool = False
        """The decode loop once looked up (`_lean_decoder`); False: not yet."""
        self._parameters: list[torch.nn.Parameter] | None = None
        """Every weight of the model and pointer head, listed once (`trainable_parameters`)."""
        self._merge = LoraMerge(self.model)
        """The LoRA deltas merged for generation (`sampling.merge_lora`), kept between calls."""
        self.greedy = False
        """Decode greedily (argmax, seeds ignored) instead of sampling: what held-out evaluation sets."""
        self.pointer: PointerHead | None = None
        """`model.pointer_head`: the head that picks the element of each `tag_N` (`step_train.policy.pointer`)."""
        if model.pointer_head:
            self._init_pointer(adapter_dir)

    def _init_pointer(self, adapter_dir: str | Path | None) -> None:
        if not self.sampling.a11y_tags:
            raise ValueError("model.pointer_head picks the rows of the numbered accessibility table: set "
                             "sampling.a11y_tags = true (and an observation with 'a11y')")
        base = self.model.get_base_model()
        config = getattr(base.config, "text_config", None) or base.config
        self._pointer_text = TokenText(self.tokenizer)
        self._digit_ids = list(self._pointer_text.digits().values())
        self._norm = decoder_norm(base)
        embeddings = base.get_input_embeddings()
        self._embed = lambda ids: embeddings(torch.tensor(list(ids), dtype=torch.long, device=self.device))
        self.pointer = new_head(config.hidden_size, self.sampling.seed)
        for directory in (adapter_dir, self.settings.path):
            if directory is not None and load_head(self.pointer, directory):
                break
        self.pointer.to(self.device)

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
                encodings.append(self.encode_trajectory(Trajectory(
                    turn.observation["instruction"], state.images, state.replies[: turn.step], turn.action_space,
                    turn.screen_size)))
            else:
                history = recent(turn.history, self.sampling.history)
                encodings.append(self.encode_step(turn.observation["instruction"], image, history,
                                                  turn.action_space, turn.screen_size,
                                                  a11y_tree=turn.observation.get("a11y_tree")))
        seeds = [turn_seed(self.sampling.seed, self.round, t.key, t.step) for t in turns]
        generations = self.generate(encodings, seeds)
        actions = []
        for turn, generation in zip(turns, generations, strict=True):
            state = self._episodes[turn.key]
            state.replies[turn.step :] = [generation.token_ids]
            parsed = self.parse(generation.text, turn.action_space, turn.screen_size, state.images[-1],
                                turn.observation.get("a11y_tree"))
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

    def actions(self, action_space: str = "pyautogui") -> ActionSet:
        """The model's dialect (`model.dialect`) on the env's action space."""
        return action_set(self.settings.dialect, action_space)

    def image_size(self, image: Image.Image) -> tuple[int, int]:
        """(width, height) of `image` (already `observe`d) after the processor's own resize: the frame of the
        dialects that write points in the pixels of the image they saw."""
        return model_image_size(self.processor, image.size)

    def parse(self, text: str, action_space: str, screen_size: tuple[int, int], image: Image.Image,
              a11y_tree: str | None = None) -> ParsedReply:
        """A reply read in the model's dialect, for a prompt that showed `image` (and `a11y_tree`: with
        `sampling.a11y_tags`, its `tag_N` are the centres of that table's rows)."""
        if self.sampling.a11y_tags and a11y_tree is not None:
            return parse_tagged(self.actions(action_space), text, a11y_tree, screen_size, self.image_size(image),
                                self.sampling.max_a11y_rows, self.sampling.a11y_scope)
        return self.actions(action_space).parse(text, screen_size, self.image_size(image))

    def tag_points(self, a11y_tree: str, action_space: str, screen_size: tuple[int, int],
                   image_size: tuple[int, int]) -> list[tuple[int, int]]:
        """The centres the prompt's tags stand for, in the dialect's frame (`image_size`: `self.image_size` of
        the prompt's screenshot)."""
        sampling = self.sampling
        return tag_points(a11y_tree, screen_size, self.actions(action_space).dialect.frame, image_size,
                          sampling.max_a11y_rows, sampling.a11y_scope)

    def observe(self, screenshot: Any) -> Image.Image:
        """The screenshot as the model sees it (downscaled): the rollout and the training pass use this image. With
        an accessibility-tree-only observation no prompt shows it (its size still sets the dialect's frame), so
        it is downscaled the fast way."""
        if self.sampling.shows.screenshot:
            return downscale(screenshot, self.sampling.max_pixels)
        return downscale(screenshot, self.sampling.max_pixels, resample=Image.Resampling.NEAREST)

    def encode_step(
        self,
        instruction: str,
        image: Image.Image,
        history: Sequence[str],
        action_space: str = "pyautogui",
        screen_size: tuple[int, int] = DEFAULT_SCREEN,
        response: Sequence[int] | None = None,
        a11y_tree: str | None = None,
    ) -> Encoded:
        """STEP's step prompt (plus the response tokens, for training): what `sampling.observation` shows of the
        screen, `image` (already `observe`d) and/or the accessibility tree `a11y_tree` (XML)."""
        sampling = self.sampling
        messages = step_messages(instruction, history, self.actions(action_space), screen_size, self.image_size(image),
                                 observation=sampling.shows, a11y_tree=a11y_tree,
                                 max_a11y_rows=sampling.max_a11y_rows, a11y_scope=sampling.a11y_scope,
                                 a11y_tags=sampling.a11y_tags)
        images = [image] if sampling.shows.screenshot else []
        return encode_chat(self.processor, messages, images, final_reply=response, eos_texts=self.eos_texts)

    def encode_trajectory(self, prompt: Trajectory) -> Encoded:
        """The trajectory prompt asking for the next action after `prompt.replies` (one fewer than its screenshots),
        without the earliest screenshots where `sampling.max_prompt_tokens` requires (`omitted_screens`)."""
        if len(prompt.replies) != len(prompt.images) - 1:
            raise ValueError(f"a prompt for the next action needs {len(prompt.images) - 1} replies for "
                             f"{len(prompt.images)} screenshots, got {len(prompt.replies)}; trajectory_windows "
                             "encodes a whole trajectory")
        encoded = self._encode_trajectory(prompt, self.omitted_screens(prompt))
        encoded.reply_spans = []  # earlier replies are context while the policy acts
        return encoded

    def trajectory_windows(self, trajectory: Trajectory) -> list[Encoded]:
        """A whole trajectory (a reply per screenshot) for the training pass, each reply in its rollout prompt.

        Step `t`'s prompt left out the first `d_t` screenshots, and `d_t` never decreases (a longer prompt needs at
        least as many left out). The steps with equal `d` form a window: their prompts are prefixes of one sequence,
        the last one's prompt plus its reply, whose replies from the window's first step on are the response.
        Without a cap, or below it, that is one sequence: the whole trajectory. Under a cap a trajectory costs one
        sequence per window, each within the cap plus one reply.
        """
        steps = len(trajectory.images)
        if len(trajectory.replies) != steps:
            raise ValueError(f"a whole trajectory needs a reply per screenshot: {steps}, got "
                             f"{len(trajectory.replies)}")
        omitted: list[int] = []
        for t in range(steps):
            omitted.append(self.omitted_screens(trajectory.before(t), start=omitted[-1] if omitted else 0))
        windows = []
        for t, count in enumerate(omitted):
            if t + 1 < steps and omitted[t + 1] == count:
                continue  # not the last step of its window
            encoded = self._encode_trajectory(trajectory.before(t), count, final=trajectory.replies[t])
            encoded.reply_spans = encoded.reply_spans[omitted.index(count) :]  # earlier windows' replies: context
            windows.append(encoded)
        return windows

    def omitted_screens(self, prompt: Trajectory, start: int = 0) -> int:
        """`d`, the fewest earliest screenshots (from `start` on) the prompt for the next action after
        `prompt.replies` must leave out to fit in `sampling.max_prompt_tokens`; 0 without a cap. Counted without
        processing pixels."""
        cap = self.sampling.max_prompt_tokens
        if not cap:
            return 0
        images, replies = prompt.images, prompt.replies
        actions, image_size = self.actions(prompt.action_space), self.image_size(images[-1])
        tokens = [self.image_tokens(image) for image in images]
        for count in range(start, len(images)):
            messages = trajectory_messages(prompt.instruction, len(images), actions, prompt.screen_size, image_size,
                                           omitted=count)
            length = count_chat_tokens(self.processor, messages, tokens[count:], replies, eos_texts=self.eos_texts)
            if length <= cap:
                return count
        raise ValueError(
            f"sampling.max_prompt_tokens = {cap} cannot hold a trajectory prompt: with only its current screenshot "
            f"({tokens[-1]} tokens) and its {len(replies)} earlier replies it takes {length} tokens; set it to at "
            f"least {length} (more for longer episodes: every reply stays in the prompt), or 0 for no cap"
        )

    def image_tokens(self, image: Image.Image) -> int:
        """The tokens a screenshot of this size takes in a prompt (measured once per size)."""
        if image.size not in self._image_tokens:
            self._image_tokens[image.size] = image_token_count(self.processor, image)
        return self._image_tokens[image.size]

    def _encode_trajectory(self, prompt: Trajectory, omitted: int, final: Sequence[int] | None = None) -> Encoded:
        messages = trajectory_messages(prompt.instruction, len(prompt.images), self.actions(prompt.action_space),
                                       prompt.screen_size, self.image_size(prompt.images[-1]), omitted=omitted)
        return encode_chat(self.processor, messages, prompt.images[omitted:], prompt.replies, final_reply=final,
                           eos_texts=self.eos_texts)

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

    def _merge_for_generation(self) -> bool:
        """`sampling.merge_lora`: `auto` merges on a CPU in float32 (where the copy is cheap and the merged forward
        equals the unmerged one to float32 rounding)."""
        setting = self.sampling.merge_lora
        if setting == "auto":
            return self.device.type == "cpu" and self.dtype == torch.float32
        return bool(setting)

    def _lean_decoder(self) -> LeanDecoder | None:
        """`sampling.lean_decode`: the project's decode loop for this model (`step_train.policy.decode`), or None to
        decode with transformers' `generate` (turned off, an unsupported model, or one whose check failed)."""
        if not self.sampling.lean_decode:
            return None
        if self._lean is False:
            self._lean = LeanDecoder.for_model(self.model)
            if self._lean is not None:
                self._lean.cache.capacity = int(self.sampling.prompt_cache_mb * (1 << 20))
        if self._lean is not None and self._lean.disabled_because:
            return None
        return self._lean

    @property
    def prompts_reused(self) -> int:
        """Prompts so far whose prefill came from the lean loop's prompt cache (`sampling.prompt_cache_mb`)."""
        return self._lean.cache.hits if isinstance(self._lean, LeanDecoder) else 0

    def _weights_key(self) -> tuple[int, ...]:
        """What the weights a prefill runs with are, for the prompt cache: merged or not (peft merges in place,
        unseen by version counters) and the version counter of every trainable weight (optimizer steps and loads
        bump them)."""
        return (self._merge.merged, *(p._version for p in self.trainable_parameters()))

    def _prefill_apart(self) -> bool:
        """Prefill each prompt of a batch on its own: on a CPU that is cheaper than attention over the padding; a
        GPU prefills the padded batch at once."""
        return self.device.type == "cpu"

    @torch.no_grad()
    def generate(self, encodings: Sequence[Encoded], seeds: Sequence[int]) -> list[Generation]:
        """Sample one reply per prompt (row `i` from a generator seeded with `seeds[i]`); with `greedy`, the most
        likely reply. The log-probs are under the sampling distribution either way."""
        from transformers import GenerationConfig, LogitsProcessorList

        batch = self._batch(encodings)
        width = batch["input_ids"].shape[1]
        generators = None if self.greedy else [torch.Generator().manual_seed(int(s)) for s in seeds]
        tables = [self._pointer_text.table(e.input_ids) for e in encodings] if self.pointer is not None else []
        if self.model.training:  # eval() walks every module: ~5 ms a call on the small model
            self.model.eval()
        processors: list[Any] = [SeededSampling(generators, self.sampling.temperature, self.suppressed_ids)]
        lean = self._lean_decoder()
        with self._merge.generating(self._merge_for_generation()):
            with final_states(self._norm) if any(tables) else contextlib.nullcontext([]) as captured:
                pointer = None
                if any(tables):
                    pads = [width - len(e.input_ids) for e in encodings]
                    pointer_generators = None if self.greedy else [
                        torch.Generator().manual_seed(turn_seed(s, "pointer")) for s in seeds]
                    embeds = [self._embed(e.input_ids) for e in encodings]
                    pointer = PointerSampling(self.pointer, self._pointer_text, captured, width, pads, tables, embeds,
                                              pointer_generators, self.sampling.temperature)
                    processors.insert(0, pointer)  # before the sampler: it forces and masks digits
                if lean is not None:
                    rows = [self._batch([e]) for e in encodings] if len(encodings) > 1 and self._prefill_apart() else None
                    decoded = lean.decode(batch, self.sampling.max_new_tokens, LogitsProcessorList(processors),
                                          self.eos_ids, self.pad_id, rows=rows, states=captured if any(tables) else None,
                                          cache_key=self._weights_key())
                    new_tokens, raw_logits = decoded.tokens.cpu(), decoded.logits
                else:
                    config = GenerationConfig(do_sample=False, max_new_tokens=self.sampling.max_new_tokens,
                                              eos_token_id=self.eos_ids, pad_token_id=self.pad_id,
                                              output_logits=True, return_dict_in_generate=True)
                    out = self.model.generate(**batch, generation_config=config,
                                              logits_processor=LogitsProcessorList(processors))
                    new_tokens, raw_logits = out.sequences[:, width:].cpu(), torch.stack(out.logits, dim=1)
            if lean is not None and not lean.verified_for(batch) and not lean.verify(batch, decoded):
                return self.generate(encodings, seeds)  # decodes with generate from now on
        logits = suppress(raw_logits.float(), self.suppressed_ids)
        if pointer is not None:
            for row, steps in enumerate(pointer.closed):
                for step in steps:  # sampled without digits (the number ended)
                    logits[row, step, self._digit_ids] = float("-inf")
        logprobs = logits.div(self.sampling.temperature).log_softmax(-1).cpu()
        generations = []
        for row in range(len(encodings)):
            tokens = new_tokens[row].tolist()
            end = next((i + 1 for i, t in enumerate(tokens) if t in self.eos_ids), len(tokens))
            tokens = tokens[:end]
            lps = logprobs[row, torch.arange(end), torch.tensor(tokens, dtype=torch.long)].tolist()
            if pointer is not None:
                for step, value in pointer.chosen[row].items():
                    if step < end:
                        lps[step] = value  # the head's choice, not the language model's digit
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            generations.append(Generation(text, tokens, lps))
            self.generated_tokens += len(tokens)
        return generations

    def response_logprobs(
        self, samples: Sequence[Encoded | Sequence[Encoded]], *, entropy: bool = False
    ) -> tuple[torch.Tensor, ...]:
        """Log-probs of every reply token (replies in order, right-padded) as `[B, T]`, with its mask; with
        `entropy`, also the per-token entropy. Differentiable through the adapters; call under `no_grad` for
        old or reference log-probs. A sample given as several sequences (`trajectory_windows`) has their reply
        tokens in order in its one row."""
        groups = [[s] if isinstance(s, Encoded) else list(s) for s in samples]
        encodings = [e for group in groups for e in group]
        batch = self._batch(encodings)
        width = batch["input_ids"].shape[1]
        starts = [width - len(e.input_ids) + e.reply_spans[0][0] for e in encodings]
        keep = width - min(starts) + 1
        with final_states(self._norm) if self.pointer is not None else contextlib.nullcontext([]) as captured:
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
        selected = logits.gather(1, (positions - 1 - offset).clamp(min=0).unsqueeze(-1)
                                 .expand(-1, -1, logits.shape[-1]))
        sites = self._pointer_sites(captured[-1], encodings, rows, width) if captured else []
        for row, site in sites:
            if site.after is not None:
                selected[row, site.after, self._digit_ids] = float("-inf")  # as sampled: no digit after the number
        log_probs = torch.log_softmax(selected, dim=-1)
        chosen = log_probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
        mask = mask.to(chosen.device)
        token_entropy = None
        if entropy:
            with torch.no_grad():
                token_entropy = -(log_probs.exp() * log_probs.nan_to_num(neginf=0.0)).sum(-1)
        if sites:
            chosen = chosen.clone()
            for row, site in sites:
                chosen[row, site.first] = site.log_prob
                chosen[row, site.rest] = 0.0
                if token_entropy is not None:
                    token_entropy[row, site.first] = site.entropy
                    token_entropy[row, site.rest] = 0.0
        out = [chosen * mask, mask]
        if token_entropy is not None:
            out.append(token_entropy * mask)
        if len(encodings) > len(groups):
            out = [_join_rows(values, [len(r) for r in rows], [len(g) for g in groups]) for values in out]
        return tuple(out)

    def _pointer_sites(self, states: torch.Tensor, encodings: Sequence[Encoded], rows: Sequence[Sequence[int]],
                       width: int) -> list[tuple[int, Site]]:
        """(row, `Site`) of every `tag_N` the pointer head chose in the replies of a forward pass."""
        assert self.pointer is not None
        sites = []
        for i, encoded in enumerate(encodings):
            pad = width - len(encoded.input_ids)
            index = {position - pad: j for j, position in enumerate(rows[i])}
            reply_positions = [p for s, t in encoded.reply_spans for p in range(s, t)]
            for site in head_sites(self.pointer, self._pointer_text, states[i], self._embed, encoded.input_ids, pad,
                                   reply_positions, self.sampling.temperature, index.__getitem__):
                sites.append((i, site))
        return sites

    @contextlib.contextmanager
    def reference(self) -> Iterator[None]:
        """The reference policy: the same model with its adapters disabled."""
        with self.model.disable_adapter():
            yield

    def restore_weights(self) -> None:
        """Undo the merge generation keeps (`sampling.merge_lora`): the base weights exactly as loaded or trained.
        Any other forward pass does it by itself; call it before reading or saving the base weights."""
        self._merge.restore()

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """The adapters (every weight in full fine-tuning) and the pointer head's."""
        if self._parameters is None:  # walking the modules costs ~2 ms a call; the set of weights never changes
            head = list(self.pointer.parameters()) if self.pointer is not None else []
            self._parameters = list(self.model.parameters()) + head
        return [p for p in self._parameters if p.requires_grad]

    def save_adapter(self, directory: str | Path) -> None:
        """The LoRA adapters in peft's format (`adapter_config.json` + `adapter_model.safetensors`), and the
        pointer head's weights beside them."""
        self.model.save_pretrained(str(directory))
        self.save_pointer(directory)

    def save_pointer(self, directory: str | Path) -> None:
        """The pointer head's weights into `directory` (nothing without a head)."""
        if self.pointer is not None:
            save_head(self.pointer, directory)

    def load_adapter_weights(self, directory: str | Path) -> None:
        """Load saved adapter weights into the current adapters (resume)."""
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        state = load_file(str(Path(directory) / "adapter_model.safetensors"))
        self.restore_weights()
        result = set_peft_model_state_dict(self.model, state)
        if getattr(result, "unexpected_keys", None):
            raise ValueError(f"adapter at {directory} does not fit this model: {result.unexpected_keys[:5]}")
        if self.pointer is not None and not load_head(self.pointer, directory):
            raise FileNotFoundError(f"{directory} has no pointer head weights, which this model (model.pointer_head) "
                                    "needs to resume")


def _join_rows(values: torch.Tensor, lengths: Sequence[int], sizes: Sequence[int]) -> torch.Tensor:
    """Rows taken `sizes[i]` at a time: each group's rows, cut to their `lengths`, concatenated into one row and
    right-padded with 0."""
    rows, first = [], 0
    for size in sizes:
        rows.append(torch.cat([values[r, : lengths[r]] for r in range(first, first + size)]))
        first += size
    return torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)


def _forward_parameters(model: torch.nn.Module) -> set[str]:
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return set(inspect.signature(base.forward).parameters)
