"""The widget app: one fullscreen GTK 3 window showing a task's widgets at the pixel boxes its spec gives.

It runs inside the desktop session and uses the standard library plus Debian's PyGObject (``python3-gi``,
``python3-gi-cairo``, ``gir1.2-gtk-3.0``): it is run by path, so starting it does not import ``step_envs`` (~0.1 s
instead of ~1 s). The spec (built by :class:`step_envs.widgets.form.Form`) lists the widgets, each with its box and
its state key, and the initial ``state``. Every change of a value rewrites the state file (JSON, sorted keys,
replaced atomically), which the task's checker reads.

Widget kinds and what they do to their key: ``button`` appends its label to ``clicks``; ``entry`` holds its text;
``checkbox`` a bool; ``radio`` (one per option) and ``dropdown`` the chosen option ("" before a choice);
``slider`` and ``counter`` an int; ``text`` is a label with no state.

Being GTK, the window is in the session's accessibility tree (AT-SPI) like any real app's, each widget at its box
with its role and name: a ``push button`` named by its label, a ``text`` (``password text`` when masked), ``check
box`` and ``radio button`` named by their labels, a ``combo box`` named by its field (its open list a ``menu`` of
``menu item`` rows), a ``slider`` (its track; the value is its AT-SPI value and the ``label`` right of it), a
``spin button`` holding its ``-`` and ``+`` push buttons and the value's ``label``, and every text a ``label``.
A field's name is its state key after the kind (``field:City`` is the entry named ``City``).

    python app.py SPEC_JSON STATE_PATH

The process forks: the child shows the window in its own session; the parent exits 0 once the window covers the
screen at (0, 0) and is drawn (1 with the child's error otherwise), so a setup step that runs it returns exactly
when the app takes input.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
from collections.abc import Callable

TYPE_CHECKING = False  # typing is for type checkers only: importing it would add ~3 ms to every reset
if TYPE_CHECKING:
    from typing import Any

    from gi.repository import Atk, Gdk, Gtk

PROGRAM = "step-widgets"
HEADER_HEIGHT = 64
HEADER_WRAP = 760
READY_TIMEOUT_S = 20.0
# The look, over GTK's built-in Adwaita theme; the size rules let every widget shrink to exactly its box.
CSS = b"""
* { font-family: "DejaVu Sans"; font-size: 12pt; }
window { background-color: #f4f4f4; }
.header { background-color: #ffffcc; }
.bold { font-weight: bold; }
button { min-height: 0; min-width: 0; padding: 0 4px; }
entry { min-height: 0; padding: 0 6px; background-color: white; }
checkbutton, radiobutton { min-height: 0; padding: 0; }
.dropdown { background-image: none; background-color: white; }
.options { background-color: #888888; padding: 1px 1px 0 1px; }
.options button { border: none; border-radius: 0; box-shadow: none; background-image: none;
                  background-color: white; padding: 0 6px; }
.options button:hover { background-color: #cfe0fb; }
scale { min-height: 0; min-width: 0; margin: 0; padding: 0; }
scale trough { border: none; border-radius: 0; margin: 0; background-color: transparent;
               background-image: linear-gradient(#b0b0b0, #b0b0b0); background-size: 100% 6px;
               background-position: center; background-repeat: no-repeat; background-clip: content-box; }
scale slider { min-width: 12px; min-height: 24px; margin: 0 -6px; border: 1px solid #1f4f9e; border-radius: 0;
               box-shadow: none; background-image: none; background-color: #3874d8; }
.value { background-color: white; border: 1px solid #888888; font-weight: bold; }
"""


def load_gtk() -> None:
    """Import GTK into this module. Only the process that shows the window does: PyGObject opens the display
    when it imports GTK, and an X connection must not be shared across the fork."""
    global Atk, Gdk, Gtk
    try:
        try:
            import gi
        except ImportError:  # run with ``python -S`` or from a venv: PyGObject is the system Python's
            import site

            sys.path.extend(path for path in site.getsitepackages([sys.base_prefix]) if path not in sys.path)
            import gi
        from gi.repository import GLib

        GLib.set_prgname(PROGRAM)  # the application's name in the accessibility tree and its window class
        os.environ["GTK_THEME"] = "Adwaita"  # GTK's built-in theme whatever the session's; set later, it reloads
        gi.require_version("Atk", "1.0")
        gi.require_version("Gdk", "3.0")
        gi.require_version("Gtk", "3.0")
        gi.require_foreign("cairo")  # the draw signal hands over a cairo context (python3-gi-cairo)
        from gi.repository import Atk, Gdk, Gtk
    except (ImportError, ValueError) as exc:
        raise RuntimeError(f"GTK 3 for Python is missing ({exc}): install the Debian packages python3-gi, "
                           "python3-gi-cairo and gir1.2-gtk-3.0 (`make install` does)") from exc


def named(widget: Gtk.Widget, name: str, role: Atk.Role | None = None) -> Gtk.Widget:
    """Give ``widget`` its accessible name (and role, where GTK's own is not the one a real app's has)."""
    accessible = widget.get_accessible()
    accessible.set_name(name)
    if role is not None:
        accessible.set_role(role)
    return widget


def field_name(spec: dict[str, Any]) -> str:
    """A field's name: its state key after the kind (``field:City`` -> ``City``)."""
    return spec["key"].partition(":")[2]


class WidgetApp:
    """Builds the widgets of ``spec`` in ``window`` and keeps ``state_path`` equal to their values."""

    def __init__(self, window: Gtk.Window, spec: dict[str, Any], state_path: str) -> None:
        self.window, self.state_path = window, state_path
        self.state: dict[str, Any] = dict(spec["state"])
        self.radio_groups: dict[str, Gtk.RadioButton] = {}
        self.ready = False
        self.layout = Gtk.Fixed()
        self.on_top: list[tuple[Gtk.Widget, dict[str, int]]] = []  # open dropdown lists: drawn over the rest
        window.add(self.layout)
        window.set_title(spec.get("title", "Widgets"))
        width = window.get_screen().get_root_window().get_width()
        band = self.put(Gtk.Box(), {"x": 0, "y": 0, "w": width, "h": HEADER_HEIGHT})
        band.get_style_context().add_class("header")
        header = Gtk.Label(label=spec.get("instruction", ""), xalign=0.0, wrap=True)
        header.get_style_context().add_class("bold")
        self.put(header, {"x": 16, "y": 0, "w": HEADER_WRAP, "h": HEADER_HEIGHT})
        makers = {"text": self._make_text, "button": self._make_button, "entry": self._make_entry,
                  "checkbox": self._make_checkbox, "radio": self._make_radio, "dropdown": self._make_dropdown,
                  "slider": self._make_slider, "counter": self._make_counter}
        for widget in spec["widgets"]:
            if widget["kind"] not in makers:
                raise ValueError(f"unknown widget kind {widget['kind']!r}; known: {', '.join(sorted(makers))}")
            makers[widget["kind"]](widget)
        for widget, box in self.on_top:
            self.put(widget, box)

    def put(self, widget: Gtk.Widget, box: dict[str, int]) -> Gtk.Widget:
        """Place ``widget`` at exactly ``box`` (``x``, ``y``, ``w``, ``h`` in window pixels)."""
        widget.set_size_request(box["w"], box["h"])
        self.layout.put(widget, box["x"], box["y"])
        return widget

    # --- state ---------------------------------------------------------------------------------------

    def set(self, key: str, value: Any) -> None:
        self.state[key] = value
        self.write()

    def write(self) -> None:
        """Replace the state file atomically (a reader never sees half of it); nothing before the window is up."""
        if not self.ready:
            return
        partial = self.state_path + ".partial"
        with open(partial, "w", encoding="utf-8") as out:
            json.dump(self.state, out, sort_keys=True)
        os.replace(partial, self.state_path)

    def became_ready(self) -> None:
        self.window.get_window().focus(Gdk.CURRENT_TIME)
        self.ready = True
        self.write()

    # --- widgets -------------------------------------------------------------------------------------

    def _make_text(self, spec: dict[str, Any]) -> None:
        label = Gtk.Label(label=spec["text"], xalign=0.0)
        if spec.get("bold"):
            label.get_style_context().add_class("bold")
        self.put(label, spec)

    @staticmethod
    def _button(label: str, name: str | None = None) -> Gtk.Button:
        """A push button that, like a real toolbar's, does not take the keyboard focus from the field in use."""
        button = Gtk.Button(label=label, can_focus=False, focus_on_click=False)
        return named(button, name) if name is not None else button

    def _make_button(self, spec: dict[str, Any]) -> None:
        key, label = spec["key"], spec["label"]
        button = self._button(label)
        button.connect("clicked", lambda _: self.set(key, [*self.state[key], label]))
        self.put(button, spec)

    def _make_entry(self, spec: dict[str, Any]) -> None:
        key = spec["key"]
        entry = named(Gtk.Entry(text=self.state[key], visibility=not spec.get("secret")), field_name(spec))
        entry.connect("changed", lambda _: self.set(key, entry.get_text()))
        self.put(entry, spec)

    def _make_checkbox(self, spec: dict[str, Any]) -> None:
        key = spec["key"]
        box = Gtk.CheckButton(label=spec["label"], active=self.state[key], can_focus=False, focus_on_click=False)
        box.connect("toggled", lambda _: self.set(key, box.get_active()))
        self.put(box, spec)

    def _make_radio(self, spec: dict[str, Any]) -> None:
        """One option; the group's first also makes an unshown option, active until a choice (state "")."""
        key, value = spec["key"], spec["value"]
        if key not in self.radio_groups:
            self.radio_groups[key] = Gtk.RadioButton(active=True)
        button = Gtk.RadioButton(label=value, group=self.radio_groups[key], can_focus=False, focus_on_click=False)
        button.connect("toggled", lambda _: button.get_active() and self.set(key, value))
        self.put(button, spec)

    def _make_dropdown(self, spec: dict[str, Any]) -> None:
        """A button showing the choice; clicking it opens one row per option right below it, each ``h`` pixels
        high (option ``i`` spans ``y + h * (i + 1)`` to ``y + h * (i + 2)``), on top of whatever is there."""
        key, height, options = spec["key"], spec["h"], spec["options"]
        button = named(self._button(f"{self.state[key] or 'Choose...'}  \u25be"), field_name(spec),
                       Atk.Role.COMBO_BOX)
        button.get_style_context().add_class("dropdown")
        button.get_child().set_xalign(0.0)
        rows = named(Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=1), field_name(spec), Atk.Role.MENU)
        rows.get_style_context().add_class("options")

        def choose(option: str) -> None:
            button.set_label(f"{option}  \u25be")
            rows.set_child_visible(False)
            self.set(key, option)

        for option in options:
            row = named(self._button(option, option), option, Atk.Role.MENU_ITEM)
            row.get_child().set_xalign(0.0)
            row.set_size_request(spec["w"] - 2, height - 1)
            row.connect("clicked", lambda _, o=option: choose(o))  # an accessibility "click" action
            # a press chooses, as in a menu: a button's own click also needs GTK to have seen the pointer enter
            # it, which a row mapped right under the pointer only gets on an idle pass after the press
            row.connect("button-press-event", lambda _, event, o=option: event.button == 1 and (choose(o) or True))
            rows.add(row)
            row.show_all()
        # The list stays laid out while closed and is only unmapped (child-visible off), so opening it maps the
        # rows at their final boxes at once: a click on a row that arrives right behind the opening click (both
        # queued before GTK's next layout pass) lands on the row, as it would in a real toolkit's menu.
        button.connect("clicked", lambda _: rows.set_child_visible(not rows.get_child_visible()))
        rows.set_child_visible(False)
        self.put(button, spec)
        self.on_top.append((rows, {"x": spec["x"], "y": spec["y"] + height, "w": spec["w"],
                                   "h": height * len(options)}))

    def _make_slider(self, spec: dict[str, Any]) -> None:
        """A track of ``step_px`` pixels per unit from ``pad`` pixels into the box: value ``v`` sits at
        ``x + pad + (v - min) * step_px``. Pressing or dragging on it puts the handle under the pointer; the
        arrow keys move it by one; the value is printed right of the track. GTK's trough is the whole scale
        (presses anywhere on it count), its content (drawn as a 6 px line) starts ``pad`` pixels in, and the
        handle takes no length of it (negative margins), so GTK draws the handle's centre, and reads a pointer
        pressed on it, at exactly that pixel."""
        key, low, high, step_px, pad = spec["key"], spec["min"], spec["max"], spec["step_px"], spec["pad"]
        track = 2 * pad + (high - low) * step_px
        scale = named(Gtk.Scale(adjustment=Gtk.Adjustment(value=self.state[key], lower=low, upper=high,
                                                          step_increment=1, page_increment=1),
                                draw_value=False, digits=0, round_digits=0, has_origin=False), field_name(spec))
        geometry = Gtk.CssProvider()
        geometry.load_from_data(b"scale trough { min-height: %dpx; padding: 0 %dpx; }" % (spec["h"], pad))
        scale.get_style_context().add_provider(geometry, Gtk.STYLE_PROVIDER_PRIORITY_APPLICATION)
        shown = Gtk.Label(label=str(self.state[key]), xalign=0.0)
        shown.get_style_context().add_class("bold")

        def moved(_: Gtk.Scale) -> None:
            value = round(scale.get_value())
            if value != self.state[key]:
                shown.set_label(str(value))
                self.set(key, value)

        scale.connect("value-changed", moved)
        self.put(scale, {**spec, "w": track})
        self.put(shown, {**spec, "x": spec["x"] + track + 8, "w": spec["w"] - track - 8})

    def _make_counter(self, spec: dict[str, Any]) -> None:
        """``[-] value [+]`` across the box: the buttons are ``h`` pixels square at either end."""
        key, side = spec["key"], spec["h"]
        counter = named(Gtk.Box(), field_name(spec), Atk.Role.SPIN_BUTTON)
        shown = Gtk.Label(label=str(self.state[key]))
        shown.get_style_context().add_class("value")

        def add(delta: int) -> None:
            shown.set_label(str(self.state[key] + delta))
            self.set(key, self.state[key] + delta)

        minus, plus = self._button("\u2212", "-"), self._button("+", "+")
        for button, delta in ((minus, -1), (plus, 1)):
            button.set_size_request(side, side)
            button.connect("clicked", lambda _, d=delta: add(d))
        counter.pack_start(minus, False, False, 0)
        counter.pack_start(shown, True, True, 0)
        counter.pack_start(plus, False, False, 0)
        self.put(counter, spec)


def run_app(spec: dict[str, Any], state_path: str, on_ready: Callable[[], None]) -> None:
    """Show the window and serve it until killed; ``on_ready`` runs once it covers the screen and is drawn."""
    load_gtk()
    if not Gtk.init_check(None)[0]:
        raise RuntimeError(f"cannot open the display {os.environ.get('DISPLAY', '')!r} (is DISPLAY set?)")
    settings = Gtk.Settings.get_default()
    # a blinking caret, or a transition after every click and hover, would keep the screen from settling
    settings.set_property("gtk-enable-animations", False)
    settings.set_property("gtk-cursor-blink", False)
    settings.set_property("gtk-primary-button-warps-slider", True)  # a press on a track puts the handle there
    settings.set_property("gtk-long-press-time", 2**31 - 1)  # holding a handle still never turns on fine-tuning
    style = Gtk.CssProvider()
    style.load_from_data(CSS)
    screen = Gdk.Screen.get_default()
    Gtk.StyleContext.add_provider_for_screen(screen, style, Gtk.STYLE_PROVIDER_PRIORITY_APPLICATION)
    root = screen.get_root_window()
    need, size = spec.get("min_screen", [0, 0]), (root.get_width(), root.get_height())
    if size[0] < need[0] or size[1] < need[1]:
        raise RuntimeError(f"the widget tasks need a screen of at least {need[0]}x{need[1]}, this one is "
                           f"{size[0]}x{size[1]}")
    window = Gtk.Window(default_width=size[0], default_height=size[1])
    window.connect("destroy", Gtk.main_quit)
    app = WidgetApp(window, spec, state_path)
    drawn_size = (0, 0)

    def draw(widget: Gtk.Window, _: object) -> bool:
        nonlocal drawn_size
        drawn_size = (widget.get_allocated_width(), widget.get_allocated_height())
        return False

    def painted(clock: Gdk.FrameClock) -> None:
        """After each frame until ready: ready once a frame has drawn the window covering the screen."""
        gdk_window = window.get_window()
        if drawn_size != size or tuple(gdk_window.get_origin()[1:]) != (0, 0):
            return
        gdk_window.get_display().sync()  # the server has the pixels before anyone is told they are there
        clock.disconnect_by_func(painted)
        window.disconnect_by_func(draw)
        app.became_ready()
        on_ready()

    def realized(_: Gtk.Window) -> None:
        gdk_window = window.get_window()
        gdk_window.set_cursor(Gdk.Cursor.new_from_name(gdk_window.get_display(), "default"))
        window.get_frame_clock().connect("after-paint", painted)

    window.connect("draw", draw)
    window.connect("realize", realized)
    window.fullscreen()
    window.show_all()
    window.set_focus(None)  # GTK focuses the first field on show: here none has the focus until clicked
    Gtk.main()


def _child(spec: dict[str, Any], state_path: str, report_fd: int) -> int:
    """The app's process: its own session, no hold on the caller's pipes; reports "ready" or its error."""
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    report = os.fdopen(report_fd, "w")

    def ready() -> None:
        report.write("ready\n")
        report.close()

    try:
        run_app(spec, state_path, ready)
    except BaseException:  # noqa: BLE001 - whatever stops the app becomes the launcher's error message
        if not report.closed:
            import traceback

            report.write(traceback.format_exc())
            report.close()
        return 1
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    spec, state_path = json.loads(argv[0]), os.path.expanduser(argv[1])
    os.makedirs(os.path.dirname(state_path), exist_ok=True)
    if os.path.exists(state_path):
        os.unlink(state_path)
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:  # never return into the parent's code below, whatever happens
        code = 1
        try:
            os.close(read_fd)
            code = _child(spec, state_path, write_fd)
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        readable, _, _ = select.select([pipe], [], [], READY_TIMEOUT_S)
        message = pipe.read() if readable else f"the window was not ready within {READY_TIMEOUT_S:g} s"
    if message == "ready\n":
        return 0
    os.kill(child, signal.SIGKILL)  # a late window would come up beside the next try's
    os.waitpid(child, 0)
    print(message or "the widget app exited before its window was ready", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
