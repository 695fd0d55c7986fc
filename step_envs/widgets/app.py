"""The widget app: one fullscreen Tk window showing a task's widgets at the pixel boxes its spec gives.

It runs inside the desktop session and uses only the standard library: it is run by path, so starting it does
not import ``step_envs`` (~0.1 s instead of ~1 s). The spec (built by :class:`step_envs.widgets.form.Form`) lists
the widgets, each with its box and its state key, and the initial ``state``. Every change of a value rewrites the
state file (JSON, sorted keys, replaced atomically), which the task's checker reads.

Widget kinds and what they do to their key: ``button`` appends its label to ``clicks``; ``entry`` holds its text;
``checkbox`` a bool; ``radio`` (one per option) and ``dropdown`` the chosen option ("" before a choice);
``slider`` and ``counter`` an int; ``text`` is a label with no state.

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

# Xlib parses the locale's whole Compose table (three times) when Tk opens its input method: ~25 ms in a UTF-8
# locale, none in C. Tcl sets the process locale from the environment when tkinter is imported, so this comes
# first. Tk's text stays Unicode, and pyautogui types ASCII key by key either way.
os.environ["LC_ALL"] = "C"
import tkinter as tk  # noqa: E402

TYPE_CHECKING = False  # typing is for type checkers only: importing it would add ~3 ms to every reset
if TYPE_CHECKING:
    from typing import Any

FONT = ("DejaVu Sans", 12)
BOLD = ("DejaVu Sans", 12, "bold")
BACKGROUND = "#f4f4f4"
ACCENT = "#3874d8"
HEADER_HEIGHT = 64
READY_TIMEOUT_S = 20.0


class WidgetApp:
    """Builds the widgets of ``spec`` in ``root`` and keeps ``state_path`` equal to their values."""

    def __init__(self, root: tk.Tk, spec: dict[str, Any], state_path: str) -> None:
        self.root, self.state_path = root, state_path
        self.state: dict[str, Any] = dict(spec["state"])
        self.radio_vars: dict[str, tk.StringVar] = {}
        self.ready = False
        root.title(spec.get("title", "Widgets"))
        root.configure(background=BACKGROUND, cursor="left_ptr")
        root.option_add("*Font", FONT)
        header = tk.Label(root, text=spec.get("instruction", ""), font=BOLD, anchor="w", justify="left",
                          background="#ffffcc", wraplength=760, padx=16)
        header.place(x=0, y=0, relwidth=1.0, height=HEADER_HEIGHT)
        makers = {"text": self._make_text, "button": self._make_button, "entry": self._make_entry,
                  "checkbox": self._make_checkbox, "radio": self._make_radio, "dropdown": self._make_dropdown,
                  "slider": self._make_slider, "counter": self._make_counter}
        for widget in spec["widgets"]:
            if widget["kind"] not in makers:
                raise ValueError(f"unknown widget kind {widget['kind']!r}; known: {', '.join(sorted(makers))}")
            makers[widget["kind"]](widget)

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
        self.root.update_idletasks()
        self.root.focus_force()
        self.ready = True
        self.write()

    # --- widgets -------------------------------------------------------------------------------------

    @staticmethod
    def _place(widget: tk.Widget, spec: dict[str, Any]) -> None:
        widget.place(x=spec["x"], y=spec["y"], width=spec["w"], height=spec["h"])

    def _make_text(self, spec: dict[str, Any]) -> None:
        label = tk.Label(self.root, text=spec["text"], anchor="w", background=BACKGROUND,
                         font=BOLD if spec.get("bold") else FONT)
        self._place(label, spec)

    def _make_button(self, spec: dict[str, Any]) -> None:
        key, label = spec["key"], spec["label"]
        button = tk.Button(self.root, text=label, takefocus=0,
                           command=lambda: self.set(key, [*self.state[key], label]))
        self._place(button, spec)

    def _make_entry(self, spec: dict[str, Any]) -> None:
        key = spec["key"]
        var = tk.StringVar(self.root, value=self.state[key])
        var.trace_add("write", lambda *_: self.set(key, var.get()))
        # a steady caret: a blinking one would keep the screen from ever settling
        entry = tk.Entry(self.root, textvariable=var, insertofftime=0, background="white", highlightthickness=2,
                         highlightcolor=ACCENT, show="*" if spec.get("secret") else "")
        self._place(entry, spec)

    def _make_checkbox(self, spec: dict[str, Any]) -> None:
        key = spec["key"]
        var = tk.BooleanVar(self.root, value=self.state[key])
        var.trace_add("write", lambda *_: self.set(key, bool(var.get())))
        box = tk.Checkbutton(self.root, text=spec["label"], variable=var, anchor="w", background=BACKGROUND,
                             activebackground=BACKGROUND, highlightthickness=0, takefocus=0)
        self._place(box, spec)

    def _make_radio(self, spec: dict[str, Any]) -> None:
        key = spec["key"]
        if key not in self.radio_vars:  # one variable per group, made with its first option
            var = self.radio_vars[key] = tk.StringVar(self.root, value=self.state[key])
            var.trace_add("write", lambda *_: self.set(key, var.get()))
        button = tk.Radiobutton(self.root, text=spec["value"], value=spec["value"], variable=self.radio_vars[key],
                                anchor="w", background=BACKGROUND, activebackground=BACKGROUND,
                                highlightthickness=0, takefocus=0)
        self._place(button, spec)

    def _make_dropdown(self, spec: dict[str, Any]) -> None:
        """A button showing the choice; clicking it opens one row per option right below it, each ``h`` pixels
        high (option ``i`` spans ``y + h * (i + 1)`` to ``y + h * (i + 2)``), on top of whatever is there."""
        key, height, options = spec["key"], spec["h"], spec["options"]
        rows = tk.Frame(self.root, background="#888888")
        button = tk.Button(self.root, text=f"{self.state[key] or 'Choose...'}  \u25be", anchor="w", takefocus=0,
                           background="white")

        def choose(option: str) -> None:
            button.configure(text=f"{option}  \u25be")
            rows.place_forget()
            self.set(key, option)

        def toggle() -> None:
            if rows.winfo_ismapped():
                rows.place_forget()
                return
            rows.place(x=spec["x"], y=spec["y"] + height, width=spec["w"], height=height * len(options))
            rows.lift()

        for index, option in enumerate(options):
            row = tk.Button(rows, text=option, anchor="w", relief="flat", borderwidth=0, background="white",
                            activebackground="#cfe0fb", takefocus=0, command=lambda o=option: choose(o))
            row.place(x=1, y=index * height + 1, width=spec["w"] - 2, height=height - 1)
        button.configure(command=toggle)
        self._place(button, spec)

    def _make_slider(self, spec: dict[str, Any]) -> None:
        """A track of ``step_px`` pixels per unit from ``pad`` pixels into the box: value ``v`` sits at
        ``x + pad + (v - min) * step_px``. Pressing or dragging on it puts the handle under the pointer; the
        arrow keys move it by one; the value is printed right of the track."""
        key, low, high, step_px, pad = spec["key"], spec["min"], spec["max"], spec["step_px"], spec["pad"]
        canvas = tk.Canvas(self.root, background=BACKGROUND, highlightthickness=0, takefocus=1)
        self._place(canvas, spec)
        middle, end = spec["h"] // 2, pad + (high - low) * step_px
        canvas.create_rectangle(pad, middle - 3, end, middle + 3, fill="#b0b0b0", outline="")
        handle = canvas.create_rectangle(0, 0, 0, 0, fill=ACCENT, outline="#1f4f9e")
        shown = canvas.create_text(end + pad + 8, middle, anchor="w", font=BOLD)

        def show(value: int) -> None:
            centre = pad + (value - low) * step_px
            canvas.coords(handle, centre - 6, middle - 12, centre + 6, middle + 12)
            canvas.itemconfigure(shown, text=str(value))

        def move(value: int) -> None:
            value = max(low, min(high, value))
            if value != self.state[key]:
                show(value)
                self.set(key, value)

        def pointer(event: tk.Event) -> None:
            canvas.focus_set()
            move(low + round((event.x - pad) / step_px))

        show(self.state[key])
        canvas.bind("<ButtonPress-1>", pointer)
        canvas.bind("<B1-Motion>", pointer)
        canvas.bind("<Left>", lambda _: move(self.state[key] - 1))
        canvas.bind("<Right>", lambda _: move(self.state[key] + 1))

    def _make_counter(self, spec: dict[str, Any]) -> None:
        """``[-] value [+]`` across the box: the buttons are ``h`` pixels square at either end."""
        key, side = spec["key"], spec["h"]
        shown = tk.Label(self.root, text=str(self.state[key]), background="white", relief="sunken", font=BOLD)

        def add(delta: int) -> None:
            shown.configure(text=str(self.state[key] + delta))
            self.set(key, self.state[key] + delta)

        for text, delta, x in (("\u2212", -1, spec["x"]), ("+", 1, spec["x"] + spec["w"] - side)):
            tk.Button(self.root, text=text, takefocus=0, command=lambda d=delta: add(d)).place(
                x=x, y=spec["y"], width=side, height=side)
        shown.place(x=spec["x"] + side, y=spec["y"], width=spec["w"] - 2 * side, height=side)


def run_app(spec: dict[str, Any], state_path: str, on_ready: Callable[[], None]) -> None:
    """Show the window and serve it until killed; ``on_ready`` runs once it covers the screen and is drawn."""
    root = tk.Tk(className="StepWidgets")
    need = spec.get("min_screen", [0, 0])
    if root.winfo_screenwidth() < need[0] or root.winfo_screenheight() < need[1]:
        raise RuntimeError(f"the widget tasks need a screen of at least {need[0]}x{need[1]}, this one is "
                           f"{root.winfo_screenwidth()}x{root.winfo_screenheight()}")
    app = WidgetApp(root, spec, state_path)
    root.attributes("-fullscreen", True)

    def configured(_: tk.Event) -> None:
        covers = (root.winfo_rootx(), root.winfo_rooty(), root.winfo_width(), root.winfo_height()) == (
            0, 0, root.winfo_screenwidth(), root.winfo_screenheight())
        if covers and not app.ready:
            app.became_ready()
            on_ready()

    root.bind("<Configure>", configured, add="+")
    root.mainloop()


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
