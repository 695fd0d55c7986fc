"""A lean token-by-token decode loop for Qwen2-family language models, in place of transformers' `generate`.

Why: a small policy on a CPU spends most of a reply in per-token overhead, not arithmetic. transformers' `generate`
and its modules cost ~5.6 ms a token for the `small` init-model (4 layers of width 128, a batch of 4, one torch
thread); the same step written as plain tensor operations over a preallocated key/value buffer costs ~3 ms with
the same logits (to float32 rounding). Rollouts and held-out evaluations are mostly decoding, so that is most of
what a CPU training round spends in the model.

How: transformers runs the prompt (the prefill: images, multimodal rotary positions, masks, whatever the model
needs) and returns its key/value cache; this loop then writes one token at a time through the model's own weights
and modules (embedding, rotary embedding, norms, linear layers, LM head), so LoRA adapters, merged or not, and the
pointer head's hook on the final norm see what they see under `generate`. A generated token's rotary position is the
prompt's largest position plus its index in the reply, in all three M-RoPE sections: what Qwen2-VL's own
incremental forward gives a text token, with or without images and left padding. On a CPU the caller may hand each
prompt of the batch over on its own (`rows`): each is prefilled without padding and its keys and values are placed
right-aligned in the batch's buffers (rotary positions being relative, the same attention to rounding).

Trust: `LeanDecoder.for_model` accepts a model only if its language model has the Qwen2 layout (RMSNorm, q/k/v/o
projections, gated MLP, one rotary embedding, no sliding window); anything else decodes with `generate`. The first
reply it writes for a text-only prompt, and the first for a prompt with images, are also checked against
transformers' own full forward pass over the prompt plus the reply's first token (`verify`): if their next-token
logits differ beyond rounding, the policy logs why and goes back to `generate` for good. `sampling.lean_decode = false` skips it altogether.

Repeated prompts: a group's copies of a task all start from the same prompt, and copies that act alike keep
meeting the same one (a third of a warm start's prompts in a training round). With `cache_key` (what the weights
are: whether LoRA is merged and the trainable weights' version counters) the prefills of text-only prompts prefilled on
their own are kept in a `PromptCache`, and a prompt seen before under the same weights is not run again: its
logits, keys, values and final-norm states are the stored ones, the very numbers a new prefill would give.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen2_vl_text", "qwen2_5_vl_text")
"""The language models whose layout the loop writes out (Qwen2-VL and Qwen2.5-VL's text decoders)."""


@dataclass
class Decoded:
    """What a decode returns: the reply tokens (`pad_id` after a row's end) and each step's raw logits."""

    tokens: torch.Tensor
    """[batch, steps] long."""
    logits: torch.Tensor
    """[batch, steps, vocab]: the language model's scores before any processor, as `generate`'s `output_logits`."""
    first_logits_check: torch.Tensor | None = None
    """The logits the loop computed for the reply's second token (for `verify`); None with fewer than 2 steps."""


class LeanDecoder:
    """The decode loop bound to one model (a transformers `...ForConditionalGeneration`, peft-wrapped or not)."""

    def __init__(self, model: torch.nn.Module, language_model: torch.nn.Module, lm_head: torch.nn.Module) -> None:
        self.model = model
        self.lm = language_model
        self.lm_head = lm_head
        config = language_model.config
        self.heads = int(config.num_attention_heads)
        self.kv_heads = int(getattr(config, "num_key_value_heads", None) or self.heads)
        self.head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // self.heads)
        self.cache = PromptCache()
        """Prefills of recent prompts (`decode(cache_key=...)`); its `capacity` (bytes) 0 turns it off."""
        self.verified: set[bool] = set()
        """The kinds of prompt checked so far (`has_images`): text-only and with images take different position
        paths through the prefill, so each is checked once."""
        self.disabled_because: str | None = None

    # ---- which models --------------------------------------------------------------------------------------------

    @classmethod
    def for_model(cls, model: torch.nn.Module) -> LeanDecoder | None:
        """The loop for `model`, or None (with the reason logged at debug level) when its layout is not Qwen2's."""
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        reason = cls._unsupported(base)
        if reason:
            log.debug("lean decoding off for %s: %s", type(base).__name__, reason)
            return None
        return cls(base, base.model.language_model, base.lm_head)

    @staticmethod
    def _unsupported(base: torch.nn.Module) -> str | None:
        inner = getattr(base, "model", None)
        lm = getattr(inner, "language_model", None)
        if lm is None or not isinstance(getattr(base, "lm_head", None), torch.nn.Module):
            return "no model.language_model / lm_head"
        config = lm.config
        if getattr(config, "model_type", None) not in MODEL_TYPES:
            return f"model type {getattr(config, 'model_type', None)!r}"
        if getattr(config, "use_sliding_window", False):
            return "sliding-window attention"
        if getattr(config, "hidden_act", "silu") != "silu":
            return f"activation {config.hidden_act!r}"
        for name in ("embed_tokens", "layers", "norm", "rotary_emb"):
            if getattr(lm, name, None) is None:
                return f"no language_model.{name}"
        for layer in lm.layers:
            attn, mlp = getattr(layer, "self_attn", None), getattr(layer, "mlp", None)
            parts = [getattr(attn, p, None) for p in ("q_proj", "k_proj", "v_proj", "o_proj")]
            parts += [getattr(mlp, p, None) for p in ("gate_proj", "up_proj", "down_proj")]
            parts += [getattr(layer, p, None) for p in ("input_layernorm", "post_attention_layernorm")]
            if any(p is None for p in parts):
                return "a decoder layer without Qwen2's parts"
        return None

    # ---- the loop ------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def decode(self, batch: dict[str, torch.Tensor], max_new_tokens: int,
               processors: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
               eos_ids: Sequence[int], pad_id: int, *, rows: Sequence[dict[str, torch.Tensor]] | None = None,
               states: list[torch.Tensor] | None = None, cache_key: Hashable | None = None) -> Decoded:
        """Greedy search over what `processors` leave (they sample, as `SeededSampling` does): `generate` with
        `do_sample=False`, the same stopping (every row ended, or `max_new_tokens`) and padding after a row's end.

        `rows`: the batch's prompts one by one, unpadded; each is then prefilled on its own (a padded batch's
        prefill pays for attention over its padding with an explicit mask, ~25 % more on a CPU), and, rotary
        positions being relative, the row's keys and values are the padded batch's to rounding. `states`: the
        list `final_states` fills; the per-row prefills' entries are replaced by one padded `[rows, width, d]`.
        `cache_key`: what the weights are (hashable; None: no prompt cache); prompts prefilled on their own (one
        prompt, or `rows`) without images are then looked up in and kept in `self.cache`."""
        input_ids, mask = batch["input_ids"], batch["attention_mask"]
        count, width = input_ids.shape
        device = input_ids.device
        total = width + max_new_tokens
        if rows is None and count == 1:
            rows = [batch]
        if rows is not None:
            prompt_logits, start, keys, values = self._prefill_rows(rows, width, total, states, cache_key)
        else:
            logits, start, pairs = self._prefill(batch)
            prompt_logits, start = logits, start.expand(count)
            keys, values = self._buffers(pairs, width, total)
            del pairs  # transformers' cache: the buffers hold a copy
        dtype = keys[0].dtype
        allowed = torch.cat([mask.bool(), torch.ones(count, max_new_tokens, dtype=torch.bool, device=device)], 1)
        bias = torch.zeros(count, 1, 1, total, dtype=dtype, device=device)
        bias.masked_fill_(~allowed[:, None, None, :], torch.finfo(dtype).min)
        eos = torch.tensor(list(eos_ids), device=device)
        sequences = input_ids
        unfinished = torch.ones(count, dtype=torch.bool, device=device)
        all_logits, tokens = [prompt_logits], []
        scores = prompt_logits
        check = None
        plan = self._plan()
        for step in range(max_new_tokens):
            chosen = processors(sequences, scores).argmax(-1)
            chosen = torch.where(unfinished, chosen, torch.full_like(chosen, pad_id))
            tokens.append(chosen)
            sequences = torch.cat([sequences, chosen[:, None]], 1)
            unfinished &= ~torch.isin(chosen, eos)
            if step + 1 == max_new_tokens or not bool(unfinished.any()):
                break
            scores = self._step(chosen, start + step, width + step, keys, values, bias, plan).float()
            if step == 0:
                check = scores
            all_logits.append(scores)
        return Decoded(torch.stack(tokens, 1), torch.stack(all_logits, 1), check)

    def _prefill(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, list[tuple[Any, Any]]]:
        """transformers' forward over the prompt: the last position's logits [rows, vocab], the position the
        reply's first token takes ([rows], or [1] for all rows) and each layer's (keys, values)."""
        positions: list[torch.Tensor] = []
        hook = self.lm.rotary_emb.register_forward_pre_hook(
            lambda _m, args, kwargs: positions.append(args[1] if len(args) > 1 else kwargs["position_ids"]),
            with_kwargs=True)
        try:
            out = self.model(**batch, use_cache=True, logits_to_keep=1)
        finally:
            hook.remove()
        cache = getattr(out, "past_key_values", None)
        if cache is None:
            cache = out.cache
        if hasattr(cache, "layers"):
            pairs = [(layer.keys, layer.values) for layer in cache.layers]
        elif hasattr(cache, "key_cache"):
            pairs = list(zip(cache.key_cache, cache.value_cache, strict=True))
        else:
            pairs = [(k, v) for k, v in cache]
        last = positions[0].amax(dim=-1)  # [3, rows] or [3, 1]: the prompt's largest position per section
        return out.logits[:, -1].float(), last.amax(dim=0).to(batch["input_ids"].device) + 1, pairs

    def _prefill_rows(self, rows: Sequence[dict[str, torch.Tensor]], width: int, total: int,
                      states: list[torch.Tensor] | None, cache_key: Hashable | None = None):
        """`_prefill` row by row, the keys and values right-aligned in buffers of the padded batch's layout; rows
        the prompt cache holds under `cache_key` are not prefilled again."""
        logits, starts, keys, values = [], [], [], []
        cache = self.cache if cache_key is not None and self.cache.capacity > 0 else None
        for r, row in enumerate(rows):
            key = cache.key(cache_key, row) if cache is not None else None
            hit = cache.get(key, with_state=states is not None) if key is not None else None
            if hit is not None:
                row_logits, row_start, pairs = hit.logits, hit.start, hit.pairs
                if states is not None:
                    states.append(hit.state)  # what the final norm's hook would have captured
            else:
                row_logits, row_start, pairs = self._prefill(row)
                if key is not None:
                    cache.put(key, Prefill(row_logits, row_start, pairs, states[-1] if states is not None else None))
            logits.append(row_logits)
            starts.append(row_start.reshape(1))
            if not keys:
                keys, values = self._zeros(pairs, len(rows), total)
            length = row["input_ids"].shape[1]
            for i, (k, v) in enumerate(pairs):
                keys[i][r, :, width - length : width] = k[0]
                values[i][r, :, width - length : width] = v[0]
        if states is not None:
            own = states[-len(rows) :]
            del states[-len(rows) :]
            states.append(torch.cat([F.pad(s, (0, 0, width - s.shape[1], 0)) for s in own]))
        return torch.cat(logits), torch.cat(starts), keys, values

    def _zeros(self, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], rows: int,
               total: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Zeroed key and value buffers of `total` positions, one per layer of `pairs` (masked positions must hold
        finite numbers: attention multiplies their zero weights by them)."""
        shape = (rows, self.kv_heads, total, self.head_dim)
        return [k.new_zeros(shape) for k, _ in pairs], [v.new_zeros(shape) for _, v in pairs]

    def _buffers(self, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], width: int,
                 total: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The prefill's keys and values ([rows, kv heads, width, head dim] per layer) copied into buffers long
        enough for the whole reply."""
        keys, values = self._zeros(pairs, pairs[0][0].shape[0], total)
        for (k, v), kb, vb in zip(pairs, keys, values, strict=True):
            kb[:, :, :width] = k
            vb[:, :, :width] = v
        return keys, values

    def _plan(self) -> list[tuple[Any, ...]]:
        """Each layer's norms and linear layers as `_step` uses them, looked up once per reply rather than once
        per token (module attribute lookups cost as much as the small model's arithmetic)."""
        plan = []
        for layer in self.lm.layers:
            attn, mlp = layer.self_attn, layer.mlp
            plan.append((_norm_args(layer.input_layernorm), _linear_args(attn.q_proj), _linear_args(attn.k_proj),
                         _linear_args(attn.v_proj), _linear_args(attn.o_proj), _norm_args(layer.post_attention_layernorm),
                         _linear_args(mlp.gate_proj), _linear_args(mlp.up_proj), _linear_args(mlp.down_proj)))
        return plan

    def _step(self, tokens: torch.Tensor, position: torch.Tensor, slot: int, keys: list[torch.Tensor],
              values: list[torch.Tensor], bias: torch.Tensor, plan: list[tuple[Any, ...]] | None = None) -> torch.Tensor:
        """One token per row through the decoder: [rows] ids at [rows] positions, written to cache slot `slot`;
        returns the next-token logits [rows, vocab]. `plan`: `_plan()`, made once per reply."""
        rows = tokens.shape[0]
        lm = self.lm
        heads, kv_heads, head_dim = self.heads, self.kv_heads, self.head_dim
        gqa = kv_heads != heads
        x = lm.embed_tokens(tokens)[:, None]
        cos, sin = lm.rotary_emb(x, position.view(1, rows, 1).expand(3, rows, 1))
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        length = slot + 1
        mask = bias[..., :length]
        for i, (norm1, wq, wk, wv, wo, norm2, wg, wu, wd) in enumerate(plan or self._plan()):
            h = _rms(norm1, x)
            q = _rotate(_linear(wq, h).view(rows, 1, heads, head_dim).transpose(1, 2), cos, sin)
            k = _rotate(_linear(wk, h).view(rows, 1, kv_heads, head_dim).transpose(1, 2), cos, sin)
            keys[i][:, :, slot] = k[:, :, 0]
            values[i][:, :, slot] = _linear(wv, h).view(rows, kv_heads, head_dim)
            o = F.scaled_dot_product_attention(q, keys[i][:, :, :length], values[i][:, :, :length], attn_mask=mask,
                                               enable_gqa=gqa)
            x = x + _linear(wo, o.transpose(1, 2).reshape(rows, 1, heads * head_dim))
            h = _rms(norm2, x)
            x = x + _linear(wd, F.silu(_linear(wg, h)) * _linear(wu, h))
        x = lm.norm(x)  # a module call: the pointer head's hook reads its output
        return self.lm_head(x)[:, 0]

    # ---- the check -----------------------------------------------------------------------------------------------

    @torch.no_grad()
    def verify(self, batch: dict[str, torch.Tensor], decoded: Decoded, *, tolerance: float = 1e-3) -> bool:
        """Compare the loop's logits for the reply's second token with transformers' full forward over the prompt
        plus the first token; on a mismatch, `disabled_because` says by how much (the caller goes back to
        `generate`). Rows whose reply ended at once are left out."""
        if decoded.first_logits_check is None:
            return True  # nothing to compare yet: the next reply with two tokens or more is checked
        first = decoded.tokens[:, :1]
        extended = dict(batch)
        extended["input_ids"] = torch.cat([batch["input_ids"], first], 1)
        extended["attention_mask"] = torch.cat([batch["attention_mask"], torch.ones_like(first)], 1)
        if "mm_token_type_ids" in batch:
            extended["mm_token_type_ids"] = torch.cat([batch["mm_token_type_ids"], torch.zeros_like(first)], 1)
        reference = self.model(**extended, use_cache=False, logits_to_keep=1).logits[:, -1].float()
        ours = decoded.first_logits_check
        scale = float(reference.abs().max().clamp_min(1.0))
        difference = float((ours - reference).abs().max()) / scale
        if self.lm_head.weight.dtype in (torch.bfloat16, torch.float16):
            tolerance = max(tolerance, 3e-2)
        if difference > tolerance:
            self.disabled_because = (f"its logits differ from transformers' forward by {difference:.2e} of their "
                                     f"largest (tolerance {tolerance:.0e})")
            log.warning("lean decoding is off for %s: %s; decoding with transformers' generate",
                        type(self.model).__name__, self.disabled_because)
            return False
        self.verified.add(has_images(batch))
        return True

    def verified_for(self, batch: dict[str, torch.Tensor]) -> bool:
        return has_images(batch) in self.verified


