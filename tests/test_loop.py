"""The run loop RL and SFT share (`step_train.loop.RunLoop`), driven by a toy run without a model or envs: when it
evaluates, logs and checkpoints, when it starts a pool, how it stops early."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from step_train.config import TrainConfig
from step_train.eval import EvalResult
from step_train.loop import LazyPool, RunLoop, lr_factor


class FakePool:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Toy(RunLoop):
    """Five rounds, evaluated every 2 and checkpointed every 3 (and both after the last)."""

    unit = "step"

    def __init__(self, run_dir: Path, *, every: int = 2, resume: bool = False) -> None:
        super().__init__(TrainConfig(run_dir=str(run_dir), tensorboard=False), resume=resume,
                         console=Console(file=io.StringIO()))
        self.every, self.started, self.evaluated_on, self.saved = every, [], [], []
        self._open_run_dir()

    total_rounds = property(lambda self: 5)
    eval_every = property(lambda self: self.every)
    checkpoint_every = property(lambda self: 3)

    def make_pool(self) -> FakePool:
        self.started.append(FakePool())
        return self.started[-1]

    def train_round(self, pool: LazyPool) -> dict[str, Any]:
        return {"round": self.round, "loss": 1.0 / (self.round + 1)}

    def evaluate(self, pool: Any) -> dict[str, EvalResult]:
        self.evaluated_on.append(pool)
        return {"heldout": EvalResult.of([], [])}

    def state_dict(self) -> dict[str, Any]:
        return {"round": self.round}

    def save_checkpoint(self) -> Path:
        self.saved.append(self.round)
        return Path(self.config.run_dir) / f"round-{self.round}"

    def report(self, row: dict[str, Any], results: dict[str, EvalResult], checkpoint: Path | None) -> Iterator[str]:
        yield f"step {self.round} {sorted(results)} {checkpoint}"


def logged(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_the_loop_evaluates_logs_and_checkpoints_on_schedule_on_one_pool_it_started(tmp_path: Path) -> None:
    run = Toy(tmp_path)
    rows = run.run()
    assert [row["round"] for row in rows] == [0, 1, 2, 3, 4] and run.round == 5
    assert ["eval/success" in row for row in rows] == [False, True, False, True, True]  # after 2, 4 and the last
    assert run.saved == [3, 5]
    (pool,) = run.started
    assert run.evaluated_on == [pool] * 3 and pool.closed
    assert logged(tmp_path) == rows
    assert json.loads((tmp_path / "config.json").read_text())["run_dir"] == str(tmp_path)


def test_a_pool_passed_in_is_used_and_left_open_and_none_is_started_when_nothing_needs_one(tmp_path: Path) -> None:
    given = FakePool()
    run = Toy(tmp_path / "given")
    run.run(given)
    assert run.evaluated_on == [given] * 3 and not run.started and not given.closed
    quiet = Toy(tmp_path / "quiet", every=0)  # SFT without evaluation: its steps need no envs
    quiet.run()
    assert not quiet.started and not quiet.evaluated_on


def test_stop_after_stops_early_and_resume_needs_a_checkpoint(tmp_path: Path) -> None:
    run = Toy(tmp_path)
    assert [row["round"] for row in run.run(stop_after=2)] == [0, 1] and run.saved == []
    assert [row["round"] for row in run.run()] == [2, 3, 4] and run.saved == [3, 5]
    assert [row["round"] for row in logged(tmp_path)] == [0, 1, 2, 3, 4]
    with pytest.raises(FileNotFoundError, match="start without --resume"):
        Toy(tmp_path / "empty", resume=True)


def test_the_learning_rate_warms_up_then_follows_its_schedule() -> None:
    assert [lr_factor(r, 10, "constant", 2) for r in (0, 1, 2, 9)] == [0.5, 1.0, 1.0, 1.0]
    assert [lr_factor(r, 6, "linear", 2) for r in (2, 4, 6)] == [1.0, 0.5, 0.0]
    assert lr_factor(6, 6, "cosine", 2) == pytest.approx(0.0)
