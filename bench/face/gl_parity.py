"""Figure: bench/results/gl_parity_<tag>.json, the browser's WebGL2 face against the
Python renderer's on the same motion frames (issue 76, "Parity").

For each bench portrait (default: the four from PyPI packages that need no extra
download beyond face-recognition's sdist: grace_hopper, eileen_collins, barack_obama,
joe_biden), `--frames` motion frames spread over piper's spoken reply through the
shipped generator (benchkit/gl_parity.py). Each frame is drawn by
`PortraitRenderer.render` and by pipelines/web/gl/face-renderer.js in headless
Chromium (SwiftShader: software GL), and compared over the face box (the face oval's
bounds grown 5 %):

- `psnr_db`: PSNR of all frames' face boxes pooled; `worst_frame_db`: the lowest
  single frame; `seam_share`: share of face-box pixels off by >= 48 levels (a seam or
  a torn edge counts there, a soft shading difference does not);
- `assets_kb`: the asset container's size; `draw_ms`: the page's draw + read-back per
  frame in software GL (a CPU's speed, not a GPU's; a figure for the record only).

Writes the contact sheet (`--sheet`, default bench/results/gl_parity.jpg; docs/gl_parity.jpg is a copy kept by hand): per portrait the three
frames with the widest mouths, Python | browser | difference x4 at 1x, the mouth at 3x.

    python bench/face/gl_parity.py [--frames 50] [--tag shipped]

Prints ONE JSON object (the summary) as the last stdout line.
Runs: ~4 min on its defaults (estimated for the 2-core host: four portraits' plates, the
generator, Chromium in software GL).
Quoted: docs/GL_RENDERER.md, "Parity": PSNR over the face box per portrait, mean and min
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path

import numpy as np

from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from benchkit.bench_args import tagged_parser, write_results
from benchkit.face.portraits import fetch_portraits
from benchkit.gl_parity import contact_sheet, measure, speech_motion
from benchkit.load import load_average
from benchkit.paths import RESULTS, ROOT

PORTRAITS = ("grace_hopper", "eileen_collins", "barack_obama", "joe_biden")


def main() -> None:
    parser = tagged_parser(__doc__, "shipped")
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--portraits", default=",".join(PORTRAITS))
    parser.add_argument("--sheet", type=Path, default=RESULTS / "gl_parity.jpg",
                        help="the contact sheet (docs/gl_parity.jpg is a copy of one, kept by hand)")
    args = parser.parse_args()
    load_start = load_average()
    started = time.perf_counter()
    results = []
    paths = fetch_portraits(args.portrait_cache, args.portraits.split(","))
    for name, path in paths.items():
        portrait = Portrait.load(path, 512)
        renderer = PortraitRenderer(portrait, 512)
        renderer.wait_for_plate(60.0)
        motion = speech_motion(portrait.reference_motion, args.frames)
        results.append(measure(name, renderer, motion))
    per = {}
    for r in results:
        pooled, frames = r.psnr()
        per[r.name] = {"psnr_db": round(pooled, 2), "worst_frame_db": round(min(frames), 2),
                       "seam_share": round(r.seam_share(), 6),
                       "assets_kb": round(r.asset_bytes / 1024, 1),
                       "draw_ms": round(r.draw_ms, 1), "frames": len(frames)}
    contact_sheet(results, args.sheet)
    values = [p["psnr_db"] for p in per.values()]
    summary = {
        "bench": "gl_parity", "frames_per_portrait": args.frames, "portraits": per,
        "psnr_db_mean": round(float(np.mean(values)), 2),
        "psnr_db_min": round(float(np.min(values)), 2), "goal_db": 32.0,
        "gl_renderer": results[0].gl_renderer if results else None,
        "sheet": str(args.sheet.relative_to(ROOT)) if args.sheet.is_relative_to(ROOT)
        else str(args.sheet),
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_start": load_start, "load_average_end": load_average(),
    }
    write_results(args, "gl_parity", __doc__, summary)


if __name__ == "__main__":
    main()
