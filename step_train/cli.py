"""`step-train`: train a VLM agent with STEP (or a baseline) on a task suite, and plot a run's learning curves.

    step-train train configs/step-qwen2vl-2b.toml --model ~/models/Qwen2-VL-2B-Instruct --envs 8
    step-train train --resume --run-dir runs/step-qwen2vl-2b
    step-train plot runs/step-qwen2vl-2b
    step-train eval runs/step-qwen2vl-2b --checkpoint 50 --suite widgets
    step-train demos --suite widgets --out demos/widgets --episodes 400 --envs 2
    step-train init-model models/small --size small --suite widgets
    step-train sft configs/sft-widgets-small.toml --demos demos/widgets --model models/small
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from step_train.algos import ALGORITHMS

FLAG_KEYS = {
    "model": "model.path",
    "suite": "env.suite",
    "provider": "env.provider",
    "envs": "env.num_envs",
    "max_steps": "env.max_steps",
    "algorithm": "algo.algorithm",
    "rounds": "budget.rounds",
    "tasks_per_round": "budget.tasks_per_round",
    "copies": "algo.sampler.copies",
    "lr": "optim.lr",
    "run_dir": "run_dir",
    "seed": "seed",
    "init": "model.init",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="step-train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train (or resume) a run from a TOML/YAML config",
                                description="Train a LoRA policy on a suite. Flags override the config file; "
                                            "--set section.key=value overrides anything else.")
    train.add_argument("config", nargs="?", help="TOML or YAML config (see configs/); with --resume, optional")
    train.add_argument("--model", help="local model directory (config.json, weights, processor files)")
    train.add_argument("--suite", help="task suite name or path (widgets, smoke, desktop-core, all, DIR)")
    train.add_argument("--provider", help="where envs run: local, docker or ray")
    train.add_argument("--envs", type=int, help="number of parallel envs")
    train.add_argument("--max-steps", type=int, help="steps per episode")
    train.add_argument("--algorithm", choices=ALGORITHMS, help="step (default) or a baseline/ablation")
    train.add_argument("--rounds", type=int, help="training rounds")
    train.add_argument("--tasks-per-round", type=int, help="B, tasks per round")
    train.add_argument("--copies", type=int, help="N, rollouts per task slot")
    train.add_argument("--lr", type=float, help="learning rate")
    train.add_argument("--run-dir", help="where checkpoints and logs go")
    train.add_argument("--seed", type=int)
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override any config key, e.g. --set model.lora.rank=8 (repeatable)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --run-dir (or the config's run_dir) from its latest checkpoint")
    train.add_argument("--init", metavar="CHECKPOINT",
                       help="start from a step-train checkpoint (RUN_DIR/checkpoints/round-NNNNNN, or a run "
                            "directory: its latest), e.g. an sft run's: its LoRA adapters keep training, or its "
                            "full model (model/) becomes the base with fresh adapters")
    evaluate = commands.add_parser(
        "eval", help="evaluate a run's checkpoint on held-out task instances (greedy)",
        description="Greedy episodes of a checkpoint's adapter on held-out instances: each template of the "
                    "evaluated suite at the seeds eval.seeds of the run's config, which training never uses "
                    "(eval.train_seeds). Fixed tasks are left out (training sees their only instance). Prints a "
                    "table and writes OUT/round-NNNNNN.json (every episode) and .csv (success per template).")
    evaluate.add_argument("run_dir", help="a run directory (holds config.json and checkpoints/)")
    evaluate.add_argument("--checkpoint", type=int, metavar="N",
                          help="the checkpoint after N rounds (default: the latest)")
    evaluate.add_argument("--suite", help="evaluate this suite's templates (default: eval.suite, else the "
                                          "training tasks')")
    evaluate.add_argument("--envs", type=int, help="number of parallel envs (default: the run's env.num_envs)")
    evaluate.add_argument("--provider", help="where envs run: local, docker or ray (default: the run's)")
    evaluate.add_argument("--max-steps", type=int, help="steps per episode (default: eval.max_steps, else "
                                                        "env.max_steps)")
    evaluate.add_argument("--seeds", type=int, nargs=2, metavar=("START", "STOP"),
                          help="held-out seeds START..STOP-1 per template (default: the run's eval.seeds)")
    evaluate.add_argument("--model", help="the base model directory, when it moved since training")
    evaluate.add_argument("--out", help="where the JSON and CSV go (default RUN_DIR/eval)")
    evaluate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                          help="override any config key, e.g. --set sampling.max_new_tokens=128 (repeatable)")
    demos = commands.add_parser(
        "demos", help="record the solution agent's episodes as a demonstration dataset (datasets imagefolder)",
        description="Run the solution agent on --episodes instances round-robin over the suite's templates (seeds "
                    "START, START+1, ... of --seeds) and fixed tasks, and write one record per step in the model's "
                    "dialect to OUT/train (score 1.0) or OUT/near_miss. Tasks without a solution are skipped. "
                    "Rerunning into the same OUT resumes: nothing is recorded twice. Exits 1 when the env broke an "
                    "episode after every retry (not written; rerun to try it again). Load with "
                    "datasets.load_dataset('imagefolder', data_dir=OUT, split='train').")
    demos.add_argument("--suite", required=True, help="task suite name or path (widgets, smoke, desktop-core, all, DIR)")
    demos.add_argument("--out", required=True, help="the dataset directory (created, or extended)")
    demos.add_argument("--episodes", type=int, required=True, help="episodes in total, those OUT holds included")
    demos.add_argument("--envs", type=int, default=2, help="number of parallel envs (default 2)")
    demos.add_argument("--provider", default="local", help="where envs run: local, docker or ray (default local)")
    demos.add_argument("--dialect", help="how the model writes actions (default: model.dialect's, pyautogui)")
    demos.add_argument("--action-space", help="the env's action space (default: env.action_space's, pyautogui)")
    demos.add_argument("--max-pixels", type=int, help="downscale screenshots to this many pixels (default: "
                                                      "sampling.max_pixels's, 640*360)")
    demos.add_argument("--a11y", action="store_true", help="observe and store the accessibility tree too")
    demos.add_argument("--seeds", type=int, nargs=2, metavar=("START", "STOP"),
                       help="template seeds START..STOP-1 (default: eval.train_seeds's, 0 1000)")
    demos.add_argument("--max-steps", type=int, help="steps per episode (default: env.max_steps's, 15)")
    sft = commands.add_parser(
        "sft", help="supervised fine-tuning on a demonstration dataset (step-train demos), LoRA or full",
        description="Fine-tune the model on demonstrations with the RL policy's own step prompt: each record's "
                    "instruction, screenshot and last H actions, and its action written in model.dialect as the "
                    "reply; the loss is the mean NLL of the reply tokens. LoRA adapters, or every weight with "
                    "sft.full = true (--full). Checkpoints go to RUN_DIR/checkpoints/round-N (N: optimizer steps; "
                    "adapter/ or model/) in the trainer's format, so step-train train --init CHECKPOINT starts RL "
                    "there. Logs per step in RUN_DIR/metrics.jsonl, .csv and TensorBoard; held-out evaluation every "
                    "sft.eval_every steps. A bad record stops the run before training, naming FILE:LINE. Flags "
                    "override the config's [sft] section; --set section.key=value overrides anything else.")
    sft.add_argument("config", nargs="?", help="TOML or YAML config (see configs/); with --resume, optional")
    sft.add_argument("--demos", required=True, help="the dataset directory that step-train demos wrote")
    sft.add_argument("--model", help="local model directory (e.g. one step-train init-model wrote)")
    sft.add_argument("--epochs", type=int, help="passes over the records (sft.epochs)")
    sft.add_argument("--lr", type=float, help="learning rate (sft.lr)")
    sft.add_argument("--batch-size", type=int, help="records per optimizer step (sft.batch_size)")
    sft.add_argument("--eval-every", type=int, help="held-out evaluation every N steps, 0: none (sft.eval_every)")
    sft.add_argument("--full", action="store_true", default=None,
                     help="train every weight instead of LoRA adapters (sft.full = true)")
    sft.add_argument("--near-miss", action="store_true", default=None,
                     help="also train on the near_miss/ records (sft.near_miss = true)")
    sft.add_argument("--init", metavar="CHECKPOINT", help="start from a step-train checkpoint's weights")
    sft.add_argument("--run-dir", help="where checkpoints and logs go")
    sft.add_argument("--seed", type=int)
    sft.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override any config key, e.g. --set sft.micro_batch_size=2 (repeatable)")
    sft.add_argument("--resume", action="store_true",
                     help="continue the run in --run-dir (or the config's run_dir) from its latest checkpoint")
    init = commands.add_parser(
        "init-model", help="write a randomly initialized small Qwen2-VL (tokenizer trained on a suite) to DIR",
        description="Write a random Qwen2-VL to DIR (config, weights, byte-level BPE tokenizer, image processor, "
                    "chat template), loadable like a downloaded checkpoint (--model DIR). The tokenizer is trained "
                    "on the suite's instructions and solution actions as every dialect writes them, and the step "
                    "prompt's fixed text; digits are single tokens. Sizes: tiny (~0.16M parameters, 112x112 "
                    "images: tests), small (~1.3M: 4 text layers of width 128, 1 vision block of width 32: fast "
                    "enough to train on the accessibility tree on a CPU), base (~11M: 6 text layers of width "
                    "256, 4 vision blocks of width 256, images up to 640x360), medium (~67M: 8 text layers of "
                    "width 768, 6 vision blocks of width 384: the GPU smoke run).")
    init.add_argument("dir", help="where the model goes (a new or empty directory)")
    init.add_argument("--size", choices=("tiny", "small", "base", "medium"), default="small", help="default small")
    init.add_argument("--suite", default="widgets",
                      help="train the tokenizer on this suite's tasks (name or path; default widgets)")
    init.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    plot = commands.add_parser("plot", help="write learning-curve PNGs of a run")
    plot.add_argument("run_dir", help="a run directory (holds metrics.jsonl)")
    plot.add_argument("--out", help="output folder (default RUN_DIR/plots)")
    return parser


def _overrides(args: argparse.Namespace, flag_keys: dict[str, str] = FLAG_KEYS) -> list[str]:
    pairs = [f"{key}={getattr(args, flag)!s}" for flag, key in flag_keys.items() if getattr(args, flag) is not None]
    return pairs + list(args.set)


def run_config(args: argparse.Namespace, console: Console, flag_keys: dict[str, str], example: str) -> Any:
    """The config of `train` / `sft`: the file given (or, with --resume, the run's own), flags applied; None
    (after saying what is missing) without a config or a model."""
    from step_train.config import load_config

    config_path = args.config
    if args.resume and config_path is None:
        if args.run_dir is None:
            console.print("[red]--resume needs the config or --run-dir of the run to continue[/red]")
            return None
        config_path = str(Path(args.run_dir) / "config.json")
    if config_path is None:
        console.print(f"[red]give a config file (see configs/), e.g. {example}[/red]")
        return None
    config = load_config(config_path, _overrides(args, flag_keys))
    if not config.model.path and not config.model.init:
        console.print("[red]no model: set model.path in the config or pass --model DIR (step-train init-model DIR "
                      "writes a small random one)[/red]")
        return None
    return config


def train_command(args: argparse.Namespace, console: Console) -> int:
    from step_train.trainer import Trainer

    config = run_config(args, console, FLAG_KEYS, "step-train train configs/step-qwen2vl-2b.toml")
    if config is None:
        return 2
    trainer = Trainer(config, resume=args.resume, console=console)
    try:
        trainer.run()
    finally:
        trainer.close()
    console.print(f"done: {trainer.round} rounds; logs and checkpoints in {config.run_dir}")
    return 0


EVAL_FLAG_KEYS = {
    "suite": "eval.suite",
    "envs": "env.num_envs",
    "provider": "env.provider",
    "max_steps": "eval.max_steps",
    "seeds": "eval.seeds",
    "model": "model.path",
}


def eval_command(args: argparse.Namespace, console: Console) -> int:
    from step_train.eval import evaluate_checkpoint

    result, written = evaluate_checkpoint(args.run_dir, round_index=args.checkpoint,
                                          overrides=_overrides(args, EVAL_FLAG_KEYS), out_dir=args.out,
                                          console=console)
    console.print(result.table())
    for path in written:
        console.print(str(path))
    return 0


def demos_command(args: argparse.Namespace, console: Console) -> int:
    from step_envs.tasks.suites import load_suite
    from step_train.demos import DEFAULT_MAX_STEPS, DEFAULT_SEEDS, demo_format, record_demos

    fmt = demo_format(args.dialect, args.max_pixels, args.a11y, args.action_space)
    summary = record_demos(load_suite(args.suite), args.out, fmt, episodes=args.episodes,
                           seeds=tuple(args.seeds) if args.seeds else DEFAULT_SEEDS,
                           max_steps=args.max_steps or DEFAULT_MAX_STEPS, envs=args.envs, provider=args.provider,
                           console=console)
    console.print(summary.table())
    for line in summary.lines():
        console.print(line)
    return 1 if summary.env_errors else 0


SFT_FLAG_KEYS = {
    "model": "model.path",
    "epochs": "sft.epochs",
    "lr": "sft.lr",
    "batch_size": "sft.batch_size",
    "eval_every": "sft.eval_every",
    "full": "sft.full",
    "near_miss": "sft.near_miss",
    "init": "model.init",
    "run_dir": "run_dir",
    "seed": "seed",
}


def sft_command(args: argparse.Namespace, console: Console) -> int:
    from step_train.sft import SFTTrainer

    config = run_config(args, console, SFT_FLAG_KEYS, "step-train sft configs/sft-widgets-small.toml --demos DIR")
    if config is None:
        return 2
    trainer = SFTTrainer(config, args.demos, resume=args.resume, console=console)
    try:
        trainer.run()
    finally:
        trainer.close()
    console.print(f"done: {trainer.round} steps ({config.sft.epochs} epochs of {len(trainer.demos)} records); logs "
                  f"and checkpoints in {config.run_dir}")
    return 0


def init_model_command(args: argparse.Namespace, console: Console) -> int:
    from step_train.policy.init_model import init_model

    made = init_model(args.dir, args.size, suite=args.suite, seed=args.seed)
    console.print(f"wrote a {args.size} Qwen2-VL to {made.path}: {made.parameters:,} parameters, "
                  f"{made.vocab_size} tokens (tokenizer trained on {made.corpus_tasks} tasks of {args.suite})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "plot":
            from step_train.plot import plot_run

            for path in plot_run(args.run_dir, args.out):
                console.print(str(path))
            return 0
        if args.command == "eval":
            return eval_command(args, console)
        if args.command == "demos":
            return demos_command(args, console)
        if args.command == "init-model":
            return init_model_command(args, console)
        if args.command == "sft":
            return sft_command(args, console)
        return train_command(args, console)
    except (FileNotFoundError, ValueError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