@dataclass
class Prefill:
    """One prompt's prefill as `_prefill` returns it, and the final norm's output over it (None: not captured)."""

    logits: torch.Tensor
    start: torch.Tensor
    pairs: list[tuple[torch.Tensor, torch.Tensor]]
    state: torch.Tensor | None

    def nbytes(self) -> int:
        tensors = [self.logits, self.start, *(t for pair in self.pairs for t in pair)]
        tensors += [self.state] if self.state is not None else []
        return sum(t.numel() * t.element_size() for t in tensors)


class PromptCache:
    """The prefills of recent text-only prompts under one set of weights, least recently used dropped first.

    A prompt is its token ids; the weights are the caller's `cache_key`: a new key empties the cache (every entry
    was computed with other weights). Prompts with images are never kept (their ids do not say which image)."""

    def __init__(self, capacity: int = 256 << 20) -> None:
        self.capacity = capacity
        """Bytes of keys, values, logits and states kept at most; 0: nothing is kept."""
        self.entries: OrderedDict[bytes, Prefill] = OrderedDict()
        self.weights: Hashable | None = None
        self.size = 0
        self.hits = 0
        self.misses = 0

    def key(self, weights: Hashable, row: dict[str, torch.Tensor]) -> bytes | None:
        """The row's key under `weights` (None: not cacheable); entries made under other weights are dropped."""
        if has_images(row) or row["input_ids"].shape[0] != 1 or not bool(row["attention_mask"].all()):
            return None
        if weights != self.weights:
            self.clear()
            self.weights = weights
        return row["input_ids"].cpu().numpy().tobytes()

    def get(self, key: bytes, *, with_state: bool = False) -> Prefill | None:
        """The prompt's prefill (None: not kept, or kept without the final-norm states `with_state` asks for)."""
        entry = self.entries.get(key)
        if entry is None or (with_state and entry.state is None):
            self.misses += 1
            return None
        self.entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: bytes, entry: Prefill) -> None:
        size = entry.nbytes()
        if size > self.capacity:
            return
        old = self.entries.pop(key, None)
        self.size -= old.nbytes() if old is not None else 0
        self.entries[key] = entry
        self.size += size
        while self.size > self.capacity:
            _, dropped = self.entries.popitem(last=False)
            self.size -= dropped.nbytes()

    def clear(self) -> None:
        self.entries.clear()
        self.size = 0


