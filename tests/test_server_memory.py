"""The controller hands freed memory back once idle (step_envs.server.memory)."""

from __future__ import annotations

import time

from step_envs.server.memory import IdleTrim, limit_arenas


def test_idle_trim_trims_once_after_the_requests_stop() -> None:
    trim = IdleTrim(idle_s=0.2)
    for _ in range(5):  # a burst of requests: no trim while they come
        trim.touch()
        time.sleep(0.05)
    assert trim.trims == 0
    deadline = time.monotonic() + 5
    while trim.trims == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert trim.trims == 1
    time.sleep(0.5)  # idle with nothing new: no further trims
    assert trim.trims == 1
    trim.touch()
    deadline = time.monotonic() + 5
    while trim.trims == 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert trim.trims == 2


def test_arenas_can_be_capped() -> None:
    assert limit_arenas(2) is True
