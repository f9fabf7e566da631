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
    parser.add_argument("--reactivity", action="store_true",
                        help="instead: reactivity on real users (a real face track + real "
                             "speech per session, the avatar listening); writes "
                             "OUT/reactivity.png and the JSON")
    parser.add_argument("--real-faces", default="cache/real_faces/test",
                        help="face tracks (*.npz) of the real users (bench/training/real_faces.py)")
    parser.add_argument("--speech", nargs="+", default=None, metavar="WAV",
                        help="16 kHz mono WAVs of real speech for the users (default: "
                             "cache/real_media/wav16k/*.wav, bench/face/real_media.py)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, write plots and JSON."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.reactivity:
        return run_reactivity(args)
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


def run_reactivity(args: argparse.Namespace) -> int:
    """Student, student without user motion, teacher and rules on real users."""
    from avatar.portrait import Portrait
    from avatar.reactivity_eval import (
        evaluate_reactivity,
        generator_variant,
        load_listening_sessions,
        plot_reactivity,
        rules_variant,
    )

    ckpt = Path(args.checkpoints)
    student = ckpt / "generator_student.safetensors"
    if not student.is_file():
        raise FileNotFoundError(f"no generator_student.safetensors in {ckpt}")
    speech = [Path(p) for p in args.speech] if args.speech else sorted(
        Path("cache/real_media/wav16k").glob("*.wav"))
    if not speech:
        raise FileNotFoundError("no real speech WAVs: pass --speech or run "
                                "python bench/face/real_media.py")
    sessions = load_listening_sessions(args.real_faces, speech,
                                       Portrait.default(256).reference_motion)
    variants = {"student": generator_variant(student),
                "student, no user motion": generator_variant(student, use_user_motion=False),
                "teacher 10-NFE": generator_variant(ckpt / "generator.safetensors"),
                "rules": rules_variant}
    if args.only:
        variants = {k: v for k, v in variants.items() if k in args.only}
    print(f"{len(sessions)} real users: {', '.join(s.name for s in sessions)}")
    results, curves = evaluate_reactivity(sessions, variants)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_reactivity(results, curves, out / "reactivity.png")
    json_path = Path(args.json)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1))
    for name, row in results.items():
        print(f"{name:26s} smile r {row['smile_r']:.2f} at {row['smile_lag_ms']:.0f} ms, "
              f"pulse {row['pulse_peak']:.2f}, nod after pause {row['nod_deg_after_pause']:.1f}"
              f" deg (random {row['nod_deg_random']:.1f}), yaw std {row['yaw_std']:.1f} deg")
    return 0