def has_images(batch: dict[str, torch.Tensor]) -> bool:
    return "pixel_values" in batch or "pixel_values_videos" in batch


def _norm_args(norm: torch.nn.Module) -> tuple[torch.Tensor, float]:
    return norm.weight, float(norm.variance_epsilon)


def _rms(norm: tuple[torch.Tensor, float], x: torch.Tensor) -> torch.Tensor:
    """Qwen2's RMSNorm, as its module computes it (in float32, then back to the input's dtype); in float32 torch's
    fused kernel gives the same numbers in one operation instead of six."""
    weight, eps = norm
    if x.dtype == torch.float32 and weight.dtype == torch.float32:
        return F.rms_norm(x, (x.shape[-1],), weight, eps)
    dtype = x.dtype
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(dtype)


def _linear_args(module: torch.nn.Module) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.nn.Module | None]:
    """(weight, bias, None) for a linear layer `_linear` computes without module-call overhead: a plain one, or a
    LoRA layer whose delta is merged into its base weight or switched off; (None, None, module) for an unmerged
    LoRA layer, which runs its own forward."""
    if isinstance(module, torch.nn.Linear):
        return module.weight, module.bias, None
    base = getattr(module, "base_layer", None)
    if isinstance(base, torch.nn.Linear) and (getattr(module, "merged", False)
                                              or getattr(module, "disable_adapters", False)
                                              or not getattr(module, "active_adapters", None)):
        return base.weight, base.bias, None
    return None, None, module


def _linear(args: tuple[torch.Tensor | None, torch.Tensor | None, torch.nn.Module | None],
            x: torch.Tensor) -> torch.Tensor:
    weight, bias, module = args
    return module(x) if module is not None else F.linear(x, weight, bias)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), -1) * sin
