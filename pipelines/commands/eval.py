"""`avatar-forcing eval`: score generator variants on held-out dialogues.

    avatar-forcing eval --corpus data/corpus --split test --checkpoints avatar/checkpoints

Runs the full model, the model without user motion, the model without DPO, the
distilled student and (when available) the rule-based baseline through the
streaming engine; prints a markdown table, writes results JSON and PNG plots.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `eval` sub-command."""
    parser = subparsers.add_parser(
        "eval", help="evaluate the motion generator on held-out dialogues",
        description="rPCC, SID, Var, FD and lip sync for the generator variants "
                    "(paper Tables 1 and 5).",
    )
    parser.add_argument("--corpus", default="data/corpus", help="corpus folder")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("--checkpoints", default="avatar/checkpoints",
                        help="folder with generator*.safetensors")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="seconds of each dialogue to generate (default 60)")
    parser.add_argument("--dialogues", type=int, default=0, help="at most this many (0: all)")
    parser.add_argument("--nfe", type=int, default=10, help="teacher Euler steps (paper: 10)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", default="docs", help="folder for eval_*.png")
    parser.add_argument("--json", default="runs/generator/eval_results.json",
                        help="where to write the metrics as JSON")
    parser.add_argument("--only", action="append", help="evaluate only these variant names")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, write plots and JSON."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from avatar.evaluate import (
        Variant,
        evaluate_variants,
        load_sessions,
        markdown_table,
        plot_example,
        plot_metrics,
    )
    from avatar.generator.sampler import Guidance

    ckpt = Path(args.checkpoints)
    full = ckpt / "generator.safetensors"
    if not full.is_file():
        raise FileNotFoundError(f"no generator checkpoint in {ckpt}")
    guided = Guidance()
    variants = [
        Variant("full", full, args.nfe, guided),
        Variant("no user motion", full, args.nfe, guided, use_user_motion=False),
        Variant("no DPO", ckpt / "generator_nodpo.safetensors", args.nfe, guided),
        Variant("student 1-NFE", ckpt / "generator_student.safetensors", 1, None),
        Variant("baseline", None, 0, None),
    ]
    variants = [v for v in variants if v.checkpoint is None or v.checkpoint.is_file()]
    if args.only:
        variants = [v for v in variants if v.name in args.only]
    sessions = load_sessions(args.corpus, args.split, args.seconds, args.dialogues)
    print(f"{len(sessions)} sessions of <= {args.seconds:.0f} s from split {args.split!r}")
    results, tracks = evaluate_variants(sessions, variants, threads=args.threads,
                                        progress=not args.no_progress)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    json_path = Path(args.json)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1))
    plot_metrics(results, out / "eval_metrics.png")
    if tracks:
        plot_example(sessions[0], {k: v[0] for k, v in tracks.items()},
                     out / "eval_example.png")
    print(markdown_table(results))
    return 0
