"""`hf`: a local Hugging Face vision-language model directory, run with transformers `generate`.

A minimal agent for scoring a checkpoint on a suite: one turn at a time, greedy by default, the same prompt as
the `openai` agent, the reply through the shared `parse_reply`. It keeps the generated token ids and their
log-probs on the `AgentAction`. transformers and torch are imported when the agent is built, never by
`import step_envs`. (The trainer's policy in `step_train.policy` is the batched, LoRA-aware path.)

Qwen2-VL-family processors in recent transformers want torchvision for their video half; without it the agent
assembles the image path itself: the tokenizer, the image processor, and one image-pad token per merged patch.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from step_envs.agents.base import AgentAction, Turn
from step_envs.agents.parsing import COORDINATE_MODES, parse_reply
from step_envs.agents.prompt import screenshot_image, system_prompt, user_text
from step_envs.tasks import Task


class _ImageTokenProcessor:
    """Tokenizer + image processor doing a Qwen2-VL processor's image job (no torchvision needed): the image
    placeholder token becomes ``prod(image_grid_thw) / merge_size**2`` copies of itself."""

    def __init__(self, tokenizer: Any, image_processor: Any, image_token: str = "<|image_pad|>") -> None:
        self.tokenizer, self.image_processor = tokenizer, image_processor
        self.image_token = getattr(tokenizer, "image_token", None) or image_token

    def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        return self.tokenizer.apply_chat_template(messages, **kwargs)

    def __call__(self, text: str, images: list[Any], return_tensors: str = "pt") -> dict[str, Any]:
        inputs = dict(self.image_processor(images=images, return_tensors=return_tensors))
        pieces = text.split(self.image_token)
        if len(pieces) - 1 != len(images):
            raise ValueError(f"{len(pieces) - 1} image placeholders in the prompt for {len(images)} images")
        merge = getattr(self.image_processor, "merge_size", 1) ** 2
        counts = [int(grid.prod()) // merge for grid in inputs["image_grid_thw"]]
        text = pieces[0] + "".join(self.image_token * n + rest for n, rest in zip(counts, pieces[1:], strict=True))
        inputs.update(self.tokenizer(text, add_special_tokens=False, return_tensors=return_tensors))
        return inputs


def load_processor(path: str | Path) -> Any:
    """The directory's `AutoProcessor`, or the image-only stand-in when only torchvision is missing."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    try:
        processor = AutoProcessor.from_pretrained(str(path))
    except ImportError as exc:
        if "torchvision" not in str(exc).lower():
            raise
        processor = None
    if processor is None or not hasattr(processor, "image_processor"):
        image_processor = AutoImageProcessor.from_pretrained(str(path))
        if not hasattr(image_processor, "merge_size"):
            raise ImportError(f"the processor of {path} needs torchvision: install the build matching your torch")
        processor = _ImageTokenProcessor(AutoTokenizer.from_pretrained(str(path)), image_processor)
    return processor


class HFAgent:
    """Loads `path` (a model directory with its processor) with transformers on `device`."""

    name = "hf"

    def __init__(self, path: str | None = None, *, model: str | None = None, device: str = "cpu",
                 max_new_tokens: int = 256, temperature: float = 0.0, coordinates: str = "absolute",
                 max_history: int = 10, seed: int = 0) -> None:
        import torch
        from transformers import AutoModelForImageTextToText

        path = path or model
        if not path or not Path(path).is_dir():
            raise ValueError(f"the hf agent needs a local model directory (--model DIR), got {path!r}")
        if coordinates not in COORDINATE_MODES:
            raise ValueError(f"coordinates must be one of {COORDINATE_MODES}, got {coordinates!r}")
        self.path, self.device = str(path), device
        self.max_new_tokens, self.temperature = int(max_new_tokens), float(temperature)
        self.coordinates, self.max_history, self.seed = coordinates, int(max_history), int(seed)
        self.processor = load_processor(self.path)
        self.model = AutoModelForImageTextToText.from_pretrained(self.path).to(device).eval()
        self._torch = torch

    def reset(self, task: Task, key: str) -> None:
        """Stateless: the prompt is rebuilt from the turn every step."""

    def end(self, key: str) -> None:
        """Stateless, see `reset`."""

    def act(self, turns: list[Turn]) -> list[AgentAction | str]:
        return [self._act_one(turn) for turn in turns]

    def _inputs(self, turn: Turn) -> dict[str, Any]:
        messages = [
            {"role": "system", "content": system_prompt(turn.action_space, turn.screen_size, self.coordinates)},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": user_text(turn, self.max_history)}]},
        ]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = self.processor(text=text, images=[screenshot_image(turn)], return_tensors="pt")
        return {k: v.to(self.device) if hasattr(v, "to") else v for k, v in dict(inputs).items()}

    def _act_one(self, turn: Turn) -> AgentAction:
        t0 = time.monotonic()
        inputs = self._inputs(turn)
        sample = self.temperature > 0
        self._torch.manual_seed(self.seed + turn.step)
        with self._torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=sample,
                                      temperature=self.temperature if sample else None, top_p=None, top_k=None,
                                      return_dict_in_generate=True, output_scores=True)
        prompt_len = inputs["input_ids"].shape[1]
        token_ids = out.sequences[0, prompt_len:]
        scores = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)[0]
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        raw = tokenizer.decode(token_ids, skip_special_tokens=True)
        parsed = parse_reply(raw, turn.action_space, turn.screen_size, self.coordinates)
        return AgentAction(parsed.action, raw=raw, parse_error=parsed.error, token_ids=token_ids.tolist(),
                           logprobs=scores.tolist(), info={"latency_s": time.monotonic() - t0})
