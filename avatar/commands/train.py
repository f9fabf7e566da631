"""`avatar-forcing train`: train the motion generator (teacher -> DPO -> student).

One command reproduces the shipped checkpoints (docs/GENERATOR.md):

    avatar-forcing train --config configs/generator.toml --export avatar/checkpoints

Every stage is resumable (rerun the same command), shows a progress bar, writes
safetensors checkpoints and a loss-curve PNG under its out_dir.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

EXPORT_NAMES = {
    "teacher": "generator_nodpo.safetensors",
    "dpo": "generator.safetensors",
    "student": "generator_student.safetensors",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `train` sub-command."""
    parser = subparsers.add_parser(
        "train", help="train the Avatar Forcing motion generator",
        description="Diffusion-forcing teacher, DPO fine-tuning and a few-step student.",
    )
    parser.add_argument("--config", default="configs/generator.toml",
                        help="TOML with shared keys, [model] and [teacher]/[dpo]/[student]")
    parser.add_argument("--stage", choices=("teacher", "dpo", "student"), action="append",
                        help="run only these stages (repeatable; default: all in the file)")
    parser.add_argument("--corpus", help="override the corpus folder")
    parser.add_argument("--steps", type=int, help="override steps of every stage")
    parser.add_argument("--max-minutes", type=float, help="wall-time budget per stage")
    parser.add_argument("--threads", type=int, help="torch threads (default from config)")
    parser.add_argument("--export", metavar="DIR",
                        help="write float16 checkpoints for shipping into DIR")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the selected stages in order, then export if asked."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from avatar.generator.checkpoint import export_checkpoint
    from avatar.generator.config import load_pipeline
    from avatar.generator.trainer import Trainer

    overrides = {key: value for key, value in (
        ("corpus", args.corpus), ("steps", args.steps), ("max_minutes", args.max_minutes),
        ("threads", args.threads)) if value is not None}
    stages = load_pipeline(args.config)
    finals: dict[str, Path] = {}
    for cfg in stages:
        cfg = dataclasses.replace(cfg, **overrides)
        if args.stage and cfg.stage not in args.stage:
            continue
        print(f"== stage {cfg.stage}: {cfg.steps} steps -> {cfg.out_dir}")
        finals[cfg.stage] = Trainer(cfg, progress=not args.no_progress).run()
        print(f"== stage {cfg.stage} done: {finals[cfg.stage]}")
    if args.export:
        out = Path(args.export)
        for cfg in stages:
            src = Path(cfg.out_dir) / "final.safetensors"
            if src.is_file():
                dst = export_checkpoint(src, out / EXPORT_NAMES[cfg.stage])
                print(f"exported {src} -> {dst} ({dst.stat().st_size / 1e6:.1f} MB)")
    return 0
