"""Dump the session's AT-SPI accessibility tree as OSWorld-style XML.

Run as a script by the controller server in a child process, so a hung application cannot hang the server (the
server kills it at its time limit), and so it can run under the system Python, which has Debian's ``pyatspi``,
when the server's venv does not. Standalone on purpose: no step_envs imports.

Two ways to run it: ``python a11y.py --max-depth 50 ...`` dumps one tree to stdout and exits (a process per tree:
the ``pyatspi`` import alone costs ~0.5 s); ``python a11y.py --serve`` imports ``pyatspi`` once and answers
requests, one JSON line on stdin each (``{"max_depth", "max_width", "budget", "scope"}``), with one JSON line on
stdout (``{"ok": true, "xml": ...}`` or ``{"ok": false, "error": ...}``), after a first ``{"ready": true, "pid"}``
line; it exits at the end of stdin. Either way, exit code 3 means this interpreter has no ``pyatspi``.

Scope ``all`` walks the whole desktop. Scope ``active`` walks only the active window: the last top-level frame,
window or dialog of an application that has the ``active`` state, inside its application's element under the
desktop's root element, so the XML has the shape of the whole tree with the other applications and windows left
out (the panels, the desktop icons); the whole tree when no window is active.

The format is OSWorld's: one element per accessible, tagged with its role (spaces as dashes), the ``name``
attribute, states as ``st:<state>="true"``, object attributes under ``attr:``, on-screen position and size as
``cp:screencoord="(x, y)"`` / ``cp:size="(w, h)"`` for visible and showing nodes, text as the element's text,
values under ``val:``, actions under ``act:``. Limits: depth, children per node, and a time budget after which
the remaining nodes are left out and the root says ``truncated="true"``.
"""

from __future__ import annotations

import argparse
import json
import os
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
SCOPES = ("all", "active")
WINDOW_TAGS = frozenset({"frame", "window", "dialog", "alert", "file-chooser"})
"""The tags of the top-level windows scope ``active`` looks for (``step_envs.agents.a11y.WINDOWS``)."""
NO_PYATSPI = 3


def tag_of(role: str) -> str:
    """The XML tag of an AT-SPI role name: spaces and other punctuation as dashes."""
    tag = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in role.replace(" ", "-"))
    return tag if tag[:1].isalpha() else f"tag{tag}"


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

    @staticmethod
    def role(node: object) -> str:
        try:
            return node.getRoleName().strip() or "unknown"  # type: ignore[attr-defined]
        except Exception:
            return "unknown"

    def element(self, node: object) -> tuple[ET.Element, str]:
        """The node's own element, without its children, and its role."""
        self.nodes += 1
        attrib, text = self.attributes(node)
        role = self.role(node)
        element = ET.Element(tag_of(role), attrib)
        if text:
            element.text = text
        return element, role

    def node(self, node: object, depth: int = 0) -> ET.Element:
        element, role = self.element(node)
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

    def active_window(self, desktop: object) -> tuple[object, object] | None:
        """(application, window): the last top-level window (in the tree's order) that is active, or None. Reads
        only the applications' top-level children, never below them."""
        active_state = self.pyatspi.STATE_ACTIVE
        found = None
        for app in self.children(desktop, "desktop-frame"):
            if time.monotonic() > self.deadline:
                self.truncated = True
                break
            for window in self.children(app, "application"):
                if tag_of(self.role(window)) not in WINDOW_TAGS:
                    continue
                try:
                    if window.getState().contains(active_state):  # type: ignore[attr-defined]
                        found = (app, window)
                except Exception:
                    continue
        return found

    def active_tree(self, desktop: object) -> ET.Element | None:
        """The desktop's element holding the active window's application, holding that window's whole subtree
        (at the depth the whole tree has it); None when no window is active."""
        if self.max_depth < 2:
            return None
        found = self.active_window(desktop)
        if found is None:
            return None
        app, window = found
        root, _ = self.element(desktop)
        holder, _ = self.element(app)
        holder.append(self.node(window, 2))
        root.append(holder)
        return root


def dump(max_depth: int, max_width: int, budget: float, scope: str = "all") -> str:
    """The tree as XML text; raises ImportError without ``pyatspi``."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; known: {', '.join(SCOPES)}")
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    dumper = Dumper(max_depth, max_width, time.monotonic() + budget)
    desktop = dumper.pyatspi.Registry.getDesktop(0)
    root = dumper.active_tree(desktop) if scope == "active" else None
    if root is None:
        dumper.truncated = False  # the whole tree decides
        root = dumper.node(desktop)
    if dumper.truncated:
        root.set("truncated", "true")
    return ET.tostring(root, encoding="unicode")


def serve() -> int:
    """Answer tree requests from stdin until it ends (the module docstring), ``pyatspi`` imported once."""
    # fd 1 becomes the replies' private copy: whatever a library prints goes to /dev/null, not into a reply
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    try:
        import pyatspi  # noqa: F401 - the point of serving: imported once
    except ImportError as exc:
        print(f"pyatspi is not available ({exc}): install python3-pyatspi", file=sys.stderr)
        return NO_PYATSPI

    def reply(obj: dict[str, object]) -> None:
        replies.write(json.dumps(obj).encode() + b"\n")
        replies.flush()

    reply({"ready": True, "pid": os.getpid()})
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            xml = dump(int(request.get("max_depth", 50)), int(request.get("max_width", 1024)),
                       float(request.get("budget", 10.0)), str(request.get("scope", "all")))
        except Exception as exc:  # noqa: BLE001 - a bad request or a failed walk is an answer, never an exit
            reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        else:
            reply({"ok": True, "xml": xml})
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-depth", type=int, default=50)
    parser.add_argument("--max-width", type=int, default=1024)
    parser.add_argument("--budget", type=float, default=10.0, help="seconds before the walk stops")
    parser.add_argument("--scope", choices=SCOPES, default="all", help="the whole desktop, or the active window")
    parser.add_argument("--serve", action="store_true", help="answer JSON requests on stdin, one per line")
    args = parser.parse_args()
    if args.serve:
        return serve()
    try:
        sys.stdout.write(dump(args.max_depth, args.max_width, args.budget, args.scope))
    except ImportError as exc:
        print(f"pyatspi is not available ({exc}): install python3-pyatspi", file=sys.stderr)
        return NO_PYATSPI
    return 0


if __name__ == "__main__":
    sys.exit(main())
