"""The accessibility tree as prompt text: one line per element a model could look at or act on.

The env's `a11y_tree` observation is OSWorld-style XML (`step_envs/server/a11y.py`): every accessible with its
role as the tag, `name`, states (`st:showing`, `st:visible`), `cp:screencoord="(x, y)"` / `cp:size="(w, h)"` and
its text. Like OSWorld's accessibility-tree baselines, the prompt gets a table instead of the XML, here of the
elements that are showing, have a box on the screen, and have a name or text or an interactive role:

    role	name	text	center	size
    push-button	Planet		(372, 236)	(120, 36)

Points are written in the dialect's coordinate frame (the 0-1000 grid, the resized image's pixels, or screen
pixels), so a model can copy the centre it reads into the action it writes. Pure XML parsing: no AT-SPI here.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from step_envs.actions import frames

STATE_NS = "https://accessibility.ubuntu.example.org/ns/state"
COMPONENT_NS = "https://accessibility.ubuntu.example.org/ns/component"
HEADER = "role\tname\ttext\tcenter\tsize"
CONTAINERS = frozenset({"desktop-frame", "application", "panel", "filler", "scroll-pane", "viewport", "unknown",
                        "layered-pane", "section", "redundant-object", "window", "frame", "tool-bar", "menu-bar",
                        "page-tab-list", "split-pane", "internal-frame", "table", "tree-table", "list", "form"})
"""Roles that only group others: listed only when they carry text of their own."""
MAX_CELL = 60
_PAIR = re.compile(r"\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)")


def _pair(value: str | None) -> tuple[int, int] | None:
    match = _PAIR.fullmatch(value.strip()) if value else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def _cell(text: str | None) -> str:
    """One table cell: whitespace collapsed, tabs gone, cut to `MAX_CELL` characters."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= MAX_CELL else flat[: MAX_CELL - 1] + "…"


def a11y_rows(xml: str, screen_size: tuple[int, int]) -> list[tuple[str, str, str, tuple[float, float],
                                                                     tuple[int, int]]]:
    """(role, name, text, centre, size) of every listed element, in document order, in screen pixels."""
    if not xml or not xml.strip():
        return []
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ValueError(f"the accessibility tree is not XML: {exc}") from None
    width, height = screen_size
    rows = []
    for node in root.iter():
        role = node.tag.rsplit("}", 1)[-1]
        if node.get(f"{{{STATE_NS}}}showing") != "true" or node.get(f"{{{STATE_NS}}}visible") != "true":
            continue
        position, size = _pair(node.get(f"{{{COMPONENT_NS}}}screencoord")), _pair(node.get(f"{{{COMPONENT_NS}}}size"))
        if position is None or size is None or size[0] <= 0 or size[1] <= 0:
            continue
        cx, cy = position[0] + size[0] / 2, position[1] + size[1] / 2
        if not (0 <= cx < width and 0 <= cy < height):
            continue
        name, text = _cell(node.get("name")), _cell(node.text)
        if role in CONTAINERS and not text:
            continue
        if not name and not text and role in ("label", "separator"):
            continue
        rows.append((role, name, text, (cx, cy), size))
    return rows


def a11y_text(xml: str, screen_size: tuple[int, int], frame: str = "screen",
              image_size: tuple[int, int] | None = None, max_rows: int = 60) -> str:
    """The table of `a11y_rows`, points and sizes in `frame` (see `step_envs.actions.frames`); at most `max_rows`
    rows, the count of the rest said on a last line."""
    rows = a11y_rows(xml, screen_size)
    lines = [HEADER]
    for role, name, text, (cx, cy), (w, h) in rows[:max_rows]:
        center = frames.from_screen(cx, cy, frame, screen_size, image_size)
        x1, y1 = frames.from_screen(0, 0, frame, screen_size, image_size)
        x2, y2 = frames.from_screen(w, h, frame, screen_size, image_size)
        lines.append(f"{role}\t{name}\t{text}\t({center[0]}, {center[1]})\t({x2 - x1}, {y2 - y1})")
    if len(rows) > max_rows:
        lines.append(f"... {len(rows) - max_rows} more elements not shown")
    return "\n".join(lines)
