"""`benchmarks/gpu_smoke.py` on the CPU: the tiny random model, one round on 2 real local desktops, as a user runs
it; the table and the JSON report hold every figure (peak CUDA memory n/a)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.desktop

REPO = Path(__file__).resolve().parents[1]


def test_gpu_smoke_runs_on_cpu_and_reports_throughput(tmp_path: Path) -> None:
    report_path = tmp_path / "smoke.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_smoke.py"), "--size", "tiny", "--device", "cpu",
         "--envs", "2", "--tasks", "2", "--copies", "2", "--rounds", "1", "--max-steps", "1",
         "--max-new-tokens", "8", "--json", str(report_path)],
        capture_output=True, text=True, timeout=240, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for header in ("samples/s", "gen tokens/s", "update s", "peak CUDA GiB"):
        assert header in result.stdout
    report = json.loads(report_path.read_text())
    assert report["device"] == "cpu" and report["dtype"] == "float32"
    first, overall = report["rounds"]
    assert first["round"] == 1 and overall["round"] == "all"
    assert first["episodes"] == 4 and first["samples"] >= 1
    assert first["generated_tokens"] >= first["episodes"]
    assert first["samples_per_s"] > 0 and first["generated_tokens_per_s"] > 0 and first["update_seconds"] > 0
    assert first["peak_cuda_gib"] is None and first["logprob_drift"] is None  # no recompute off cuda
    assert overall["samples"] == first["samples"]
