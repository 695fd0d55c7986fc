"""`python -m step_envs.server.shortcuts`: the desktop-wide keyboard shortcuts of Ubuntu that OSWorld agents use.

- ctrl+alt+t opens a terminal (a passive key grab, so the keys do not also reach the focused app);
- super pressed and released alone opens the applications menu (watched through the RECORD extension, which
  consumes nothing, so super+key combinations still reach the window manager and apps).

Xfce's own daemon for shortcuts, xfsettingsd, is not used because it also makes itself the XSETTINGS manager
and restyles every GTK app (theme, fonts, cursor blink), which would change every screenshot. Commands run in
the session's environment, in their own process group, with output discarded.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from typing import Any

from Xlib import XK, X, display
from Xlib.ext import record
from Xlib.protocol import rq

TERMINAL = ["xfce4-terminal"]
APP_MENU = ["xfce4-popup-applicationsmenu"]
# the grab must hold whatever lock modifiers are on: caps lock (Lock) and num lock (Mod2 on a default map)
LOCK_MASKS = (0, X.LockMask, X.Mod2Mask, X.LockMask | X.Mod2Mask)
SUPER_KEYSYMS = ("Super_L", "Super_R")


def run(command: list[str]) -> None:
    subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)


class SuperTap:
    """Fires ``action`` when a super key goes down and comes back up with no other key pressed in between."""

    def __init__(self, super_keycodes: set[int], action: Any) -> None:
        self.super_keycodes, self.action = super_keycodes, action
        self.armed = False

    def key(self, pressed: bool, keycode: int) -> None:
        if keycode not in self.super_keycodes:
            self.armed = self.armed and not pressed
        elif pressed:
            self.armed = True
        elif self.armed:
            self.armed = False
            self.action()


def watch_super(tap: SuperTap) -> None:
    """Feed every key event of the X server to ``tap`` (blocks; RECORD needs a connection of its own)."""
    conn = display.Display()
    context = conn.record_create_context(0, [record.AllClients], [{
        "core_requests": (0, 0), "core_replies": (0, 0), "ext_requests": (0, 0, 0, 0),
        "ext_replies": (0, 0, 0, 0), "delivered_events": (0, 0), "device_events": (X.KeyPress, X.KeyRelease),
        "errors": (0, 0), "client_started": False, "client_died": False}])

    def on_reply(reply: Any) -> None:
        if reply.category != record.FromServer or reply.client_swapped or not reply.data:
            return
        data = reply.data
        while data:
            event, data = rq.EventField(None).parse_binary_value(data, conn.display, None, None)
            tap.key(event.type == X.KeyPress, event.detail)

    conn.record_enable_context(context, on_reply)


def main() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # launched apps are reaped by the kernel
    conn = display.Display()
    root = conn.screen().root
    super_keycodes = {conn.keysym_to_keycode(XK.string_to_keysym(name)) for name in SUPER_KEYSYMS} - {0}
    threading.Thread(target=watch_super, args=(SuperTap(super_keycodes, lambda: run(APP_MENU)),),
                     daemon=True).start()
    terminal_key = conn.keysym_to_keycode(XK.string_to_keysym("t"))
    for lock in LOCK_MASKS:
        root.grab_key(terminal_key, X.ControlMask | X.Mod1Mask | lock, True, X.GrabModeAsync, X.GrabModeAsync)
    conn.sync()
    while True:
        event = conn.next_event()
        if event.type == X.KeyPress and event.detail == terminal_key:
            run(TERMINAL)


if __name__ == "__main__":
    main()
