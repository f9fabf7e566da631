"""`avatar-forcing ingest DIR --out DATA`: real conversation videos -> corpus format.

See avatar/ingest.py for the accepted layouts; the output loads with
avatar.corpus.dataset.DyadicDataset exactly like the synthetic corpus.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `ingest` sub-command."""
    parser = subparsers.add_parser(
        "ingest", help="turn conversation videos into audio + motion tracks",
        description="Ingest a folder of two-person conversation videos (side by side, or "
                    "<clip>_a / <clip>_b per speaker) into DATA/<split>/<clip>/. Resumable.",
    )
    parser.add_argument("directory", type=Path, help="folder of videos")
    parser.add_argument("--out", type=Path, required=True, help="output data root")
    parser.add_argument("--split", default="train", help="split folder to write (train)")
    parser.add_argument("--smoothing", type=float, default=0.3,
                        help="zero-phase landmark jitter smoothing 0..<1 (0.3)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Ingest with progress; exit code 1 if any clip failed."""
    from tqdm import tqdm

    from avatar.ingest import find_clips, ingest_directory

    clips = find_clips(args.directory)
    counts = {"done": 0, "skipped": 0, "error": 0}
    with tqdm(total=len(clips), unit="clip", desc="ingest") as bar:
        for clip, status in ingest_directory(args.directory, args.out, args.split,
                                             args.smoothing, progress=True):
            key = status.split(":")[0]
            counts[key] += 1
            if key == "error":
                tqdm.write(f"{clip.clip_id}: {status}")
            bar.update()
    print(f"ingest {args.directory} -> {args.out}/{args.split}: {counts['done']} done, "
          f"{counts['skipped']} already there, {counts['error']} failed")
    return 1 if counts["error"] else 0
