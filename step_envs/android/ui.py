"""The UI tree: ``uiautomator dump`` over adb, parsed into indexed elements and a text form for agents.

An element's index is what ``{"action_type": "click", "index": 3}`` refers to; the text form lists the same
indices, one element a line: ``[3] Button "Save" id=com.android.contacts:id/save center=(980,150) clickable``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from step_envs.providers.adb import AdbError, AdbRunner

DUMP_PATH = "/sdcard/window_dump.xml"
DUMP_COMMAND = ["shell", "uiautomator", "dump", DUMP_PATH]
READ_COMMAND = ["exec-out", "cat", DUMP_PATH]
_BOUNDS = re.compile(r"\[(-?\d+),(-?\d+)\]\[(-?\d+),(-?\d+)\]")
_FLAGS = ("clickable", "long-clickable", "scrollable", "checkable", "checked", "selected", "focused", "password")


@dataclass(frozen=True)
class UIElement:
    """One on-screen element of a ``uiautomator dump``: what the ``ui_tree`` observation lists as ``[index] ...``
    and what an action's ``index`` refers to (it acts at the element's centre).
    """

    index: int
    cls: str
    text: str
    description: str
    resource_id: str
    package: str
    bounds: tuple[int, int, int, int]
    """(left, top, right, bottom) in screen pixels."""
    flags: frozenset[str]
    enabled: bool = True

    @property
    def center(self) -> tuple[int, int]:
        left, top, right, bottom = self.bounds
        return (left + right) // 2, (top + bottom) // 2

    def describe(self) -> str:
        parts = [f"[{self.index}]", self.cls.rsplit(".", 1)[-1] or "View"]
        if self.text:
            parts.append(f'"{self.text}"')
        if self.description:
            parts.append(f'desc="{self.description}"')
        if self.resource_id:
            parts.append(f"id={self.resource_id}")
        parts.append("center=({},{})".format(*self.center))
        parts += sorted(self.flags)
        if not self.enabled:
            parts.append("disabled")
        return " ".join(parts)


def _interesting(node: ET.Element) -> bool:
    """Elements an agent can read or act on; pure layout containers are left out."""
    return bool(node.get("text") or node.get("content-desc") or node.get("class", "").endswith("EditText")
                or any(node.get(flag) == "true" for flag in ("clickable", "long-clickable", "scrollable",
                                                             "checkable")))


def parse_hierarchy(xml: str) -> list[UIElement]:
    """Elements of a uiautomator XML dump, in document order, visible ones only."""
    start = xml.find("<?xml")
    if start < 0:
        start = xml.find("<hierarchy")
    end = xml.rfind("</hierarchy>")
    if start < 0 or end < 0:
        raise ValueError("not a uiautomator dump (no <hierarchy> element)")
    root = ET.fromstring(xml[start:end + len("</hierarchy>")])
    elements: list[UIElement] = []
    for node in root.iter("node"):
        match = _BOUNDS.fullmatch(node.get("bounds", ""))
        if not match or not _interesting(node):
            continue
        left, top, right, bottom = map(int, match.groups())
        if right <= left or bottom <= top:
            continue
        elements.append(UIElement(
            index=len(elements), cls=node.get("class", ""), text=node.get("text", ""),
            description=node.get("content-desc", ""), resource_id=node.get("resource-id", ""),
            package=node.get("package", ""), bounds=(left, top, right, bottom),
            flags=frozenset(flag for flag in _FLAGS if node.get(flag) == "true"),
            enabled=node.get("enabled", "true") == "true"))
    return elements


def render_tree(elements: list[UIElement]) -> str:
    return "\n".join(element.describe() for element in elements)


def dump_ui(adb: AdbRunner) -> list[UIElement]:
    """Dump the current screen's UI tree on the device and parse it; AdbError when it cannot be read."""
    adb.run(DUMP_COMMAND)
    xml = adb.run(READ_COMMAND).decode("utf-8", errors="replace")
    try:
        return parse_hierarchy(xml)
    except (ValueError, ET.ParseError) as exc:
        raise AdbError(f"could not read the UI tree: {exc} (got {xml[:80]!r})") from exc
