"""`hf`: a local Hugging Face vision-language model directory (optionally with a trained LoRA adapter), run with
transformers `generate`.

For scoring a model or a trained checkpoint on a suite: one turn at a time, greedy by default, with the trainer's
step prompt (`agents.prompt.step_messages`), the screenshot downscaled as the trainer's policy does (`max_pixels`)
and the reply read by the model dialect's action set. `adapter=CHECKPOINT_DIR` loads the LoRA adapter of a
`step-train` checkpoint (its `adapter/` folder, or the folder itself) and, unless given, takes the run's dialect,
history length, `max_pixels` and observation (screenshot / a11y / both) from the checkpoint's saved config, so
`step-envs bench --agent hf --model DIR --adapter CKPT` sees exactly the prompt the policy was trained on. A fully
fine-tuned checkpoint is `--model CKPT/model`: its saved config is read the same way.

Generation ignores the checkpoint's `generation_config.json` sampling defaults (repetition penalty, top-k, ...):
greedy is greedy, and `temperature > 0` samples from `softmax(logits / temperature)`. The agent keeps the generated
token ids and their log-probs on the `AgentAction`. transformers, peft and torch are imported when the agent is
built, never by `import step_envs`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from step_envs.actions import ActionSet, ParsedReply, action_set, get_dialect
from step_envs.agents.a11y import check_scope, parse_tagged
from step_envs.agents.processor import (
    check_model_dir,
    load_processor,
    model_image_size,
    processor_tokenizer,
    token_ids_only,
)
from step_envs.agents.prompt import Observation, downscale, recent, screenshot_image, step_messages
from step_envs.pool.agent import AgentAction, Turn
from step_envs.tasks import Task


def adapter_run_config(adapter: str | Path) -> tuple[Path, dict[str, Any]]:
    """The adapter folder of a `step-train` checkpoint (`CKPT/adapter` or the folder given) and the run config the
    checkpoint saved (`CKPT/state.json`; empty when the adapter comes without one)."""
    path = Path(adapter).expanduser()
    adapter_dir = path / "adapter" if (path / "adapter" / "adapter_config.json").is_file() else path
    if not (adapter_dir / "adapter_config.json").is_file():
        raise FileNotFoundError(f"no LoRA adapter at {path}: expected adapter_config.json there or in {path}/adapter "
                                "(a step-train checkpoint: RUN_DIR/checkpoints/round-NNNNNN)")
    return adapter_dir, saved_run_config(adapter_dir)


def saved_run_config(directory: Path) -> dict[str, Any]:
    """The run config a `step-train` checkpoint saved next to `directory` (its `adapter/` or, after full
    fine-tuning, its `model/`): `CKPT/state.json`'s `config`; empty for a model that is not a checkpoint's."""
    for state in (directory / "state.json", directory.parent / "state.json"):
        if state.is_file():
            return json.loads(state.read_text()).get("config", {})
    return {}


class HFAgent:
    """Loads `path` (a model directory with its processor), plus `adapter`, with transformers on `device`."""

    name = "hf"

    def __init__(self, path: str | None = None, *, model: str | None = None, adapter: str | None = None,
                 device: str = "cpu", max_new_tokens: int = 256, temperature: float = 0.0,
                 dialect: str | None = None, max_history: int | None = None, max_pixels: int | None = None,
                 observation: str | None = None, seed: int = 0) -> None:
        import torch
        from transformers import AutoModelForImageTextToText

        path = path or model
        if not path:
            raise ValueError("the hf agent needs a local model directory (--model DIR)")
        directory = check_model_dir(path)
        adapter_dir = None
        if adapter:
            adapter_dir, run = adapter_run_config(adapter)
        else:
            run = saved_run_config(directory)  # a fully fine-tuned checkpoint's model/
        if run.get("model", {}).get("pointer_head"):
            raise ValueError(f"{adapter or directory} was trained with a pointer head (model.pointer_head), which "
                             "picks its tags' elements outside the language model; the hf agent runs the language "
                             "model alone: evaluate it with `step-train eval CHECKPOINT`")
        self.dialect = dialect or run.get("model", {}).get("dialect")
        if self.dialect is not None:
            get_dialect(self.dialect)
        history = run.get("algo", {}).get("history")
        self.max_history = int(max_history if max_history is not None else history if history is not None else 10)
        sampling = run.get("sampling", {})
        self.max_pixels = max_pixels if max_pixels is not None else sampling.get("max_pixels")
        self.observation = Observation.named(observation or sampling.get("observation", "screenshot"))
        self.max_a11y_rows = int(sampling.get("max_a11y_rows", 60))
        self.a11y_scope = str(sampling.get("a11y_scope", "all"))
        self.a11y_tags = bool(sampling.get("a11y_tags", False))
        check_scope(self.a11y_scope)
        self.path, self.device = str(directory), device
        self.max_new_tokens, self.temperature, self.seed = int(max_new_tokens), float(temperature), int(seed)
        self.processor = load_processor(directory)
        self.tokenizer = processor_tokenizer(self.processor)
        base = AutoModelForImageTextToText.from_pretrained(self.path)
        base.generation_config = token_ids_only(base.generation_config)  # drop the checkpoint's sampling defaults
        if adapter_dir is not None:
            from peft import PeftModel

            base = PeftModel.from_pretrained(base, str(adapter_dir))
        self.model = base.to(device).eval()
        self._torch = torch

    def reset(self, task: Task, key: str) -> None:
        """Stateless: the prompt is rebuilt from the turn every step."""

    def end(self, key: str) -> None:
        """Stateless, see `reset`."""

    def act(self, turns: list[Turn]) -> list[AgentAction | str]:
        return [self._act_one(turn) for turn in turns]

    def actions(self, turn: Turn) -> ActionSet:
        """The dialect's action set on the env's action space (the dialect named like the space by default)."""
        return action_set(self.dialect or turn.action_space, turn.action_space)

    def _inputs(self, turn: Turn) -> tuple[dict[str, Any], tuple[int, int]]:
        image = downscale(screenshot_image(turn), self.max_pixels)
        image_size = model_image_size(self.processor, image.size)
        history = recent(turn.history, self.max_history)
        messages = step_messages(turn.task.instruction, history, self.actions(turn), turn.screen_size, image_size,
                                 observation=self.observation, a11y_tree=turn.observation.get("a11y_tree"),
                                 max_a11y_rows=self.max_a11y_rows, a11y_scope=self.a11y_scope,
                                 a11y_tags=self.a11y_tags)
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        images = [image] if self.observation.screenshot else None
        inputs = self.processor(text=[text], images=images, return_tensors="pt")
        return {k: v.to(self.device) if hasattr(v, "to") else v for k, v in dict(inputs).items()}, image_size

    def _generation_config(self) -> Any:
        """Only what this agent asks for: the checkpoint's own sampling defaults are not merged in."""
        from transformers import GenerationConfig

        sample = self.temperature > 0
        return GenerationConfig(max_new_tokens=self.max_new_tokens, do_sample=sample,
                                temperature=self.temperature if sample else None, top_k=0 if sample else None,
                                top_p=1.0 if sample else None,
                                eos_token_id=self.model.generation_config.eos_token_id,
                                pad_token_id=self.model.generation_config.pad_token_id,
                                return_dict_in_generate=True, output_scores=True)

    def _parse(self, raw: str, turn: Turn, image_size: tuple[int, int] | None) -> ParsedReply:
        """The reply read in the dialect; with `a11y_tags`, its `tag_N` first become the rows' centres."""
        tree = turn.observation.get("a11y_tree")
        if self.a11y_tags and tree is not None:
            return parse_tagged(self.actions(turn), raw, tree, turn.screen_size, image_size, self.max_a11y_rows,
                                self.a11y_scope)
        return self.actions(turn).parse(raw, turn.screen_size, image_size)

    def _act_one(self, turn: Turn) -> AgentAction:
        t0 = time.monotonic()
        inputs, image_size = self._inputs(turn)
        self._torch.manual_seed(self.seed + turn.step)
        with self._torch.no_grad():
            out = self.model.generate(**inputs, generation_config=self._generation_config())
        prompt_len = inputs["input_ids"].shape[1]
        token_ids = out.sequences[0, prompt_len:]
        scores = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)[0]
        raw = self.tokenizer.decode(token_ids, skip_special_tokens=True)
        parsed = self._parse(raw, turn, image_size)
        return AgentAction(parsed.action, raw=raw, parse_error=parsed.error, token_ids=token_ids.tolist(),
                           logprobs=scores.tolist(), info={"latency_s": time.monotonic() - t0})
