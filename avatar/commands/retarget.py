"""`avatar-forcing retarget --portrait IMG --driver VIDEO --out OUT.mp4`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `retarget` sub-command."""
    parser = subparsers.add_parser(
        "retarget",
        help="animate a portrait with the face motion of a driver video",
        description="Measure the driver's face, transfer its motion relative to its rest "
        "pose onto the portrait, render the portrait and mux the driver's audio.",
    )
    parser.add_argument("--portrait", type=Path, default=None,
                        help="portrait image (default: the bundled Grace Hopper photo)")
    parser.add_argument("--driver", type=Path, required=True, help="driver video")
    parser.add_argument("--out", type=Path, required=True, help="output video (.mp4)")
    parser.add_argument("--size", type=int, choices=(256, 512), default=512)
    parser.add_argument("--rest", choices=("median", "first"), default="median",
                        help="driver rest: robust median over the clip, or its first face")
    parser.add_argument("--smoothing", type=float, default=0.3,
                        help="jitter smoothing of the driver track in [0, 1) (default 0.3)")
    parser.add_argument("--pose-gain", type=float, default=1.0)
    parser.add_argument("--expression-gain", type=float, default=1.0)
    parser.add_argument("--no-audio", action="store_true", help="do not copy the driver audio")
    parser.add_argument("--track-out", type=Path, default=None,
                        help="also save the portrait's motion track (.npz)")
    parser.add_argument("--preview", type=Path, default=None,
                        help="also save a PNG contact sheet: driver frames over avatar frames")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Retarget and print a one-line summary."""
    from avatar.portrait import default_portrait_path
    from avatar.retarget import RetargetOptions, retarget_video

    options = RetargetOptions(rest=args.rest, pose_gain=args.pose_gain,
                              expression_gain=args.expression_gain)
    result = retarget_video(
        args.portrait or default_portrait_path(), args.driver, args.out, size=args.size,
        options=options, smoothing=args.smoothing, keep_audio=not args.no_audio,
        progress=not args.quiet,
    )
    if args.track_out:
        result.portrait_track.save(args.track_out)
    if args.preview:
        save_preview(args.driver, result.out_path, args.preview)
    found = int(result.driver_track.found.sum())
    timings = ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in result.timings_s.items())
    print(f"{result.out_path}: {result.frames} frames at {result.fps:g} fps "
          f"(driver face in {found}), audio {'kept' if result.has_audio else 'none'}; {timings}")
    return 0


def save_preview(driver: Path, rendered: Path, png: Path, picks: int = 6) -> Path:
    """Contact sheet of `picks` evenly spaced frames of the driver and the result."""
    from avatar.track_plot import plot_frame_rows, sample_indices
    from avatar.video_io import probe_video, read_video

    info = probe_video(rendered)
    wanted = set(sample_indices(info.frame_count, picks).tolist())
    rows: dict[str, list] = {"driver": [], "avatar": []}
    for label, video in (("driver", driver), ("avatar", rendered)):
        frames, _fps, _audio = read_video(video, audio=False)
        rows[label] = [frame for index, frame in enumerate(frames) if index in wanted]
    times = [index / info.fps for index in sorted(wanted)]
    return plot_frame_rows(rows, times, png, title=f"{driver.name} -> {rendered.name}")
