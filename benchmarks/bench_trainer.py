"""The trainer's two fast paths, before and after, on the tests' tiny random Qwen2-VL (CPU is enough):

(a) `update` time of an all-fail T-GRPO round (whole-trajectory samples, every advantage 0), with the
    zero-advantage samples forwarded and back-propagated (`optim.skip_zero_advantage = false`, the old path) and
    skipped (the default);
(b) checkpoint time as the success buffer grows by one 8-step success a round (8 new 854x480 screenshots
    retained), at rounds 1, 10 and 50: every buffered screenshot re-encoded as PNG in each checkpoint (the old
    store, reproduced below) versus the content-addressed store that writes only the new ones.

    .venv/bin/python benchmarks/bench_trainer.py [--tasks 8] [--copies 8] [--steps 8] [--repeats 3]

`--rollouts`: instead, the speed of whole training rounds on real desktops, on the widget mix of
`configs/reproduce-widgets.toml` (click-button, choose-radio, select-option, click-sequence; 8 instances each), with
its policy setup (a `small` model from `init-model`, untrained, reading the accessibility table with numbered rows
and a pointer head, 2 local envs, 6 steps at most, STEP with augmentation): trajectories per minute and env steps
per second of each round, and where the time went (env, model, update). An untrained model clicks random rows and
rarely stops, so its episodes are long: compare steps per second across code versions, not with a trained run.

    .venv/bin/python benchmarks/bench_trainer.py --rollouts [--rounds 4] [--model DIR] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from rich.table import Table

from step_envs.cli.console import wide_console
from step_envs.episodes import Episode, StepRecord
from step_envs.tasks.templates.widgets import widget_task
from step_train.algos import AlgoConfig, AugmentConfig, SamplerConfig, TGRPOConfig, training_samples
from step_train.checkpoint import observation_dir, write_checkpoint
from step_train.config import BudgetSettings, EnvSettings, OptimizerSettings, TrainConfig
from step_train.policy import LoraSettings, ModelSettings, SamplingSettings
from step_train.trainer import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tiny_vlm import build_tiny_qwen2vl  # noqa: E402

SCREEN = (854, 480)
ROUNDS = (1, 10, 50)


def screenshot(seed: int) -> np.ndarray:
    """A desktop-like 854x480 frame (panel, windows, text lines), different for every seed: compresses like a
    screenshot, unlike noise."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", SCREEN, tuple(int(v) for v in rng.integers(180, 255, 3)))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, SCREEN[0], 24), fill=(40, 40, 48))
    for _ in range(4):
        x, y = int(rng.integers(0, 600)), int(rng.integers(30, 320))
        draw.rectangle((x, y, x + int(rng.integers(150, 250)), y + int(rng.integers(80, 150))),
                       fill=tuple(int(v) for v in rng.integers(0, 255, 3)), outline=(0, 0, 0))
        for line in range(5):
            draw.text((x + 6, y + 6 + 14 * line), f"item {rng.integers(1_000_000)} {'x' * int(rng.integers(3, 12))}",
                      fill=(0, 0, 0))
    return np.asarray(image)


def make_trainer(model_dir: Path, run_dir: Path, args: argparse.Namespace, skip: bool) -> Trainer:
    algo = AlgoConfig(algorithm="tgrpo", sampler=SamplerConfig(copies=args.copies),
                      tgrpo=TGRPOConfig(sample_level="trajectory"), augment=AugmentConfig(buffer_size=8))
    config = TrainConfig(
        run_dir=str(run_dir),
        model=ModelSettings(path=str(model_dir), lora=LoraSettings(rank=8, alpha=16)),
        sampling=SamplingSettings(max_new_tokens=16, max_pixels=SCREEN[0] * SCREEN[1]),
        env=EnvSettings(max_steps=args.steps),
        budget=BudgetSettings(rounds=max(ROUNDS), tasks_per_round=args.tasks),
        optim=OptimizerSettings(minibatch_size=8, micro_batch_size=1, skip_zero_advantage=skip),
        algo=algo,
        keep_checkpoints=3,
        tensorboard=False,
    )
    return Trainer(config, tasks=[widget_task("widget-click-button/0")])


