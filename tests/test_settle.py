"""A step's settle wait: the X server's DAMAGE reports on a bare Xvfb (this test is the app that draws), and on a
real session an observation that shows the whole reaction to the step (a dropdown's list, typed text)."""

from __future__ import annotations

import os
import select
import subprocess
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from Xlib import X, display
from Xlib.ext import xtest

from step_envs.desktop.env import DesktopEnv
from step_envs.server.damage import DamageUnavailable, DrawingWatch, FolderStamp
from step_envs.server.screen import PRESSED_QUIET_S, QUIET_S, ScreenGrabber
from step_envs.tasks import Task
from step_envs.tasks.probes import EDITOR
from step_envs.tasks.templates.widgets import widget_task

pytestmark = pytest.mark.desktop

COLOURS = [0x2040C0, 0x40A040, 0xC0C020, 0xE08000, 0xD02020]  # one per frame the slow app draws; red last


def start_xvfb(*extra: str) -> tuple[subprocess.Popen, str]:
    """A bare Xvfb (no window manager, no apps) on a free display, as the local provider starts it."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "640x480x24", "-nolisten", "tcp",
                             "-noreset", "+extension", "XFIXES", *extra], pass_fds=(write_fd,),
                            stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        data = b""
        while not data.endswith(b"\n"):
            assert select.select([pipe], [], [], 10)[0], "Xvfb did not print its display number within 10 s"
            chunk = pipe.read(16)
            assert chunk, "Xvfb exited before it printed its display number"
            data += chunk
    return proc, f":{int(data)}"


@pytest.fixture(scope="module")
def xvfb() -> Iterator[str]:
    proc, name = start_xvfb()
    yield name
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def screen(xvfb: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[display.Display]:
    """This test's own X client on the bare display (``$DISPLAY`` names it, for the grabber too)."""
    monkeypatch.setenv("DISPLAY", xvfb)
    client = display.Display(xvfb)
    yield client
    client.close()


def window(client: display.Display, x: int, y: int) -> display.drawable.Window:
    win = client.screen().root.create_window(x, y, 100, 100, 0, client.screen().root_depth,
                                             background_pixel=client.screen().white_pixel)
    win.map()
    client.sync()
    return win


def test_an_unknown_settle_mode_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown settle mode 'poll'; use one of damage, grabs"):
        ScreenGrabber().mark("poll")
    with pytest.raises(ValueError, match="settle must be one of damage, grabs, got 'poll'"):
        DesktopEnv(settle="poll")


def test_with_nothing_drawn_the_wait_is_the_quiet_window_and_a_pointer_move_is_no_drawing(
        screen: display.Display) -> None:
    window(screen, 300, 300)
    watch = DrawingWatch()
    for x in (10, 200, 400):  # over the root and over a window with the same pointer image
        watch.mark()
        xtest.fake_input(screen, X.MotionNotify, x=x, y=350)
        screen.sync()
        start = time.monotonic()
        assert watch.wait(start, 0.0, 1.0, QUIET_S, PRESSED_QUIET_S, 0.025) is False  # an earlier grab holds
        assert time.monotonic() - start >= QUIET_S


def test_a_key_press_gives_the_longer_quiet_window(screen: display.Display) -> None:
    watch = DrawingWatch()
    watch.mark()
    shift = screen.keysym_to_keycode(0xFFE1)  # Shift_L: no app here, nothing draws
    xtest.fake_input(screen, X.KeyPress, shift)
    xtest.fake_input(screen, X.KeyRelease, shift)
    screen.sync()
    start = time.monotonic()
    assert watch.wait(start, 0.0, 1.0, 0.001, 0.15, 0.01) is False
    assert time.monotonic() - start >= 0.15


def test_a_change_of_the_pointer_image_counts_as_drawing(screen: display.Display) -> None:
    win = window(screen, 100, 100)
    watch = DrawingWatch()
    xtest.fake_input(screen, X.MotionNotify, x=150, y=150)
    screen.sync()
    watch.mark()
    font = screen.open_font("cursor")
    hand = font.create_glyph_cursor(font, 60, 61, (0, 0, 0), (0xFFFF, 0xFFFF, 0xFFFF))  # XC_hand2
    win.change_attributes(cursor=hand)  # what a browser does over a link: no pixel of the screen changes
    screen.sync()
    assert watch.wait(time.monotonic(), 0.0, 1.0, QUIET_S, PRESSED_QUIET_S, 0.025) is True


