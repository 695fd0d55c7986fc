"""The policy's prompts: STEP's step prompt and the trajectory prompt of T-GRPO's trajectory variant.

Step prompt (docs/algorithms.md, step decomposition): `step_envs.agents.prompt.step_messages`, the same prompt the
`hf` and `openai` benchmark agents send: the dialect's action format, then one user turn with the instruction, the
last `H` actions as the dialect writes them and the current screenshot. Trajectory prompt: the instruction and the first screenshot, then for
every earlier step the policy's reply and the next screenshot, as a chat.

A prompt is rendered by the model's chat template with a marker in place of every earlier reply; the text around
the markers is tokenized by the processor (which expands image placeholders) and the replies are spliced in as the
exact token ids the policy generated. Generation and the training forward pass build their inputs with the same
function, so the training log-probs are computed on the very tokens the rollout saw. `count_chat_tokens` gives
the same length without processing pixels: what a length cap decides on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
from PIL import Image

from step_envs.actions import ActionSet
from step_envs.core import DEFAULT_SCREEN
from step_train.policy.processing import Segment, encode_segment, image_token, processor_tokenizer

REPLY_MARKER = "\x00STEP_REPLY_{}\x00"
_MARKER_RE = re.compile("\x00STEP_REPLY_(\\d+)\x00")


@dataclass(frozen=True)
class Trajectory:
    """What a trajectory prompt is built from: the task's instruction, the screenshots so far (as the policy
    `observe`d them), the token ids of the replies to them, and the env's action space and screen size. The prompt
    for the next action has one reply fewer than screenshots; a whole trajectory (for training) one per screenshot."""

    instruction: str
    images: Sequence[Image.Image]
    replies: Sequence[Sequence[int]]
    action_space: str = "pyautogui"
    screen_size: tuple[int, int] = DEFAULT_SCREEN

    def before(self, step: int) -> Trajectory:
        """The prompt of the action at `step`: the screenshots up to that step's and the replies before it."""
        return replace(self, images=self.images[: step + 1], replies=self.replies[:step])


def trajectory_messages(
    instruction: str,
    num_screens: int,
    actions: ActionSet,
    screen_size: tuple[int, int],
    image_size: tuple[int, int] | None = None,
    omitted: int = 0,
) -> list[dict]:
    """The trajectory prompt: screenshot k is followed by the marker of reply k (all but the last screenshot).

    The first `omitted` screenshots are left out (a length cap): the prompt says how many, and their turns keep
    the text and the replies, so every earlier action stays in the prompt.
    """
    if not 0 <= omitted < num_screens:
        raise ValueError(f"{omitted} omitted screens of {num_screens}: the current screen is always shown")
    first = f"Task: {instruction}\n"
    if omitted:
        first += f"({omitted} earlier {'screen' if omitted == 1 else 'screens'} omitted)\n"
    messages: list[dict] = [
        {"role": "system", "content": actions.describe(screen_size, image_size)},
        {"role": "user", "content": _screen(first + "Current screen:", shown=omitted == 0)},
    ]
    for k in range(1, num_screens):
        messages.append({"role": "assistant", "content": REPLY_MARKER.format(k - 1)})
        messages.append({"role": "user", "content": _screen("Next screen:", shown=k >= omitted)})
    return messages


def _screen(text: str, shown: bool) -> list[dict]:
    if shown:
        return [{"type": "text", "text": text}, {"type": "image"}]
    return [{"type": "text", "text": f"{text} (omitted)"}]


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
    token = image_token(processor)
    remaining = list(images)
    encoded = Encoded([], [])
    for piece in _chat_pieces(processor, messages, replies, add_generation_prompt, eos_texts):
        if isinstance(piece, int):
            encoded.add_reply(replies[piece])
            continue
        count = piece.count(token) if token else 0
        encoded.add(encode_segment(processor, piece, remaining[:count]))
        remaining = remaining[count:]
    if remaining:
        raise ValueError(f"{len(remaining)} images left without a placeholder in the rendered prompt")
    if final_reply is not None:
        encoded.add_reply(final_reply)
    return encoded


def count_chat_tokens(
    processor,
    messages: list[dict],
    image_tokens: Sequence[int],
    replies: Sequence[Sequence[int]] = (),
    *,
    eos_texts: Sequence[str] = (),
) -> int:
    """`len(encode_chat(processor, messages, images, replies).input_ids)` without processing any pixels: the text
    pieces are tokenized, and the placeholder of image `i` counts as the `image_tokens[i]` tokens it expands to
    (`image_token_count`)."""
    token = image_token(processor)
    tokenizer = processor_tokenizer(processor)
    placeholder = len(tokenizer(token, add_special_tokens=False)["input_ids"]) if token else 0
    total, images = 0, 0
    for piece in _chat_pieces(processor, messages, replies, True, eos_texts):
        if isinstance(piece, int):
            total += len(replies[piece])
            continue
        count = piece.count(token) if token else 0
        total += len(tokenizer(piece, add_special_tokens=False)["input_ids"]) - count * placeholder
        total += sum(image_tokens[images : images + count])
        images += count
    if images != len(image_tokens):
        raise ValueError(f"{len(image_tokens)} image token counts for {images} image placeholders")
    return total


def image_token_count(processor, image: Image.Image) -> int:
    """How many tokens the processor expands one image placeholder to for this image (its size decides)."""
    return len(encode_segment(processor, image_token(processor) or "", [image]).input_ids)


def _chat_pieces(
    processor, messages: list[dict], replies: Sequence[Sequence[int]], add_generation_prompt: bool,
    eos_texts: Sequence[str],
) -> list[str | int]:
    """The rendered chat cut at the reply markers: text pieces (without the end-of-turn text the reply before them
    already holds) and, between them, reply indices."""
    text = processor.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False)
    pieces: list[str | int] = []
    for index, piece in enumerate(_MARKER_RE.split(text)):
        if index % 2 == 1:
            pieces.append(int(piece))
        elif index > 0:
            pieces.append(_strip_end_of_turn(piece, replies[pieces[-1]], processor, eos_texts))  # type: ignore[index]
        else:
            pieces.append(piece)
    return pieces


def _strip_end_of_turn(piece: str, reply: Sequence[int], processor, eos_texts: Sequence[str]) -> str:
    if not reply:
        return piece
    last = processor_tokenizer(processor).convert_ids_to_tokens(int(reply[-1]))
    if last in eos_texts and piece.startswith(last):
        return piece[len(last) :]
    return piece
