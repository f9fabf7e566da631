"""`avatar-forcing analyze VIDEO --out track.npz`: a video's face as a motion track + plot."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `analyze` sub-command."""
    parser = subparsers.add_parser(
        "analyze",
        help="measure the face in a video as a motion track (.npz) and plot it",
        description="Run the bundled face landmarker over every frame of VIDEO and save "
        "the motion track (head pose + 52 blendshapes per frame, frames without a face "
        "marked) as .npz, plus a PNG plot of it.",
    )
    parser.add_argument("video", type=Path, help="input video (any container ffmpeg reads)")
    parser.add_argument("--out", type=Path, required=True, help="output track (.npz)")
    parser.add_argument("--plot", type=Path, default=None,
                        help="plot PNG (default: OUT with .png suffix)")
    parser.add_argument("--no-plot", action="store_true", help="skip the plot")
    parser.add_argument("--smoothing", type=float, default=0.0,
                        help="zero-phase jitter smoothing in [0, 1), e.g. 0.3 (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Analyse, save, plot, print a one-line summary."""
    from avatar.face_analysis import analyze_video
    from avatar.track_plot import plot_track

    out = Path(args.out)
    if out.suffix != ".npz":
        raise ValueError(f"--out must end in .npz (numpy archive), got {out}")
    start = time.perf_counter()
    track = analyze_video(args.video, smoothing=args.smoothing, progress=not args.quiet)
    elapsed = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    track.save(out)
    message = (f"{args.video}: {len(track)} frames at {track.fps:g} fps, face in "
               f"{int(track.found.sum())}/{len(track)}, "
               f"{elapsed / max(len(track), 1) * 1000:.1f} ms/frame -> {out}")
    if not args.no_plot:
        plot = plot_track(track, args.plot or out.with_suffix(".png"), title=str(args.video))
        message += f", plot {plot}"
    print(message)
    return 0