def test_a_window_that_keeps_drawing_is_waited_for_and_observed_at_its_last_frame(screen: display.Display) -> None:
    """The action opens a window that draws a frame every 30 ms: the settled frame is its last one."""
    grabber = ScreenGrabber(with_cursor=False)
    assert grabber.mark("damage") == "damage"
    win = window(screen, 200, 200)
    gc = win.create_gc()

    def draw(colour: int) -> None:
        gc.change(foreground=colour)
        win.fill_rectangle(gc, 0, 0, 100, 100)
        screen.sync()

    draw(COLOURS[0])  # during the action

    def keep_drawing() -> None:
        for colour in COLOURS[1:]:
            time.sleep(0.03)
            draw(colour)

    drawer = threading.Thread(target=keep_drawing)
    drawer.start()
    spent, frame = grabber.settle(0.0, 5.0, "damage", still_s=0.2)
    drawer.join()
    assert frame is not None and spent >= 0.03 * (len(COLOURS) - 1)
    red, green, blue = frame.image().getpixel((250, 250))
    assert (red << 16) | (green << 8) | blue == COLOURS[-1]


@pytest.mark.parametrize(("wm_class", "late_s", "waits"), [("Chromium", 0.05, True), ("thunderbird-default", 0.05, True),
                                                        ("Mousepad", 0.4, False)])
def test_a_press_to_a_browser_waits_for_its_late_first_repaint(screen: display.Display, wm_class: str,
                                                               late_s: float, waits: bool) -> None:
    """A key pressed into a window whose class is a late painter (Chromium, Gecko): the app's first drawing 50 ms
    after the key, where a step's plain press window (16 ms) would show the screen as it was before the action;
    any other app's press window stays short."""
    win = window(screen, 200, 200)
    win.set_wm_class(wm_class.lower(), wm_class)
    win.set_input_focus(X.RevertToParent, X.CurrentTime)
    screen.sync()
    grabber = ScreenGrabber(with_cursor=False)
    assert grabber.mark("damage") == "damage"
    shift = screen.keysym_to_keycode(0xFFE1)
    xtest.fake_input(screen, X.KeyPress, shift)
    xtest.fake_input(screen, X.KeyRelease, shift)
    screen.sync()
    gc = win.create_gc(foreground=COLOURS[-1])

    def repaint() -> None:
        time.sleep(late_s)
        win.fill_rectangle(gc, 0, 0, 100, 100)
        screen.sync()

    painter = threading.Thread(target=repaint)
    painter.start()
    _, frame = grabber.settle(0.0, 1.0, "damage")
    painter.join()
    red, green, blue = frame.image().getpixel((250, 250))
    assert (((red << 16) | (green << 8) | blue) == COLOURS[-1]) is waits


def test_a_display_without_damage_settles_by_comparing_grabs(monkeypatch: pytest.MonkeyPatch) -> None:
    proc, name = start_xvfb("-extension", "DAMAGE")
    try:
        monkeypatch.setenv("DISPLAY", name)
        with pytest.raises(DamageUnavailable, match=f"the X server of {name} has no DAMAGE extension"):
            DrawingWatch()
        grabber = ScreenGrabber()
        assert grabber.mark("damage") == "grabs"
        spent, frame = grabber.settle(0.0, 1.0, "grabs")
        assert frame is not None and (frame.width, frame.height) == (640, 480) and spent >= 0.015
    finally:
        proc.terminate()
        proc.wait(10)


# --- on a real session: what the agent sees after its step ----------------------------------------------------


@pytest.fixture(scope="module")
def env() -> Iterator[DesktopEnv]:
    env = DesktopEnv(max_steps=50)
    yield env
    env.close()


