"""`avatar-forcing calibrate PORTRAIT`: fit the renderer's calibration on one portrait."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `calibrate` sub-command."""
    parser = subparsers.add_parser(
        "calibrate",
        help="fit the renderer's calibration on a portrait (once; cached on disk)",
        description="Sweep and re-measure the portrait's renders, fit its own per-shape "
        "curves, nod (pitch) gains and readout model (avatar/render/portrait_calibration.py) "
        "and cache them "
        "under the cache dir, keyed by the portrait's pixels. Renderers of that portrait "
        "use the table from then on; until then they use the shipped one. A few "
        "minutes on one core.",
    )
    parser.add_argument("portrait", type=Path, help="portrait image")
    parser.add_argument("--size", type=int, choices=(256, 512), default=512,
                        help="the portrait's crop size, as the session loads it (default 512)")
    parser.add_argument("--force", action="store_true", help="refit even when cached")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Fit (unless cached) and print where the table is."""
    from avatar.portrait import Portrait, default_portrait_path
    from avatar.render.portrait_calibration import cached_path, fit_portrait_calibration

    if Path(args.portrait).resolve() == default_portrait_path().resolve():
        print(f"{args.portrait}: the default portrait; the shipped table is its own fit")
        return 0
    portrait = Portrait.load(args.portrait, size=args.size)
    path = cached_path(portrait)
    if path.is_file() and not args.force:
        print(f"{args.portrait}: already calibrated -> {path}")
        return 0
    start = time.perf_counter()
    path = fit_portrait_calibration(portrait, progress=not args.quiet)
    print(f"{args.portrait}: calibrated in {time.perf_counter() - start:.0f} s -> {path}")
    return 0
