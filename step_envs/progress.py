"""Progress of long work (rollouts, SFT steps, evaluations, demonstrations, benchmark episodes) that shows in a
terminal as Rich's bar and in a log or a pipe as plain lines."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import Progress


class PlainProgress:
    """What :func:`progress` gives when the output is not a terminal (logs, pipes, CI): the same calls as Rich's
    ``Progress`` that the command lines use (``add_task``, ``update``, ``advance``, ``console``), printed as plain
    lines, ``label: done/total (pct) fields, elapsed``, at most every ``every_s`` seconds and at the end of each bar."""

    def __init__(self, console: Console, every_s: float = 30.0) -> None:
        self.console, self.every_s = console, every_s
        self._bars: dict[int, dict] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        for bar in self._bars:
            if not self._bars[bar]["ended"]:
                self._print(bar)

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **fields: object) -> int:
        bar = len(self._bars)
        now = time.monotonic()
        self._bars[bar] = {"description": description, "total": total, "completed": completed, "fields": fields,
                           "start": now, "printed": now, "ended": False}
        return bar

    def update(self, bar: int, *, advance: float = 0, total: float | None = None, completed: float | None = None,
               description: str | None = None, **fields: object) -> None:
        state = self._bars[bar]
        if total is not None:
            state["total"] = total
        if completed is not None:
            state["completed"] = completed
        if description is not None:
            state["description"] = description
        state["completed"] += advance
        state["fields"].update(fields)
        done = state["total"] is not None and state["completed"] >= state["total"]
        if done or time.monotonic() - state["printed"] >= self.every_s:
            self._print(bar)
            state["ended"] = done

    def advance(self, bar: int, advance: float = 1) -> None:
        self.update(bar, advance=advance)

    def _print(self, bar: int) -> None:
        state = self._bars[bar]
        state["printed"] = time.monotonic()
        total = state["total"]
        count = f"{state['completed']:g}" + (f"/{total:g} ({100 * state['completed'] / total:.0f}%)" if total else "")
        fields = "  ".join(str(v) if k == "note" else f"{k} {v}" for k, v in state["fields"].items()
                           if v not in ("", None))
        elapsed = time.monotonic() - state["start"]
        self.console.print(f"{state['description']}: {count}{'  ' + fields if fields else ''}  {elapsed:.0f} s",
                           markup=False, highlight=False)


def progress(console: Console | None, *columns: Any, transient: bool = False, every_s: float = 30.0,
             ) -> Progress | PlainProgress:
    """A progress display for long work: Rich's bar on a terminal, plain lines elsewhere (Rich draws nothing when
    the output is not a terminal, so a log would show no sign of life for minutes); nothing without a console."""
    if console is None:
        return Progress(*columns, disable=True)
    if console.is_terminal:
        return Progress(*columns, console=console, transient=transient)
    return PlainProgress(console, every_s)
