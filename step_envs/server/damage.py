"""When the X server stopped drawing: the DAMAGE extension on the root window, for a step's settle wait.

Every drawing request of every X client (an app repainting after an input event, a window being mapped) damages
the root window's region, and the server sends one ``DamageNotify`` when that region turns non-empty; emptying it
(``DamageSubtract``) re-arms the report. So "nothing drew for a while" is known without grabbing the screen: a
step where nothing reacts waits only a short quiet window, and a repaint is seen the moment it is drawn, where
comparing two grabs 15 ms apart waits the 15 ms every time and misses a frame that lands just after the second
grab (GTK draws at most one frame per 16.7 ms, so the second frame of a reaction often comes 15-22 ms after the
first: a dropdown's list one frame after its button). The pointer is not in the damage (mss draws it into each
grab from XFixes), so a change of its image (XFixes' cursor notify: an app that sets a hand over a link) counts as
drawing too; its moves do not. Key and button presses are watched as well (XInput 2 raw events): an app's first
repaint after a click or a key may take longer than after a pointer move, so the quiet window is longer then.
Browsers paint later still (Chromium's renderer, compositor and GPU process stand between an input event and the
X server: 7-11 ms after a key here where a GTK app draws within 0.5 ms, and 24 ms for the first key), so the class
of the window with the input focus can lengthen that window again (looked up only after a press).
"""

from __future__ import annotations

import os
import select
import threading
import time

import Xlib.display
import Xlib.error
import Xlib.xobject.drawable
from Xlib.ext import damage, ge, xfixes, xinput


class DamageUnavailable(RuntimeError):
    """The display cannot report drawing (no DAMAGE extension, or no connection); the message says which."""


