"""What the snapshot tests need: CRIU 4.2 as root (``make install`` provides it)."""

from __future__ import annotations

import os

import pytest

from step_envs.providers import criu


def require_snapshots() -> None:
    """Skip where snapshots cannot run by design (not root: they need root and fall back to restarts, which
    tests/test_snapshot.py's fallback test covers); fail as root without CRIU 4.2, naming the fix."""
    if os.geteuid() != 0:
        pytest.skip("snapshots need root (they fall back to restarts otherwise: see test_falls_back_*)")
    why = criu.unavailable()
    if why:
        pytest.fail(f"snapshot resets cannot run here: {why}; run `make install` as root")
