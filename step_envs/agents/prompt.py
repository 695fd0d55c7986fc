"""The prompt the model agents (`openai`, `hf`) send: instruction, screenshot, the actions so far, the format.

One prompt for both so a model scores the same through a server or loaded locally; the trainer's policy may use
its own. The reply format asked for is what `parse_reply` reads best (one fenced block), though it reads more.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from step_envs.agents.base import Turn

_FORMATS = {
    "pyautogui": ("Reply with one Python code block (```python ... ```) that uses `pyautogui` to perform the next "
                  "action, e.g. `pyautogui.click(640, 360)`, `pyautogui.write('text')`, "
                  "`pyautogui.hotkey('ctrl', 's')`."),
    "computer_13": ('Reply with one JSON object for the next action, e.g. {"action_type": "CLICK", "x": 640, '
                    '"y": 360}, {"action_type": "TYPING", "text": "hi"}, {"action_type": "HOTKEY", '
                    '"keys": ["ctrl", "s"]}.'),
}
_COORDINATES = {
    "absolute": "Coordinates are pixels on the {width}x{height} screen, (0, 0) top left.",
    "relative": "Coordinates are relative: 0-1000 on each axis, (0, 0) top left, (1000, 1000) bottom right.",
}


def system_prompt(action_space: str, screen_size: tuple[int, int], coordinates: str = "absolute") -> str:
    width, height = screen_size
    return (f"You control a Linux desktop to complete the user's task. {_FORMATS[action_space]} "
            f"{_COORDINATES[coordinates].format(width=width, height=height)} "
            "Reply WAIT to wait, DONE when the task is complete, FAIL if it cannot be done.")


def user_text(turn: Turn, max_history: int = 10) -> str:
    """The instruction and the last `max_history` actions (older ones are summarized by their count)."""
    lines = [f"Task: {turn.task.instruction}"]
    history = turn.history[-max_history:] if max_history else []
    if turn.history:
        skipped = len(turn.history) - len(history)
        lines.append("Actions so far" + (f" (the last {len(history)} of {len(turn.history)})" if skipped else "")
                     + ":")
        lines.extend(f"{turn.step - len(history) + i + 1}. {action}" for i, action in enumerate(history))
    else:
        lines.append("No actions yet.")
    lines.append("The screenshot shows the screen now. What is the next action?")
    return "\n".join(lines)


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
