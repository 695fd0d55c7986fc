"""Screen capture for the controller: raw RGB pixels for the env's fast path, PNG/JPEG for OSWorld clients.

A step's CPU is mostly spent here and in moving pixels, so the hot path avoids copies: mss grabs through MIT-SHM
into a fresh ``bytearray`` (BGRA), settle compares those buffers as they are (one ``memcmp``), and PIL's C
unpacker turns the settled frame into RGB (~1 ms for 1280x720, where a numpy strided copy takes ~5 ms).

Two ways to know the screen settled after an action (``SETTLE_MODES``): ``damage`` (the default) asks the X server
when drawing stopped (:mod:`step_envs.server.damage`) and grabs once; ``grabs`` compares grabs ``still`` seconds
apart, and is what ``damage`` falls back to on a display without the DAMAGE extension.
"""

from __future__ import annotations

import io
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import mss
from PIL import Image

from step_envs.server import SETTLE_MODES
from step_envs.server.damage import DamageUnavailable, DrawingWatch

QUIET_S = 0.008
"""``damage``: a step where nothing was drawn for this long after the action has settled (a pointer move that no
app reacts to costs this and nothing more). Apps here mostly draw within ~1-7 ms of an input event, though a loaded
machine can delay the first repaint further (benchmarks/RESULTS.md)."""
PRESSED_QUIET_S = 0.016
"""``QUIET_S`` after an action that pressed a key or a mouse button, whose reaction matters more than a hover's:
as long as ``grabs`` gives a reaction to show up (its first two grabs are 15 ms apart)."""
LATE_PAINTERS = ("chromium", "google-chrome", "code", "firefox", "thunderbird")
"""Beginnings of the WM_CLASS classes (lowercased) of apps whose first repaint after an input event comes late
(Debian's Thunderbird is ``thunderbird-default``, its Firefox ``firefox-esr``): Chromium (VS Code's
window here is one) and Gecko (Firefox, Thunderbird) paint through compositors of their own, apart from the thread
that handles the event. Measured here from a key press to the first drawing (25 keys each, load ~3): Chromium 7-24
ms, Thunderbird 0.4-91 ms (median 13; once 316 ms), GTK's Mousepad 0.2-6 ms."""
LATE_PRESSED_QUIET_S = 0.1
"""``PRESSED_QUIET_S`` when the window with the input focus is one of ``LATE_PAINTERS`` (their first repaint comes
later than 16 ms often, above), and a step that ended before it showed the screen as it was before the action.
Only until the first drawing: a press that nothing reacts to waits this long, one that draws settles as anywhere
else."""
STILL_S = {"damage": 0.035, "grabs": 0.015}
"""How long the screen must stay unchanged. ``damage``: after the last drawing; GTK draws at most one frame per
16.7 ms, and a reaction's next frame (a dropdown's list after its pressed button) lands 15-22 ms after the one
before on a loaded machine, so two frame intervals. ``grabs``: the gap between the two grabs that must be
identical."""


@dataclass(frozen=True)
class Frame:
    """One grab: BGRA bytes (mss's own buffer, never reused) and the screen size."""

    bgra: bytearray
    width: int
    height: int

    def image(self) -> Image.Image:
        return Image.frombuffer("RGB", (self.width, self.height), self.bgra, "raw", "BGRX", 0, 1)

    @cached_property
    def rgb(self) -> bytes:
        """``height * width * 3`` bytes, row-major RGB (converted once, on first use)."""
        return self.image().tobytes()


