"""Coordinate frames: where a model's points live, and how they map to the screen the env drives.

- ``screen``: pixels of the env's screen, as written (``pyautogui``, ``computer_13``).
- ``grid``: 0-1000 on both axes, (0, 0) top left and (1000, 1000) bottom right (Qwen2-VL, UI-TARS v1); a point
  written with floats in [0, 1] is read as a fraction of the screen.
- ``image``: pixels of the image the model saw after its processor resized it (Qwen2.5-VL, UI-TARS-1.5). The
  screen point is ``x * screen_width / image_width`` (and the same for y); the image size comes from the
  processor's own resize rule (`smart_resize`).

Every mapped point is rounded to a pixel and clamped to the last one, so 1000 (or the image's right edge) lands on
the screen.
"""

from __future__ import annotations

import math
from typing import Any, Literal

FrameKind = Literal["screen", "grid", "image"]
FRAMES: tuple[str, ...] = ("screen", "grid", "image")
GRID = 1000
"""Grid coordinates run from 0 to this on both axes."""

QWEN_PATCH_FACTOR = 28
"""Qwen2-VL-family images are resized to multiples of patch size 14 x merge size 2."""
QWEN_MIN_PIXELS = 56 * 56
QWEN_MAX_PIXELS = 28 * 28 * 16384
"""What Qwen2-VL / Qwen2.5-VL checkpoints' `preprocessor_config.json` set (min 3,136 px, max 12,845,056 px)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def smart_resize(width: int, height: int, factor: int = QWEN_PATCH_FACTOR, min_pixels: int = QWEN_MIN_PIXELS,
                 max_pixels: int = QWEN_MAX_PIXELS) -> tuple[int, int]:
    """The (width, height) a Qwen2-VL-family processor resizes an image to: both sides rounded to a multiple of
    `factor`, then scaled by `sqrt(max_pixels / (h * w))` (floored to the factor) when above `max_pixels`, or by
    `sqrt(min_pixels / (h * w))` (ceiled) when below `min_pixels`. The aspect ratio is kept within one factor."""
    if min(width, height) < 1:
        raise ValueError(f"an image is at least 1x1 pixels, got {width}x{height}")
    h, w = round(height / factor) * factor, round(width / factor) * factor
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return w, h


def _clamp(value: float, size: int) -> int:
    return max(0, min(round(value), size - 1))


def to_screen(x: Any, y: Any, frame: str, screen_size: tuple[int, int],
              image_size: tuple[int, int] | None = None) -> tuple[Any, Any]:
    """A point of `frame` in screen pixels; ValueError when it is not a pair of numbers inside the frame."""
    if frame == "screen":
        return x, y
    if not (_is_number(x) and _is_number(y)):
        raise ValueError(f"coordinates must be numbers, got {x!r}, {y!r}")
    width, height = screen_size
    if frame == "grid":
        unit = 1.0 if (isinstance(x, float) or isinstance(y, float)) and 0 <= x <= 1 and 0 <= y <= 1 else GRID
        if not (0 <= x <= unit and 0 <= y <= unit):
            raise ValueError(f"grid point ({x:g}, {y:g}) is outside 0-{unit:g}")
        return _clamp(x / unit * width, width), _clamp(y / unit * height, height)
    if frame == "image":
        if image_size is None:
            raise ValueError("points in image pixels need the size of the image the model saw (image_size)")
        image_width, image_height = image_size
        if not (0 <= x <= image_width and 0 <= y <= image_height):
            raise ValueError(f"point ({x:g}, {y:g}) is outside the {image_width}x{image_height} image")
        return _clamp(x * width / image_width, width), _clamp(y * height / image_height, height)
    raise ValueError(f"unknown coordinate frame {frame!r}; known: {', '.join(FRAMES)}")


def from_screen(x: float, y: float, frame: str, screen_size: tuple[int, int],
                image_size: tuple[int, int] | None = None) -> tuple[int, int]:
    """A screen pixel written in `frame` (the inverse of `to_screen`, rounded): how history is shown to a model."""
    width, height = screen_size
    if frame == "screen":
        return round(x), round(y)
    if frame == "grid":
        return round(x * GRID / width), round(y * GRID / height)
    if frame == "image":
        if image_size is None:
            raise ValueError("points in image pixels need the size of the image the model saw (image_size)")
        return round(x * image_size[0] / width), round(y * image_size[1] / height)
    raise ValueError(f"unknown coordinate frame {frame!r}; known: {', '.join(FRAMES)}")


def frame_text(frame: str, screen_size: tuple[int, int], image_size: tuple[int, int] | None = None) -> str:
    """One sentence telling a model which coordinates to write."""
    if frame == "screen":
        return f"Coordinates are pixels on the {screen_size[0]}x{screen_size[1]} screen, (0, 0) top left."
    if frame == "grid":
        return f"Coordinates are relative: 0-{GRID} on each axis, (0, 0) top left, ({GRID}, {GRID}) bottom right."
    if image_size is None:
        raise ValueError("points in image pixels need the size of the image the model saw (image_size)")
    return f"Coordinates are pixels of the {image_size[0]}x{image_size[1]} screenshot you see, (0, 0) top left."
