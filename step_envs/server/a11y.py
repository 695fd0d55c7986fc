"""Dump the session's AT-SPI accessibility tree as OSWorld-style XML.

Run as a script by the controller server (``python a11y.py --max-depth 50 ...``) in a child process, so a hung
application cannot hang the server (the server kills it at its time limit), and so it can run under the system
Python, which has Debian's ``pyatspi``, when the server's venv does not. Standalone on purpose: no step_envs
imports.

The format is OSWorld's: one element per accessible, tagged with its role (spaces as dashes), the ``name``
attribute, states as ``st:<state>="true"``, object attributes under ``attr:``, on-screen position and size as
``cp:screencoord="(x, y)"`` / ``cp:size="(w, h)"`` for visible and showing nodes, text as the element's text,
values under ``val:``, actions under ``act:``. Limits: depth, children per node, and a time budget after which
the remaining nodes are left out and the root says ``truncated="true"``.
"""

from __future__ import annotations

import argparse
import sys
import time
import xml.etree.ElementTree as ET

NS = {
    "st": "https://accessibility.ubuntu.example.org/ns/state",
    "attr": "https://accessibility.ubuntu.example.org/ns/attributes",
    "cp": "https://accessibility.ubuntu.example.org/ns/component",
    "doc": "https://accessibility.ubuntu.example.org/ns/document",
    "docattr": "https://accessibility.ubuntu.example.org/ns/document/attributes",
    "txt": "https://accessibility.ubuntu.example.org/ns/text",
    "val": "https://accessibility.ubuntu.example.org/ns/value",
    "act": "https://accessibility.ubuntu.example.org/ns/action",
}
MAX_TEXT = 10_000
# a spreadsheet's table has millions of cells: walk only the ones on screen
MAX_TABLE_SCAN = 600


class Dumper:
    """Walks the AT-SPI tree into OSWorld's XML, within a depth, a width per node and a deadline (after which the
    rest is left out and ``truncated`` is set).
    """

    def __init__(self, max_depth: int, max_width: int, deadline: float) -> None:
        import pyatspi

        self.pyatspi = pyatspi
        self.max_depth, self.max_width, self.deadline = max_depth, max_width, deadline
        self.truncated = False
        self.nodes = 0

    def _q(self, prefix: str, name: str) -> str:
        return f"{{{NS[prefix]}}}{name}"

    def attributes(self, node: object) -> tuple[dict[str, str], str]:
        pyatspi = self.pyatspi
        attrib: dict[str, str] = {"name": node.name or ""}  # type: ignore[attr-defined]
        try:
            for state in node.getState().get_states():  # type: ignore[attr-defined]
                name = pyatspi.StateType._enum_lookup[state].split("_", 1)[1].lower()
                if name:
                    attrib[self._q("st", name)] = "true"
        except Exception:
            pass
        try:
            for key, value in node.get_attributes().items():  # type: ignore[attr-defined]
                if key:
                    attrib[self._q("attr", key.replace(" ", "-"))] = str(value)
        except Exception:
            pass
        if attrib.get(self._q("st", "visible")) == "true" and attrib.get(self._q("st", "showing")) == "true":
            try:
                box = node.queryComponent().getExtents(pyatspi.XY_SCREEN)  # type: ignore[attr-defined]
                attrib[self._q("cp", "screencoord")] = f"({box.x}, {box.y})"
                attrib[self._q("cp", "size")] = f"({box.width}, {box.height})"
            except Exception:
                pass
        text = ""
        try:
            text_iface = node.queryText()  # type: ignore[attr-defined]
            text = text_iface.getText(0, min(text_iface.characterCount, MAX_TEXT))
            text = text.replace("\ufffc", "").replace("\ufffd", "")
        except Exception:
            pass
        try:
            value = node.queryValue()  # type: ignore[attr-defined]
            for key, read in (("value", lambda: value.currentValue), ("min", lambda: value.minimumValue),
                              ("max", lambda: value.maximumValue), ("step", lambda: value.minimumIncrement)):
                try:
                    attrib[self._q("val", key)] = str(read())
                except Exception:
                    pass
        except Exception:
            pass
        try:
            action = node.queryAction()  # type: ignore[attr-defined]
            for i in range(action.nActions):
                name = action.getName(i).replace(" ", "-")
                attrib[self._q("act", f"{name}_desc")] = action.getDescription(i)
                attrib[self._q("act", f"{name}_kb")] = action.getKeyBinding(i)
        except Exception:
            pass
        return attrib, text

    def node(self, node: object, depth: int = 0) -> ET.Element:
        self.nodes += 1
        attrib, text = self.attributes(node)
        try:
            role = node.getRoleName().strip() or "unknown"  # type: ignore[attr-defined]
        except Exception:
            role = "unknown"
        tag = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in role.replace(" ", "-"))
        element = ET.Element(tag if tag[:1].isalpha() else f"tag{tag}", attrib)
        if text:
            element.text = text
        if depth >= self.max_depth:
            return element
        for child in self.children(node, role):
            if time.monotonic() > self.deadline:
                self.truncated = True
                break
            element.append(self.node(child, depth + 1))
        return element

    def children(self, node: object, role: str) -> list[object]:
        try:
            count = node.childCount  # type: ignore[attr-defined]
        except Exception:
            return []
        if role == "table" and count > self.max_width:
            return self.showing_cells(node, count)
        if count > self.max_width:
            self.truncated = True
        out = []
        for i in range(min(count, self.max_width)):
            try:
                child = node.getChildAtIndex(i)  # type: ignore[attr-defined]
            except Exception:
                continue
            if child is not None:
                out.append(child)
        return out

    def showing_cells(self, table: object, count: int) -> list[object]:
        """The cells on screen of a huge table (a spreadsheet): row by row from the top left, stopping at the
        first row with no showing cell after one that had some."""
        showing_state = self.pyatspi.STATE_SHOWING
        try:
            columns = table.queryTable().nColumns  # type: ignore[attr-defined]
        except Exception:
            return []
        cells: list[object] = []
        row, seen_any = 0, False
        while row * columns < count and row < MAX_TABLE_SCAN and time.monotonic() < self.deadline:
            row_cells = []
            for col in range(min(columns, MAX_TABLE_SCAN)):
                try:
                    cell = table.getChildAtIndex(row * columns + col)  # type: ignore[attr-defined]
                    showing = cell is not None and cell.getState().contains(showing_state)
                except Exception:
                    showing = False
                if showing:
                    row_cells.append(cell)
                elif row_cells:
                    break
            if row_cells:
                seen_any = True
                cells.extend(row_cells)
            elif seen_any:
                break
            row += 1
        return cells[: self.max_width * 4]


def dump(max_depth: int, max_width: int, budget: float) -> str:
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    dumper = Dumper(max_depth, max_width, time.monotonic() + budget)
    desktop = dumper.pyatspi.Registry.getDesktop(0)
    root = dumper.node(desktop)
    if dumper.truncated:
        root.set("truncated", "true")
    return ET.tostring(root, encoding="unicode")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-depth", type=int, default=50)
    parser.add_argument("--max-width", type=int, default=1024)
    parser.add_argument("--budget", type=float, default=10.0, help="seconds before the walk stops")
    args = parser.parse_args()
    try:
        sys.stdout.write(dump(args.max_depth, args.max_width, args.budget))
    except ImportError as exc:
        print(f"pyatspi is not available ({exc}): install python3-pyatspi", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
