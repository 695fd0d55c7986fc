"""A checkpoint's generation defaults (`generation_config.json`) against the distribution the policy samples from.

transformers fills every option a `generate` call leaves unset from the model's `generation_config`, and runs the
logits processors those options imply (repetition penalty, n-gram bans, suppressed tokens, top-k, top-p, ...) before
a custom processor such as the policy's `SeededSampling`. The policy stores `log softmax(logits / T)` of the raw
logits and the loss recomputes exactly that, so any of those processors would draw the tokens from another
distribution than the one whose log-probs are stored: the update would be off-policy without saying so (Qwen
Instruct checkpoints ship `repetition_penalty=1.05`, `top_k`, `top_p` and a low temperature).

`take_generation_defaults` therefore leaves the model a generation config with the checkpoint's token ids only
(`bos`, `eos`, `pad`, `decoder_start`). With `sampling.use_generation_config = true` the checkpoint's `temperature`
becomes the policy's, and every other option that would change the distribution is an error naming each one: a
repetition penalty or n-gram ban depends on the whole context and top-k / top-p / min-p cut the support per
position, none of which the training forward pass reproduces.
"""

from __future__ import annotations

import logging
from typing import Any

from step_envs.agents.processor import GENERATION_TOKEN_IDS, token_ids_only

log = logging.getLogger(__name__)

TOKEN_ID_FIELDS = GENERATION_TOKEN_IDS
"""Kept from the checkpoint: which tokens end, pad and start a sequence."""

SAMPLING_FIELDS = ("do_sample", "temperature")
"""Read with `use_generation_config`: the checkpoint must sample, and its temperature is adopted."""

HARMLESS_FIELDS = frozenset({
    "max_length", "max_new_tokens", "max_time", "use_cache", "cache_implementation", "cache_config",
    "early_stopping", "length_penalty", "renormalize_logits", "output_attentions", "output_hidden_states",
    "output_scores", "output_logits", "return_dict_in_generate", "compile_config", "disable_compile",
    "transformers_version", "_from_model_config",
})
"""Options that do not change the per-token distribution (lengths, caches, outputs; the policy sets its own)."""

NEUTRAL_VALUES: dict[str, Any] = {
    "repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0, "min_length": 0, "min_new_tokens": 0, "top_k": 0, "top_p": 1.0,
    "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "guidance_scale": 1.0, "num_beams": 1,
    "num_return_sequences": 1, "remove_invalid_values": False,
}
"""Values at which a distribution-changing option changes nothing (a checkpoint may spell them out)."""


def checkpoint_options(config: Any) -> dict[str, Any]:
    """The options a `GenerationConfig` sets, other than its token ids."""
    return {k: v for k, v in config.to_diff_dict().items() if k not in TOKEN_ID_FIELDS}


def unsupported_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options that would make the sampled distribution differ from `softmax(logits / T)`."""
    return {
        name: value
        for name, value in options.items()
        if name not in SAMPLING_FIELDS and name not in HARMLESS_FIELDS and NEUTRAL_VALUES.get(name, None) != value
    }


def take_generation_defaults(model: Any, *, use: bool, temperature: float, where: str) -> float:
    """Give `model` a generation config holding only the checkpoint's token ids; return the sampling temperature.

    `use=False`: the checkpoint's options are ignored (listed in the log) and `temperature` is returned.
    `use=True`: the checkpoint must set `do_sample=true`; its `temperature` (when set) is returned, and an option
    of `unsupported_options` is a `ValueError` that lists them all.
    """
    checkpoint = model.generation_config
    options = checkpoint_options(checkpoint)
    model.generation_config = token_ids_only(checkpoint)
    if not use:
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(options.items()) if k not in HARMLESS_FIELDS)
        if shown:
            log.info("%s: ignoring the checkpoint's generation defaults %s (sampling.use_generation_config = false); "
                     "the policy samples softmax(logits / %s)", where, shown, temperature)
        return temperature
    if options.get("do_sample") is not True:
        raise ValueError(
            f"{where}/generation_config.json does not set do_sample=true (it decodes greedily), but the policy must "
            "sample: set sampling.use_generation_config = false and choose sampling.temperature"
        )
    refused = unsupported_options(options)
    if refused:
        listed = ", ".join(f"{k}={v!r}" for k, v in sorted(refused.items()))
        raise ValueError(
            f"{where}/generation_config.json sets {listed}: the loss recomputes log softmax(logits / T) only, so "
            "sampling with these would be off-policy. Set sampling.use_generation_config = false (the checkpoint's "
            "defaults are then ignored), or remove these options from the file (supported: do_sample, temperature)"
        )
    adopted = options.get("temperature", temperature)
    if adopted <= 0:
        raise ValueError(f"{where}/generation_config.json: temperature must be > 0 to sample, got {adopted}")
    return float(adopted)
