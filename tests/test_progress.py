"""Long work shows progress in logs too: plain lines when the output is not a terminal, Rich's bar on one."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress

from step_envs.progress import PlainProgress, progress


def test_without_a_terminal_progress_is_plain_lines_at_most_every_interval_and_at_the_end() -> None:
    console = Console(file=io.StringIO(), width=100)
    assert not console.is_terminal
    with progress(console, every_s=0) as display:
        assert isinstance(display, PlainProgress)
        bar = display.add_task("round 1/16 rollouts", total=3, success="-")
        for score in ("0.00", "0.50", "0.67"):
            display.update(bar, advance=1, success=score)
    assert console.file.getvalue().splitlines() == [
        "round 1/16 rollouts: 1/3 (33%)  success 0.00  0 s", "round 1/16 rollouts: 2/3 (67%)  success 0.50  0 s",
        "round 1/16 rollouts: 3/3 (100%)  success 0.67  0 s"]
    quiet = Console(file=io.StringIO(), width=100)
    with progress(quiet, every_s=3600) as display:  # in between, one line per interval; the end always shows
        bar = display.add_task("sft", total=100, note="")
        for step in range(100):
            display.update(bar, advance=1, note=f"loss {step}")
    assert quiet.file.getvalue().splitlines() == ["sft: 100/100 (100%)  loss 99  0 s"]
    unfinished = Console(file=io.StringIO(), width=100)
    with progress(unfinished, every_s=3600) as display:  # cut short: the last state shows on exit
        display.advance(display.add_task("eval", total=10))
    assert unfinished.file.getvalue().splitlines() == ["eval: 1/10 (10%)  0 s"]


def test_on_a_terminal_it_is_rich_s_bar_and_without_a_console_nothing() -> None:
    terminal = Console(file=io.StringIO(), force_terminal=True)
    assert isinstance(progress(terminal), Progress)
    silent = progress(None)
    assert isinstance(silent, Progress) and silent.disable