class ScreenGrabber:
    """Grabs the X screen with mss. mss handles are bound to their thread and each is an X connection, so
    every grab runs on one dedicated thread with one handle (a thread per request would leak connections
    until the X server refuses new clients)."""

    def __init__(self, with_cursor: bool = True) -> None:
        self._with_cursor = with_cursor
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="screen-grabber")
        self._handle: mss.base.MSS | None = None
        self._watch: DrawingWatch | None = None
        self._watch_error: str | None = None

    def _mss(self) -> mss.base.MSS:
        if self._handle is None:
            self._handle = mss.MSS(with_cursor=self._with_cursor)
        return self._handle

    def _grab(self, rgb: bool = False) -> Frame:
        handle = self._mss()
        shot = handle.grab(handle.monitors[1])
        frame = Frame(shot.raw, shot.width, shot.height)
        if rgb:
            _ = frame.rgb
        return frame

    def grab(self) -> Frame:
        """One raw grab, the floor every other observation path pays."""
        return self._thread.submit(self._grab).result()

    def size(self) -> tuple[int, int]:
        monitor = self._thread.submit(lambda: self._mss().monitors[1]).result()
        return monitor["width"], monitor["height"]

    def mark(self, mode: str) -> str:
        """Before an action: start watching for a ``mode`` settle (one of ``SETTLE_MODES``). Returns the mode in
        effect: ``grabs`` when asked for, or when the display cannot report drawing (said once in the log)."""
        if mode not in SETTLE_MODES:
            raise ValueError(f"unknown settle mode {mode!r}; use one of {', '.join(SETTLE_MODES)}")
        if mode == "damage" and self._watch is None and self._watch_error is None:
            try:
                self._watch = DrawingWatch()
            except DamageUnavailable as exc:
                self._watch_error = str(exc)
                logging.getLogger(__name__).warning("settling by comparing grabs: %s", exc)
        if mode == "grabs" or self._watch is None:
            return "grabs"
        self._watch.mark()
        return "damage"

    def settle(self, min_s: float, max_s: float, mode: str = "damage", still_s: float | None = None,
               quiet_s: float = QUIET_S, rgb: bool = False) -> tuple[float, Frame | None]:
        """Wait ``min_s``, then until the screen stopped changing (at most ``max_s``), by ``mode`` as
        :meth:`mark` returned it: ``damage``, until nothing was drawn for ``quiet_s`` after now (at least
        ``PRESSED_QUIET_S`` when the action pressed a key or button; ``LATE_PRESSED_QUIET_S`` while nothing drew
        when that went to a window of ``LATE_PAINTERS``) and for ``still_s`` after the last drawing;
        ``grabs``, until two grabs ``still_s`` apart are identical.
        ``still_s`` defaults to the mode's ``STILL_S``. ``rgb``: the frame will be sent as RGB; a ``damage`` wait
        converts the grab it makes as it starts while it waits (when nothing draws, that grab is the answer).

        Apps repaint asynchronously after an input event; this returns once they stopped. Returns the seconds
        spent and the settled screen (``None`` when ``max_s <= 0`` asked for no wait at all).
        """
        t0 = time.monotonic()
        if max_s <= 0:
            return 0.0, None
        still_s = STILL_S[mode] if still_s is None else still_s
        if mode == "damage":
            assert self._watch is not None, "settle(mode='damage') needs mark('damage') to have returned 'damage'"
            early = self._thread.submit(self._grab, rgb)  # while waiting: the settled screen if nothing draws
            drew = self._watch.wait(t0, min_s, max_s, quiet_s, max(quiet_s, PRESSED_QUIET_S), still_s,
                                    LATE_PAINTERS, LATE_PRESSED_QUIET_S)
            spent = time.monotonic() - t0
            return spent, self.grab() if drew else early.result()
        time.sleep(min_s)
        previous = self.grab()
        while time.monotonic() - t0 < max_s:
            time.sleep(still_s)
            current = self.grab()
            if current.bgra == previous.bgra:
                break
            previous = current
        return time.monotonic() - t0, previous


def encode(frame: Frame, fmt: str, quality: int = 80) -> tuple[bytes, str]:
    """Encode a frame: ``raw`` (H*W*3 RGB bytes), ``png`` (fast zlib level 1) or ``jpeg``."""
    if fmt == "raw":
        return frame.rgb, "application/octet-stream"
    buf = io.BytesIO()
    if fmt == "png":
        frame.image().save(buf, format="PNG", compress_level=1)
        return buf.getvalue(), "image/png"
    if fmt in ("jpeg", "jpg"):
        frame.image().save(buf, format="JPEG", quality=quality)
        return buf.getvalue(), "image/jpeg"
    raise ValueError(f"unknown screenshot format {fmt!r}; use raw, png or jpeg")