def episode(trainer: Trainer, key: str, task_id: str, score: float, steps: int, seed: int) -> Episode:
    """An episode whose screenshots the trainer's store keeps and whose every reply is a click."""
    tokenizer, eos = trainer.policy.tokenizer, trainer.policy.eos_ids[0]
    reply = tokenizer("pyautogui.click(100, 200)", add_special_tokens=False)["input_ids"] + [eos]
    records = []
    for t in range(steps):
        record = StepRecord("pyautogui.click(100, 200)", logprobs=[-0.5] * len(reply), token_ids=list(reply))
        trainer.store.keep(key, t, {"screenshot": screenshot(seed * 100 + t)}, record)
        records.append(record)
    return Episode(task_id, "Click the button labelled OK.", steps=records, score=score)


def bench_update(model_dir: Path, work: Path, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Seconds of `update` on one all-fail round, median of `repeats`, forwarding the samples or skipping them."""
    out = {}
    for name, skip in (("forwarded (before)", False), ("skipped (after)", True)):
        trainer = make_trainer(model_dir, work / f"update-{skip}", args, skip)
        episodes = [episode(trainer, f"t{i}-c{c}", f"task-{i}", 0.0, args.steps, i * 100 + c)
                    for i in range(args.tasks) for c in range(args.copies)]
        trainer.record.update(episodes)
        samples = training_samples(episodes, trainer.record, trainer.algo)
        seconds, stats = [], {}
        for _ in range(args.repeats):
            start = time.perf_counter()
            stats = trainer.update(samples)
            seconds.append(time.perf_counter() - start)
        out[name] = {"samples": len(samples), "seconds": statistics.median(seconds),
                     "optimizer_steps": stats["optimizer_steps"], "train_tokens": stats["train_tokens"]}
        trainer.close()
    return out


def buffered_refs(trainer: Trainer) -> list[str]:
    episodes = trainer.buffer.state_dict()["episodes"].values()
    return [step["observation_ref"] for items in episodes for e in items for step in e["steps"]]


def reencode_checkpoint(trainer: Trainer, run_dir: Path) -> None:
    """The old checkpoint: the same files, and every buffered screenshot encoded as PNG into its `observations/`."""
    path = write_checkpoint(run_dir, trainer.round, policy=trainer.policy, optimizer=trainer.optimizer,
                            scheduler=trainer.scheduler, state=trainer.state_dict(), observations={}, keep=3)
    directory = path / "observations"
    directory.mkdir()
    index = {}
    for i, ref in enumerate(sorted(set(buffered_refs(trainer)))):
        trainer.store[ref].save(directory / f"{i:06d}.png", format="PNG")
        index[ref] = f"{i:06d}.png"
    (directory / "index.json").write_text(json.dumps(index, indent=1))


def bench_checkpoints(model_dir: Path, work: Path, args: argparse.Namespace, repeat: int) -> dict[int, dict]:
    """One run of `max(ROUNDS)` rounds, a checkpoint after each; both stores timed at `ROUNDS`."""
    trainer = make_trainer(model_dir, work / f"checkpoints-{repeat}", args, True)
    old_dir = work / f"checkpoints-old-{repeat}"
    out = {}
    for round_index in range(1, max(ROUNDS) + 1):
        success = episode(trainer, f"r{round_index}", f"task-{round_index % 10}", 1.0, 8, 10_000 + round_index)
        trainer.buffer.add([success])
        trainer.store.retain(Episode.from_dict(e) for items in trainer.buffer.state_dict()["episodes"].values()
                             for e in items)
        trainer.round = round_index
        before = len(list(observation_dir(trainer.config.run_dir).glob("*.png"))) if round_index > 1 else 0
        start = time.perf_counter()
        trainer.save_checkpoint()
        new = time.perf_counter() - start
        if round_index in ROUNDS:
            written = len(list(observation_dir(trainer.config.run_dir).glob("*.png"))) - before
            start = time.perf_counter()
            reencode_checkpoint(trainer, old_dir)
            old = time.perf_counter() - start
            out[round_index] = {"screenshots": len(trainer.store), "old": old, "new": new, "written": written}
    trainer.close()
    return out


ROLLOUT_TEMPLATES = ("widget-click-button", "widget-choose-radio", "widget-select-option", "widget-click-sequence")


def bench_rollouts(args: argparse.Namespace, console) -> list[dict[str, float]]:
    """`args.rounds` STEP rounds of `args.tasks_per_round` x `args.copies` episodes on real local desktops."""
    import dataclasses

    from step_train.algos import AlgoConfig, AugmentConfig, SamplerConfig
    from step_train.config import EvalSettings
    from step_train.policy.init_model import init_model

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(args.model) if args.model else Path(tmp) / "model-small"
        if not args.model:
            init_model(model_dir, "small", suite="widgets", seed=0)
        tasks = [widget_task(f"{template}/{seed}") for template in ROLLOUT_TEMPLATES for seed in range(8)]
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        extra = {"torch_threads": args.threads} if "torch_threads" in fields and args.threads else {}
        window = ({"batch_window": args.batch_window}
                  if args.batch_window is not None and "batch_window" in {f.name for f in dataclasses.fields(EnvSettings)}
                  else {})
        sampling_fields = {f.name for f in dataclasses.fields(SamplingSettings)}
        decoding = {"lean_decode": args.lean_decode} if "lean_decode" in sampling_fields else {}
        if args.prompt_cache_mb is not None and "prompt_cache_mb" in sampling_fields:
            decoding["prompt_cache_mb"] = args.prompt_cache_mb
        config = TrainConfig(
            run_dir=str(Path(tmp) / "run"),
            model=ModelSettings(path=str(model_dir), pointer_head=True, lora=LoraSettings(rank=16, alpha=32)),
            sampling=SamplingSettings(observation="a11y", a11y_scope="active", a11y_tags=True, temperature=1.0,
                                      max_new_tokens=24, **decoding),
            env=EnvSettings(suite="widgets", num_envs=args.envs, max_steps=6, env_kwargs={"wait_seconds": 0.0}, **window),
            budget=BudgetSettings(rounds=args.rounds, tasks_per_round=args.tasks_per_round),
            optim=OptimizerSettings(lr=5e-4, minibatch_size=4, micro_batch_size=4),
            algo=AlgoConfig(algorithm="step", sampler=SamplerConfig(copies=args.copies),
                            augment=AugmentConfig(max_states=2, group_size=4)),
            eval=EvalSettings(every=0, seeds=(1000, 1001), train_seeds=(0, 1000)),
            keep_checkpoints=1, tensorboard=False, **extra)
        trainer = Trainer(config, tasks=tasks, console=console)
        console.print(f"torch threads: {torch.get_num_threads()}; {len(tasks)} tasks; {args.envs} envs; "
                      f"decoding: {'lean loop' if decoding.get('lean_decode') else 'generate'}; "
                      f"batch window: {getattr(config.env, 'batch_window', 0.0)} s; "
                      f"prompt cache: {getattr(config.sampling, 'prompt_cache_mb', 0)} MiB")
        steps: list[int] = []
        collect = trainer._collect

        def counted(pool, plan):
            rollouts = collect(pool, plan)
            steps.append(sum(len(e.steps) for e in rollouts.episodes))
            return rollouts

        trainer._collect = counted  # type: ignore[method-assign]
        started = time.perf_counter()
        pool = trainer.make_pool()  # started here, so that no round's time holds the desktops' start
        console.print(f"pool of {args.envs} envs started in {time.perf_counter() - started:.1f} s")
        try:
            rows = trainer.run(pool)
        finally:
            pool.close()
            trainer.close()
    out = []
    for row, count in zip(rows, steps, strict=True):
        seconds = row["round_seconds"]
        out.append({"round": row["round"] + 1, "episodes": row["episodes"], "steps": count, "seconds": seconds,
                    "env_seconds": row["env_seconds"], "model_seconds": row["model_seconds"],
                    "update_seconds": row["update_seconds"], "trajectories_per_min": 60 * row["episodes"] / seconds,
                    "steps_per_s": count / seconds, "augment_samples": row["augment_samples"],
                    "prompts_reused": row.get("prompts_reused", 0)})
    return out


def rollouts_table(rows: list[dict[str, float]]) -> Table:
    table = Table(title="training rounds on the widget mix (real desktops)")
    columns = ("round", "episodes", "env steps", "seconds", "env s", "model s", "update s", "trajectories/min",
               "env steps/s", "prompts reused")
    for column in columns:
        table.add_column(column, justify="right")
    keys = ("episodes", "steps", "seconds", "env_seconds", "model_seconds", "update_seconds", "prompts_reused")
    total = {key: sum(r[key] for r in rows) for key in keys}
    for name, row in [*((str(r["round"]), r) for r in rows), ("all", total)]:
        table.add_row(name, f"{row['episodes']:.0f}", f"{row['steps']:.0f}", f"{row['seconds']:.1f}",
                      f"{row['env_seconds']:.1f}", f"{row['model_seconds']:.1f}", f"{row['update_seconds']:.1f}",
                      f"{60 * row['episodes'] / row['seconds']:.1f}", f"{row['steps'] / row['seconds']:.2f}",
                      f"{row['prompts_reused']:.0f}", style="bold" if name == "all" else None)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=8, help="tasks in the all-fail round (B)")
    parser.add_argument("--copies", type=int, default=8, help="rollouts per task (N); --rollouts: default 4")
    parser.add_argument("--steps", type=int, default=8, help="steps per trajectory")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rollouts", action="store_true", help="time whole training rounds on real desktops instead")
    parser.add_argument("--rounds", type=int, default=4, help="--rollouts: rounds to run")
    parser.add_argument("--tasks-per-round", type=int, default=4, help="--rollouts: B")
    parser.add_argument("--envs", type=int, default=2, help="--rollouts: local envs")
    parser.add_argument("--threads", type=int, help="--rollouts: torch_threads (default: the config's default)")
    parser.add_argument("--lean-decode", action=argparse.BooleanOptionalAction, default=True,
                        help="--rollouts: sampling.lean_decode (the project's decode loop; --no-lean-decode: "
                             "transformers' generate)")
    parser.add_argument("--batch-window", type=float,
                        help="--rollouts: env.batch_window in seconds (default: the config's; 0: act at once)")
    parser.add_argument("--prompt-cache-mb", type=float,
                        help="--rollouts: sampling.prompt_cache_mb (default: the config's; 0: every prompt prefilled)")
    parser.add_argument("--model", help="--rollouts: a model directory (default: a new `small` init-model, seed 0)")
    parser.add_argument("--json", help="--rollouts: also write the rows here")
    args = parser.parse_args()
    console = wide_console()
    console.print(f"{platform.node()} {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    if args.rollouts:
        if "--copies" not in sys.argv:
            args.copies = 4
        rows = bench_rollouts(args, console)
        console.print(rollouts_table(rows))
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = build_tiny_qwen2vl(work / "tiny-qwen2vl")

        table = Table(title=f"(a) update of an all-fail T-GRPO round: {args.tasks} tasks x {args.copies} "
                            f"trajectories x {args.steps} steps, median of {args.repeats}")
        for column in ("zero-advantage samples", "samples", "optimizer steps", "train tokens", "update seconds"):
            table.add_column(column)
        for name, row in bench_update(model_dir, work, args).items():
            table.add_row(name, str(row["samples"]), str(row["optimizer_steps"]), str(row["train_tokens"]),
                          f"{row['seconds']:.3f}")
        console.print(table)

        runs = [bench_checkpoints(model_dir, work, args, repeat) for repeat in range(args.repeats)]
        table = Table(title=f"(b) checkpoint seconds, 8 new {SCREEN[0]}x{SCREEN[1]} screenshots a round, "
                            f"median of {args.repeats} runs")
        for column in ("round", "screenshots buffered", "re-encode all (before)", "content-addressed (after)",
                       "PNGs written (after)"):
            table.add_column(column)
        for round_index in ROUNDS:
            rows = [run[round_index] for run in runs]
            table.add_row(str(round_index), str(rows[0]["screenshots"]),
                          f"{statistics.median(r['old'] for r in rows):.3f}",
                          f"{statistics.median(r['new'] for r in rows):.3f}", str(rows[0]["written"]))
        console.print(table)


if __name__ == "__main__":
    main()
