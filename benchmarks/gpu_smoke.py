"""GPU smoke run: a few STEP rounds of a small VLM on local widget desktops, and what they cost.

    .venv/bin/python benchmarks/gpu_smoke.py                        # ~67M-parameter random Qwen2-VL, bf16 on cuda
    .venv/bin/python benchmarks/gpu_smoke.py --model DIR --json smoke.json
    .venv/bin/python benchmarks/gpu_smoke.py --size tiny --device cpu --envs 2 --tasks 2 --copies 2 --rounds 1

Unless `--model` names a checkpoint directory, a random Qwen2-VL of `--size` (`medium`: ~67M parameters, enough
work for a GPU; `tiny`: ~150k, for a CPU) is built with `step_train.policy.init_model`. The run trains `--rounds`
STEP rounds of `--tasks` widget tasks x `--copies` rollouts on `--envs` local desktops (bf16 on cuda, fp32 on the
CPU; old log-probs recomputed on cuda) and prints per round and overall, as a table:

- samples/s: training samples per second of update (forward + backward + optimizer);
- generated tokens/s: tokens per second the policy spent generating during rollouts;
- update seconds, and the rollout's and the whole round's;
- peak CUDA memory of the round (n/a on the CPU);
- `logprob_drift`, the mean |old log-prob recomputed - rollout's| (n/a when the recompute is off).

`--json PATH` writes the same figures. A random model never solves a task, so STEP's success-only advantages would
leave nothing to train on: the run uses STEP's `baseline` advantages (`A = r - s_i`, here 0) and keeps
zero-advantage samples (`optim.skip_zero_advantage = false`), so every step is forwarded and back-propagated as
in a run with successes (the gradient is 0, the work is not). Its replies parse to WAITs, which sleep 0 s here.
Round 1 includes the warm-up (desktops booting next to the model, first kernels); the last round is the steady
state. The defaults finish within 5 minutes on one GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from step_envs.tasks.templates.widgets import widget_tasks
from step_train.algos import AlgoConfig, SamplerConfig, StepAdvantageConfig
from step_train.config import BudgetSettings, EnvSettings, OptimizerSettings, TrainConfig
from step_train.policy import ModelSettings, SamplingSettings
from step_train.policy.init_model import SHAPES, build_qwen2vl
from step_train.trainer import Trainer

GIB = 2**30


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a local checkpoint directory (default: build a random Qwen2-VL of --size)")
    parser.add_argument("--size", choices=sorted(SHAPES), default="medium", help="shape of the random model")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--envs", type=int, default=4, help="local desktops in the pool")
    parser.add_argument("--tasks", type=int, default=4, help="widget tasks per round (one template each, seed 0)")
    parser.add_argument("--copies", type=int, default=4, help="rollouts per task (STEP's N)")
    parser.add_argument("--max-steps", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device here; use --device cpu (with --size tiny)")
    return args


def smoke_config(args: argparse.Namespace, model_dir: str, run_dir: Path, task_ids: tuple[str, ...]) -> TrainConfig:
    return TrainConfig(
        run_dir=str(run_dir),
        seed=args.seed,
        model=ModelSettings(path=model_dir, device=args.device),
        sampling=SamplingSettings(max_new_tokens=args.max_new_tokens),
        env=EnvSettings(suite="widgets", tasks=task_ids, num_envs=args.envs, max_steps=args.max_steps,
                        env_kwargs={"wait_seconds": 0.0}),
        budget=BudgetSettings(rounds=args.rounds, tasks_per_round=len(task_ids)),
        optim=OptimizerSettings(minibatch_size=16, micro_batch_size=4, skip_zero_advantage=False),
        algo=AlgoConfig(algorithm="step", sampler=SamplerConfig(copies=args.copies),
                        step=StepAdvantageConfig(mode="baseline")),
        tensorboard=False,
    )


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def figures(rows: list[dict[str, Any]], peaks: list[float | None]) -> list[dict[str, Any]]:
    """One dict of figures per round, then the overall one (rates from the sums)."""
    out = []
    for row, peak in zip(rows, peaks, strict=True):
        out.append({
            "round": row["round"] + 1,
            "episodes": row["episodes"],
            "samples": row["samples"] + row["augment_samples"],
            "generated_tokens": row["generated_tokens"],
            "generation_seconds": row["model_seconds"],
            "update_seconds": row["update_seconds"],
            "round_seconds": row["round_seconds"],
            "peak_cuda_gib": peak,
            "logprob_drift": row.get("logprob_drift"),
        })
    total: dict[str, Any] = {"round": "all"}
    for key in ("episodes", "samples", "generated_tokens", "generation_seconds", "update_seconds", "round_seconds"):
        total[key] = sum(r[key] for r in out)
    measured = [p for p in peaks if p is not None]
    total["peak_cuda_gib"] = max(measured) if measured else None
    drifts = [r["logprob_drift"] for r in out if r["logprob_drift"] is not None]
    total["logprob_drift"] = sum(drifts) / len(drifts) if drifts else None
    for item in [*out, total]:
        item["samples_per_s"] = ratio(item["samples"], item["update_seconds"])
        item["generated_tokens_per_s"] = ratio(item["generated_tokens"], item["generation_seconds"])
    return [*out, total]


def table(results: list[dict[str, Any]], title: str) -> Table:
    def show(value: Any, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    grid = Table(title=title)
    columns = [("round", "round", ""), ("episodes", "episodes", "d"), ("samples", "samples", "d"),
               ("samples/s", "samples_per_s", ".1f"), ("gen tokens", "generated_tokens", "d"),
               ("gen tokens/s", "generated_tokens_per_s", ".0f"), ("update s", "update_seconds", ".2f"),
               ("round s", "round_seconds", ".1f"), ("peak CUDA GiB", "peak_cuda_gib", ".2f"),
               ("logprob drift", "logprob_drift", ".2e")]
    for header, _, _ in columns:
        grid.add_column(header, justify="right")
    for item in results:
        grid.add_row(*(show(item[key], spec) for _, key, spec in columns))
    return grid


def run(args: argparse.Namespace, work: Path, console: Console) -> dict[str, Any]:
    """Build (or take) the model, train the rounds, measure each one."""
    start = time.perf_counter()
    model_dir = args.model or str(build_qwen2vl(work / "model", args.size, seed=args.seed))
    tasks = widget_tasks(seeds_per_template=1)[: args.tasks]
    config = smoke_config(args, model_dir, work / "run", tuple(t.id for t in tasks))
    trainer = Trainer(config, tasks=tasks, console=console)
    cuda = trainer.policy.device.type == "cuda"
    rows, peaks = [], []
    try:
        with trainer.make_pool() as pool:
            for _ in range(args.rounds):
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                rows += trainer.run(pool, stop_after=1)
                peaks.append(torch.cuda.max_memory_allocated() / GIB if cuda else None)
    finally:
        trainer.close()
    model = trainer.policy.model
    return {
        "model": args.model or f"random Qwen2-VL ({args.size})",
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "dtype": str(trainer.policy.dtype).removeprefix("torch."),
        "envs": args.envs,
        "rollouts_per_round": args.tasks * args.copies,
        "max_steps": args.max_steps,
        "max_new_tokens": args.max_new_tokens,
        "rounds": figures(rows, peaks),
        "wall_seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=150)  # a log file gets the whole table
    with tempfile.TemporaryDirectory(prefix="gpu-smoke-") as work:
        report = run(args, Path(work), console)
    console.print(table(report["rounds"], f"{report['model']}: {report['parameters'] / 1e6:.1f}M parameters on "
                                          f"{report['device']} ({report['dtype']}), {report['envs']} envs, "
                                          f"{report['rollouts_per_round']} rollouts x {report['max_steps']} steps "
                                          f"a round; {report['wall_seconds']:.0f} s in all"))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