class DrawingWatch:
    """Notes when anything on the screen was drawn and whether a key or button was pressed, on its own X
    connection (one per server, shared by its request threads under a lock)."""

    def __init__(self, display: str | None = None) -> None:
        try:
            self._display = Xlib.display.Display(display)
        except (Xlib.error.DisplayError, OSError) as exc:
            raise DamageUnavailable(f"cannot connect to the X display {display or '$DISPLAY'}: {exc}") from exc
        if not self._display.has_extension("DAMAGE"):
            name = self._display.get_display_name()
            self._display.close()
            raise DamageUnavailable(f"the X server of {name} has no DAMAGE extension")
        root = self._display.screen().root
        self._display.damage_query_version()  # each extension refuses every other request before this one
        self._damage = root.damage_create(damage.DamageReportNonEmpty)
        codes = self._display.extension_event  # python-xlib matches an extension's events by code, not by class
        self._drawing_events = {codes.DamageNotify}
        if self._display.has_extension("XFIXES"):
            self._display.xfixes_query_version()
            self._display.xfixes_select_cursor_input(root, xfixes.XFixesDisplayCursorNotifyMask)
            self._drawing_events.add(codes.DisplayCursorNotify[0])  # (code, subcode): the only one selected
        if self._display.has_extension("XInputExtension"):
            self._display.xinput_query_version()
            root.xinput_select_events([(xinput.AllMasterDevices, xinput.RawKeyPressMask | xinput.RawButtonPressMask)])
        self._take(barrier=True)  # the server reports the root as damaged once on creation
        self._lock = threading.Lock()
        self._drew_at: float | None = None
        self._pressed = False
        self._classes: dict[int, str] = {}  # window id -> its toplevel's WM_CLASS class, lowercased ("" for none)

    def _take(self, barrier: bool = False) -> tuple[bool, bool]:
        """Whether anything was drawn, and whether a key or button was pressed, since the last call; re-arms the
        drawing report. ``barrier``: first a round trip, so everything the server did before it is reported."""
        if barrier:
            self._display.sync()
        drawn = pressed = False
        while self._display.pending_events():
            event = self._display.next_event()
            if event.type in self._drawing_events:
                drawn = True
            elif event.type == ge.GenericEventCode:  # the raw presses selected above (MappingNotify and the like
                pressed = True  # reach every client and are neither)
        if drawn:
            self._display.damage_subtract(self._damage)
            self._display.flush()
        return drawn, pressed

    def mark(self) -> None:
        """Start watching, before an action: a drawing reported since the last wait counts as drawn now (it may
        be a reaction still going on), so drawing during the action is waited for as well."""
        with self._lock:
            drawn, _ = self._take()
            self._drew_at = time.monotonic() if drawn else None
            self._pressed = False

    def wait(self, start: float, min_s: float, max_s: float, quiet_s: float, pressed_quiet_s: float,
             still_s: float, late_classes: tuple[str, ...] = (), late_pressed_s: float = 0.0) -> bool:
        """Block until nothing was drawn for ``quiet_s`` after ``start`` (the action's end; ``pressed_quiet_s``
        when the action pressed a key or button, and at least ``late_pressed_s`` then while nothing has drawn when
        the focused window's class begins with one of ``late_classes``: an app that paints late) and for
        ``still_s`` after the last drawing since :meth:`mark`, and ``min_s`` passed; at most until ``start +
        max_s`` (something kept drawing). Returns False only when nothing was drawn since :meth:`mark`: then a
        grab made after :meth:`mark` shows the settled screen. The focus is looked up only for a press that has
        not drawn yet, once."""
        deadline = start + max_s
        late: bool | None = None
        with self._lock:
            while True:
                quiet = quiet_s
                if self._pressed:
                    quiet = pressed_quiet_s
                    if self._drew_at is None and late_classes:
                        if late is None:
                            late = self._focus_class().startswith(late_classes)
                        if late:
                            quiet = max(quiet, late_pressed_s)
                due = max(start + min_s, start + quiet, 0.0 if self._drew_at is None else self._drew_at + still_s)
                now = time.monotonic()
                if now >= due:
                    if not self._note(*self._take(barrier=True)):
                        return self._drew_at is not None
                    continue
                if now >= deadline:
                    return True
                readable, _, _ = select.select([self._display.fileno()], [], [], min(due, deadline) - now)
                if readable:
                    self._note(*self._take())

    def _focus_class(self) -> str:
        """The WM_CLASS class (lowercased) of the toplevel window that has the input focus; "" for none (the
        root, or a window without a class). One round trip when the focus is on a window seen before. Called
        with the lock held."""
        focus = self._display.get_input_focus().focus
        if isinstance(focus, int):  # X.NONE or X.PointerRoot
            return ""
        wid = focus.id
        if wid not in self._classes:
            if len(self._classes) > 4096:  # windows come and go over a long session
                self._classes.clear()
            self._classes[wid] = self._class_of(focus)
        return self._classes[wid]

    def _class_of(self, window: Xlib.xobject.drawable.Window) -> str:
        """WM_CLASS of ``window`` or the nearest ancestor that has one (a toolkit may focus a child window)."""
        root = self._display.screen().root
        try:
            while window.id != root.id:
                wm_class = window.get_wm_class()
                if wm_class:
                    return wm_class[1].lower()
                window = window.query_tree().parent
        except Xlib.error.XError:  # the window went away meanwhile
            pass
        return ""

    def _note(self, drawn: bool, pressed: bool) -> bool:
        """Record what :meth:`_take` saw; whether it was anything."""
        if drawn:
            self._drew_at = time.monotonic()
        self._pressed = self._pressed or pressed
        return drawn or pressed


class FolderStamp:
    """Whether a folder's entries changed since the last look, for drawing that is still to come: the desktop
    (xfdesktop) shows the files of ``~/Desktop`` as icons and re-reads the folder on its own time after a change, so
    when a reset's restore or setup added or removed a file there, the repaint may start after the settle wait
    began (0.2-16 ms after the change, measured at load ~6; more on a loaded machine). A change of the folder's
    entries moves its modification time; the look is one ``stat``. A folder that is not there, or the first look,
    counts as changed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None

    def changed(self) -> bool:
        """Whether the folder changed since the last call (the first call: True)."""
        try:
            info = os.stat(self.path)
            stamp: tuple[int, int, int] | None = (info.st_ino, info.st_mtime_ns, info.st_ctime_ns)
        except OSError:
            stamp = None
        changed = stamp is None or stamp != self._seen
        self._seen = stamp
        return changed
