"""The Rich console the command lines and benchmark scripts print their tables to."""

from __future__ import annotations

from rich.console import Console


def wide_console(stderr: bool = False) -> Console:
    """The terminal's console; 140 columns when the output is not a terminal (pipes, CI logs, files), so tables
    keep their headers whole instead of wrapping at Rich's default 80."""
    console = Console(stderr=stderr)
    return console if console.is_terminal else Console(stderr=stderr, width=140)

