"""The policy's prompts: STEP's step prompt and the trajectory prompt of T-GRPO's trajectory variant.

Step prompt (STEP.md §4): system text with the action space, then one user turn with the instruction, the last `H`
actions as text and the current screenshot. Trajectory prompt: the instruction and the first screenshot, then for
every earlier step the policy's reply and the next screenshot, as a chat.

A prompt is rendered by the model's chat template with a marker in place of every earlier reply; the text around
the markers is tokenized by the processor (which expands image placeholders) and the replies are spliced in as the
exact token ids the policy generated. Generation and the training forward pass build their inputs with the same
function, so the training log-probs are computed on the very tokens the rollout saw.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from step_envs.agents.prompt import system_prompt
from step_train.policy.processing import Segment, encode_segment, image_token, processor_tokenizer

REPLY_MARKER = "\x00STEP_REPLY_{}\x00"
_MARKER_RE = re.compile("\x00STEP_REPLY_(\\d+)\x00")

def system_text(action_space: str, screen_size: tuple[int, int], coordinates: str = "absolute") -> str:
    """The benchmark agents' system prompt (one prompt, so a policy scores alike in `bench` and in training)."""
    if action_space not in ("pyautogui", "computer_13"):
        raise ValueError(f"unknown action space {action_space!r}; known: pyautogui, computer_13")
    return system_prompt(action_space, screen_size, coordinates)


def downscale(screenshot: np.ndarray | Image.Image, max_pixels: int) -> Image.Image:
    """The screenshot as an RGB image of at most `max_pixels` pixels (aspect kept): what the model sees."""
    image = screenshot if isinstance(screenshot, Image.Image) else Image.fromarray(np.asarray(screenshot))
    image = image.convert("RGB")
    width, height = image.size
    if width * height <= max_pixels:
        return image
    scale = (max_pixels / (width * height)) ** 0.5
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC)


def history_text(history: Sequence[str]) -> str:
    if not history:
        return "Previous actions: none."
    return "Previous actions:\n" + "\n".join(f"{i + 1}. {a}" for i, a in enumerate(history))


def step_messages(
    instruction: str,
    history: Sequence[str],
    action_space: str,
    screen_size: tuple[int, int],
    coordinates: str = "absolute",
) -> list[dict]:
    """STEP's step prompt as chat messages; the one image slot is the current screenshot."""
    return [
        {"role": "system", "content": system_text(action_space, screen_size, coordinates)},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": f"Task: {instruction}\n{history_text(history)}\nCurrent screen:"},
                {"type": "image"},
                {"type": "text", "text": "What is the next action?"},
            ],
        },
    ]


def trajectory_messages(
    instruction: str,
    num_screens: int,
    action_space: str,
    screen_size: tuple[int, int],
    coordinates: str = "absolute",
) -> list[dict]:
    """The trajectory prompt: screenshot k is followed by the marker of reply k (all but the last screenshot)."""
    messages: list[dict] = [
        {"role": "system", "content": system_text(action_space, screen_size, coordinates)},
        {
            "role": "user",
            "content": [{"type": "text", "text": f"Task: {instruction}\nCurrent screen:"}, {"type": "image"}],
        },
    ]
    for k in range(1, num_screens):
        messages.append({"role": "assistant", "content": REPLY_MARKER.format(k - 1)})
        messages.append({"role": "user", "content": [{"type": "text", "text": "Next screen:"}, {"type": "image"}]})
    return messages


@dataclass
class Encoded:
    """One tokenized sequence: ids, modality types, image tensors and where each reply's tokens sit."""

    input_ids: list[int]
    mm_token_type_ids: list[int]
    image_inputs: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    reply_spans: list[tuple[int, int]] = field(default_factory=list)

    def add(self, segment: Segment) -> None:
        self.input_ids.extend(segment.input_ids)
        self.mm_token_type_ids.extend(segment.mm_token_type_ids)
        for key, value in segment.image_inputs.items():
            self.image_inputs.setdefault(key, []).append(value)

    def add_reply(self, token_ids: Sequence[int]) -> None:
        start = len(self.input_ids)
        self.input_ids.extend(token_ids)
        self.mm_token_type_ids.extend([0] * len(token_ids))
        self.reply_spans.append((start, len(self.input_ids)))


def encode_chat(
    processor,
    messages: list[dict],
    images: Sequence[Image.Image],
    replies: Sequence[Sequence[int]] = (),
    *,
    add_generation_prompt: bool = True,
    final_reply: Sequence[int] | None = None,
    eos_texts: Sequence[str] = (),
) -> Encoded:
    """Render `messages` and tokenize them around the reply markers, splicing in each reply's token ids.

    A reply that ended with an end-of-turn token already holds what the template writes after the reply, so that
    text is dropped from the start of the following segment. `final_reply` (training) is appended after the
    generation prompt as the last reply.
    """
    text = processor.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False)
    pieces = _MARKER_RE.split(text)
    token = image_token(processor)
    remaining = list(images)
    encoded = Encoded([], [])
    for index, piece in enumerate(pieces):
        if index % 2 == 1:
            encoded.add_reply(replies[int(piece)])
            continue
        if index > 0:
            piece = _strip_end_of_turn(piece, replies[int(pieces[index - 1])], processor, eos_texts)
        count = piece.count(token) if token else 0
        encoded.add(encode_segment(processor, piece, remaining[:count]))
        remaining = remaining[count:]
    if remaining:
        raise ValueError(f"{len(remaining)} images left without a placeholder in the rendered prompt")
    if final_reply is not None:
        encoded.add_reply(final_reply)
    return encoded


def _strip_end_of_turn(piece: str, reply: Sequence[int], processor, eos_texts: Sequence[str]) -> str:
    if not reply:
        return piece
    last = processor_tokenizer(processor).convert_ids_to_tokens(int(reply[-1]))
    if last in eos_texts and piece.startswith(last):
        return piece[len(last) :]
    return piece
