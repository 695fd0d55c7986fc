"""The accessibility tree as prompt text: one line per element a model could look at or act on.

The env's `a11y_tree` observation is OSWorld-style XML (`step_envs/server/a11y.py`): every accessible with its
role as the tag, `name`, states (`st:showing`, `st:visible`), `cp:screencoord="(x, y)"` / `cp:size="(w, h)"` and
its text. Like OSWorld's accessibility-tree baselines, the prompt gets a table instead of the XML, here of the
elements that are showing, have a box on the screen, and have a name or text or an interactive role, with the
states an agent acts on (`checked`, `selected`, `expanded`, `focused`, `pressed`):

    role	name	text	state	center	size
    push-button	Planet			(372, 236)	(120, 36)
    check-box	Apples		checked	(385, 121)	(116, 30)

Scope `active` keeps only the elements of the active window (the frame, window or dialog with the `active`
state, as the window manager reports it; all elements when none is), leaving out the panels and the desktop
that every screen repeats: a shorter prompt with the same elements to act on.

Points are written in the dialect's coordinate frame (the 0-1000 grid, the resized image's pixels, or screen
pixels), so a model can copy the centre it reads into the action it writes. Pure XML parsing: no AT-SPI here.

Tags (`tags=True`, as in OSWorld's set-of-marks prompts): the table gets a first column `tag` numbering its rows
from 1, and an action may name an element's centre as `tag_N` instead of writing the numbers
(`pyautogui.click(tag_3)`); `resolve_tags` puts the centre back before the reply is parsed, and `tag_action`
writes a demonstration's click on an element's centre that way. A model then picks a row instead of copying its
digits.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from step_envs.actions import ActionSet, ParsedReply, frames

STATE_NS = "https://accessibility.ubuntu.example.org/ns/state"
COMPONENT_NS = "https://accessibility.ubuntu.example.org/ns/component"
HEADER = "role\tname\ttext\tstate\tcenter\tsize"
TAG = re.compile(r"\btag_(\d+)\b")
TAGS_HINT = "Write tag_N in an action for the center of element N, e.g. click(tag_3)."
STATES = ("checked", "selected", "expanded", "focused", "pressed")
"""States worth a column: what a click would change or where typing goes."""
SCOPES = ("all", "active")
WINDOWS = frozenset({"frame", "window", "dialog", "alert", "file-chooser"})
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


def check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise ValueError(f"unknown accessibility-tree scope {scope!r}; known: {', '.join(SCOPES)}")


def _active_window(root: ET.Element) -> ET.Element:
    """The last window the tree marks active (the one in front), else the whole tree."""
    active = [node for node in root.iter()
              if node.tag.rsplit("}", 1)[-1] in WINDOWS and node.get(f"{{{STATE_NS}}}active") == "true"]
    return active[-1] if active else root


def a11y_rows(xml: str, screen_size: tuple[int, int], scope: str = "all") -> list[
        tuple[str, str, str, tuple[float, float], tuple[int, int], str]]:
    """(role, name, text, centre, size, states) of every listed element, in document order, in screen pixels;
    `states` is the comma-separated `STATES` it has. `scope="active"`: the active window's elements only."""
    check_scope(scope)
    if not xml or not xml.strip():
        return []
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ValueError(f"the accessibility tree is not XML: {exc}") from None
    if scope == "active":
        root = _active_window(root)
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
        states = ",".join(state for state in STATES if node.get(f"{{{STATE_NS}}}{state}") == "true")
        rows.append((role, name, text, (cx, cy), size, states))
    return rows


def a11y_text(xml: str, screen_size: tuple[int, int], frame: str = "screen",
              image_size: tuple[int, int] | None = None, max_rows: int = 60, scope: str = "all",
              tags: bool = False) -> str:
    """The table of `a11y_rows` (of `scope`), points and sizes in `frame` (see `step_envs.actions.frames`); at
    most `max_rows` rows, the count of the rest said on a last line; `tags`: numbered rows (module docstring)."""
    rows = a11y_rows(xml, screen_size, scope)
    lines = [("tag\t" if tags else "") + HEADER]
    for index, (role, name, text, (cx, cy), (w, h), states) in enumerate(rows[:max_rows], start=1):
        center = frames.from_screen(cx, cy, frame, screen_size, image_size)
        x1, y1 = frames.from_screen(0, 0, frame, screen_size, image_size)
        x2, y2 = frames.from_screen(w, h, frame, screen_size, image_size)
        lines.append((f"{index}\t" if tags else "")
                     + f"{role}\t{name}\t{text}\t{states}\t({center[0]}, {center[1]})\t({x2 - x1}, {y2 - y1})")
    if len(rows) > max_rows:
        lines.append(f"... {len(rows) - max_rows} more elements not shown")
    return "\n".join(lines)


def tag_points(xml: str, screen_size: tuple[int, int], frame: str = "screen",
               image_size: tuple[int, int] | None = None, max_rows: int = 60,
               scope: str = "all") -> list[tuple[int, int]]:
    """The centres of the tagged rows of `a11y_text` (tag N is item N - 1), in `frame`."""
    return [frames.from_screen(cx, cy, frame, screen_size, image_size)
            for _, _, _, (cx, cy), _, _ in a11y_rows(xml, screen_size, scope)[:max_rows]]


def resolve_tags(text: str, points: list[tuple[int, int]]) -> str:
    """`text` with every `tag_N` replaced by element N's centre, `x, y` in the frame of `points`. A tag the
    table does not have raises ValueError naming the range."""
    def centre(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if not 1 <= number <= len(points):
            raise ValueError(f"tag_{number} is not in the table (tags 1-{len(points)})")
        x, y = points[number - 1]
        return f"{x}, {y}"

    return TAG.sub(centre, text)


def parse_tagged(actions: ActionSet, text: str, a11y_tree: str, screen_size: tuple[int, int],
                 image_size: tuple[int, int] | None = None, max_rows: int = 60, scope: str = "all") -> ParsedReply:
    """A reply to a prompt whose table (`a11y_text` of `a11y_tree` with tags) numbered its rows, read by
    `actions` after its `tag_N` became those rows' centres; a tag the table lacks is a WAIT with the reason."""
    points = tag_points(a11y_tree, screen_size, actions.dialect.frame, image_size, max_rows, scope)
    try:
        text = resolve_tags(text, points)
    except ValueError as exc:
        return ParsedReply("WAIT", str(exc))
    return actions.parse(text, screen_size, image_size)


def tag_action(text: str, points: list[tuple[int, int]]) -> str:
    """An action written with numbers (`pyautogui.click(135, 128)`), its first point replaced by `tag_N` when it
    is element N's centre; unchanged otherwise."""
    for number, (x, y) in enumerate(points, start=1):
        found = re.search(rf"(?<![\d.]){x}\s*,\s*{y}(?![\d.])", text)
        if found:
            return text[: found.start()] + f"tag_{number}" + text[found.end():]
    return text