def changed_after(env: DesktopEnv, action: str) -> int:
    """How many pixels of the step's observation differ from the screen 0.15 s later (four times the wait after
    the last drawing; later, a text caret may blink): 0 when it showed the whole reaction."""
    obs, _, _, _, info = env.step(action)
    assert info["action_error"] is None and info["timings"]["settle"] > 0
    time.sleep(0.15)
    return int((env.client.screenshot() != obs["screenshot"]).any(axis=2).sum())


def test_a_click_that_opens_a_dropdown_is_observed_with_its_list(env: DesktopEnv) -> None:
    """GTK draws the list one frame (16.7 ms) after the pressed button: a wait that ends between the two frames
    shows a closed dropdown (comparing grabs 15 ms apart does, in ~1 of 3 clicks here)."""
    for seed in range(3):
        task = widget_task(f"widget-select-option/{seed}")
        changed = []
        for _ in range(2):  # a second try: a machine loaded enough starves the app past any wait now and then
            before, _ = env.reset(options={"task": task})
            changed.append(changed_after(env, task.solution[0]))
            if changed[-1] == 0:
                break
        assert changed[-1] == 0, f"seed {seed}: {changed} pixels changed after the step settled"
        assert not np.array_equal(env.client.screenshot(), before["screenshot"])


def test_typed_text_is_observed_whole(env: DesktopEnv) -> None:
    env.reset(options={"task": EDITOR})
    for word in ("alpha ", "bravo charlie ", "delta echo foxtrot "):
        assert changed_after(env, f"pyautogui.write({word!r})") == 0, word


def test_keys_typed_into_chromium_are_observed_with_their_repaint(env: DesktopEnv) -> None:
    """Chromium draws 7-11 ms after a key (more under load), later than a GTK app: each step's observation shows
    its letter (the page's text area compared with the screen 0.15 s later; Chromium's own toolbar animates on its
    own timers)."""
    page = ("<!doctype html><title>Typing</title><textarea autofocus style='position:fixed;left:0;top:0;"
            "width:600px;height:200px;font-size:28px'></textarea>")
    task = Task(id="settle-chromium", instruction="Type.", evaluator={"func": "infeasible"}, config=[
        {"type": "execute", "parameters": {"command": f"cat > ~/typing.html <<'EOF'\n{page}\nEOF", "shell": True}},
        {"type": "launch", "parameters": {"command": ["bash", "-c", "exec google-chrome file://$HOME/typing.html"]},
         "ready": {"window": "Typing", "quiet": 0.5, "timeout": 60}}])
    obs, info = env.reset(options={"task": task})
    assert info.get("env_error") is None
    try:
        text_area = obs["screenshot"].shape[0] - 1, 0  # found below, from the page's first letter
        previous = obs["screenshot"]
        for letter in "stepgym":
            obs, _, _, _, info = env.step(f"pyautogui.press({letter!r})")
            drawn = (obs["screenshot"] != previous).any(axis=2)
            assert drawn.any(), f"{letter!r}: the step's observation is the screen before the key"
            if letter == "s":  # the page's top-left corner: where the first letter appeared
                ys, xs = drawn.nonzero()
                text_area = int(ys.min()), int(xs.min())
            time.sleep(0.15)
            top, left = text_area
            later = env.client.screenshot()[top:top + 200, left:left + 600]
            assert np.array_equal(later, obs["screenshot"][top:top + 200, left:left + 600]), letter
            previous = obs["screenshot"]
    finally:
        env.reset(options={"task": EDITOR})  # ends Chromium with the episode's processes


def test_a_folder_stamp_sees_entries_come_and_go_but_not_a_second_look(tmp_path) -> None:
    """A reset's longer quiet rests on this: the first look and every change of the folder's entries count, an
    unchanged folder does not, a missing one does."""
    stamp = FolderStamp(str(tmp_path / "Desktop"))
    assert stamp.changed(), "a missing folder counts as changed"
    (tmp_path / "Desktop").mkdir()
    assert stamp.changed() and not stamp.changed()
    (tmp_path / "Desktop" / "a.txt").write_text("a")
    assert stamp.changed() and not stamp.changed()
    (tmp_path / "Desktop" / "a.txt").unlink()
    assert stamp.changed() and not stamp.changed()
