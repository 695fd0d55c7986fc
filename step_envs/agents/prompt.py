"""The step prompt every model agent sends (`openai`, `hf`, and the trainer's policy): one builder, so a checkpoint
scores in `step-envs bench` on exactly the prompt it was trained on.

The system message is the action set's `describe` (the reply format and coordinates of the model's dialect); the
user message is the instruction, the last H actions written in the dialect, and the screenshot:

    Task: <instruction>
    Previous actions:
    1. <action>
    ...
    Current screen: <image> What is the next action?
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from step_envs.actions import ActionSet
from step_envs.agents.a11y import TAGS_HINT, a11y_text
from step_envs.pool.agent import Turn

IMAGE_SLOT = {"type": "image"}
"""Where the screenshot goes in a message's content (chat templates render it as the image placeholder)."""


def downscale(screenshot: np.ndarray | Image.Image, max_pixels: int | None, *,
              resample: Image.Resampling = Image.Resampling.BICUBIC) -> Image.Image:
    """The screenshot as an RGB image of at most `max_pixels` pixels (aspect kept; as is when None): what the
    model is given, before its processor's own resize. `resample=NEAREST` is ~20x faster, for an image no model
    looks at (only its size counts)."""
    image = screenshot if isinstance(screenshot, Image.Image) else Image.fromarray(np.asarray(screenshot))
    if image.mode != "RGB" or image is screenshot:  # an array's image is a new one already: no second copy
        image = image.convert("RGB")
    width, height = image.size
    if not max_pixels or width * height <= max_pixels:
        return image
    scale = (max_pixels / (width * height)) ** 0.5
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    return image.resize(size, resample)


def history_text(history: Sequence[str]) -> str:
    """The actions of the prompt, numbered from 1, oldest first."""
    if not history:
        return "Previous actions: none."
    return "\n".join(["Previous actions:", *(f"{i + 1}. {action}" for i, action in enumerate(history))])


def recent(history: Sequence[str], limit: int | None) -> list[str]:
    """The last `limit` actions (all when None, none when 0): what a step prompt shows."""
    if limit is None:
        return list(history)
    return list(history[-limit:]) if limit > 0 else []


@dataclass(frozen=True)
class Observation:
    """What a step prompt shows of the screen, as in OSWorld's baselines: the screenshot, the accessibility tree as
    a table (`a11y.a11y_text`), or both. Configs and flags write it by name (`OBSERVATIONS`)."""

    screenshot: bool = True
    a11y: bool = False

    def __post_init__(self) -> None:
        if not (self.screenshot or self.a11y):
            raise ValueError("an observation shows the screenshot, the accessibility tree or both")

    @classmethod
    def named(cls, name: str) -> Observation:
        """The observation called `name`: `screenshot`, `a11y` or `screenshot+a11y`."""
        if name not in OBSERVATIONS:
            raise ValueError(f"unknown observation {name!r}; known: {', '.join(OBSERVATIONS)}")
        return OBSERVATIONS[name]

    @property
    def name(self) -> str:
        """What configs and flags call it."""
        return "+".join(part for part, shown in (("screenshot", self.screenshot), ("a11y", self.a11y)) if shown)


OBSERVATIONS = {observation.name: observation for observation in
                (Observation(), Observation(screenshot=False, a11y=True), Observation(a11y=True))}
"""The observations by the names configs and flags give them."""


def step_messages(instruction: str, history: Sequence[str], actions: ActionSet, screen_size: tuple[int, int],
                  image_size: tuple[int, int] | None = None, *, observation: Observation = Observation(),
                  a11y_tree: str | None = None, max_a11y_rows: int = 60, a11y_scope: str = "all",
                  a11y_tags: bool = False) -> list[dict]:
    """The step prompt as chat messages. `history` holds the env actions to show (the caller keeps the last H,
    see `recent`), oldest first, written as `actions` writes them (points in the model's frame). `observation`
    picks what the user turn shows: one image slot for the screenshot, the accessibility tree `a11y_tree` (XML)
    as a table with its points in the model's frame (of the whole screen or, `a11y_scope="active"`, of the active
    window; `a11y_tags`: numbered rows an action may name as `tag_N`), or both."""
    if actions.needs_image_size and not observation.screenshot:
        raise ValueError(f"dialect {actions.name!r} writes points in the pixels of the screenshot it sees; observation "
                         f"{observation.name!r} shows none: use 'screenshot' or 'screenshot+a11y'")
    rendered = [actions.render(a, screen_size, image_size) for a in history]
    content: list[dict] = [{"type": "text", "text": f"Task: {instruction}\n{history_text(rendered)}"}]
    if observation.a11y:
        if a11y_tree is None:
            raise ValueError(f"observation {observation.name!r} shows the accessibility tree: run the env with "
                             "a11y_tree=True so observations carry it")
        table = a11y_text(a11y_tree, screen_size, actions.dialect.frame, image_size, max_a11y_rows, a11y_scope,
                          a11y_tags)
        content.append({"type": "text", "text": f"\nAccessibility tree:\n{table}" + (f"\n{TAGS_HINT}" if a11y_tags
                                                                                      else "")})
    if observation.screenshot:
        content += [{"type": "text", "text": "\nCurrent screen:"}, dict(IMAGE_SLOT)]
    content.append({"type": "text", "text": ("" if observation.screenshot else "\n") + "What is the next action?"})
    return [{"role": "system", "content": actions.describe(screen_size, image_size)},
            {"role": "user", "content": content}]


def screenshot_image(turn: Turn) -> Image.Image:
    screenshot = turn.observation.get("screenshot")
    if not isinstance(screenshot, np.ndarray) or screenshot.ndim != 3:
        raise ValueError("the observation has no screenshot (an H x W x 3 uint8 array)")
    return Image.fromarray(screenshot.astype(np.uint8, copy=False))


def image_data_url(image: Image.Image, image_format: str = "png", quality: int = 85) -> str:
    """The image as a base64 data URL, the form OpenAI-compatible servers accept for `image_url`."""
    image_format = image_format.lower()
    if image_format not in ("png", "jpeg"):
        raise ValueError(f"image_format must be png or jpeg, got {image_format!r}")
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format=image_format.upper(),
                              **({"quality": quality} if image_format == "jpeg" else {}))
    return f"data:image/{image_format};base64,{base64.b64encode(buffer.getvalue()).decode()}"
