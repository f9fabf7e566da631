"""`avatar-forcing corpus`: generate the synthetic dyadic conversation corpus.

Resumable and growable (same --seed, larger --hours extends it), parallel-safe
(run several processes on the same --out). See docs/CORPUS.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `corpus` sub-command."""
    parser = subparsers.add_parser(
        "corpus", help="generate the synthetic dyadic conversation corpus",
        description="Synthesise two-person dialogues (piper + espeak-ng speech, rule-based "
                    "speaker and listener motion) into DIR/<split>/<dialogue_id>/.",
    )
    parser.add_argument("--out", type=Path, default=Path("data/corpus"), help="corpus root")
    parser.add_argument("--hours", type=float, default=1.0,
                        help="total hours of dialogue over all splits (80/10/10)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed")
    parser.add_argument("--split", choices=["train", "val", "test"], default=None,
                        help="only generate this split's dialogues")
    parser.add_argument("--real-faces", type=Path, default=None, metavar="DIR",
                        help="analysed real face tracks (*.npz from `avatar-forcing analyze`): "
                             "a share of partners wear one (docs/CORPUS.md)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Generate missing dialogues with a progress bar; prints a summary line."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tqdm import tqdm

    from avatar.corpus.real_faces import RealFacePool
    from avatar.corpus.writer import generate, plan_corpus

    specs = plan_corpus(args.seed, args.hours)
    if args.split:
        specs = [s for s in specs if s.split == args.split]
    real_faces = RealFacePool.from_dir(args.real_faces) if args.real_faces else None
    args.out.mkdir(parents=True, exist_ok=True)
    written = skipped = 0
    seconds = 0.0
    with tqdm(total=len(specs), unit="dlg", desc="corpus") as bar:
        for spec, duration in generate(args.out, specs, real_faces=real_faces):
            if duration is None:
                skipped += 1
            else:
                written += 1
                seconds += duration
            bar.set_postfix(new_min=f"{seconds / 60:.1f}", split=spec.split)
            bar.update()
    print(f"corpus {args.out}: {written} dialogues written ({seconds / 3600:.2f} h), "
          f"{skipped} already present or claimed by another worker")
    return 0
