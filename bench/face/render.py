"""Figure: the renderer's speed and round-trip fidelity (JSON; --plot docs/roundtrip_mixed.png,
--sheets docs/contact_sheet_*.jpg, --quality bench/results/render_quality_<tag>*).

Benchmark and round-trip fidelity of the portrait renderer.

Prints progress, then ONE JSON object as the last stdout line:
render_fps_512 / render_fps_256 (one thread, median wall time over a mixed
track, with p95 ms; plus CPU-time medians, which the shared machine disturbs less), analyze_ms_p50 (landmarker, image mode, 512 px), the per-blendshape
round-trip table on a mixed track (r, slope; also on the independent "stress"
track under blendshapes_independent), single-actuator sweeps (range,
monotone), pose errors over +-15 degrees, roundtrip_r_min and pose_err_deg_max.

    python bench/face/render.py [--frames 200] [--seed 0] [--plot docs/roundtrip_mixed.png]
    python bench/face/render.py --calibrate   # refit avatar/data/render_calibration.json first
    python bench/face/render.py --quality     # real portraits: background drift, pose, speed
    python bench/face/render.py --quality --tag before   # ... written as render_quality_before*
    python bench/face/render.py --portraits --tag before  # mixed-track r on all six portraits
    python bench/face/render.py --quality --mirror-fill both  # fill off vs on, one run

`--quality` measures the renderer on every portrait of benchkit/face/portraits.py
(Grace Hopper plus public-domain / permissively licensed photos from pinned
PyPI packages) and writes bench/results/render_quality_<tag>.json (tag "after"
by default; render_quality.json without a tag is the issue-10 "before",
measured on 3cbedea), a contact sheet (render_quality_<tag>_sheet.png), a wider
pose and expression grid (render_quality_<tag>_more.png) and the background mask
it used (render_quality_<tag>_mask.png); see `quality_main` (benchkit/face/render_quality.py)
for what is measured.
`--mirror-fill off|on` measures the renderer with PortraitRenderer's mirror_fill
set so (default: whatever the product ships); `--mirror-fill both` measures
both in one run, each portrait with the fill off and then on, timed frame by
frame in alternation so both see the same machine load, and writes
render_quality_mirror_fill.json with both summaries and their differences.

The machine is shared: speeds are medians and vary with contention.

Runs: ~3 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": 8.1 ms a frame at 512 px; pose error <= 2.80 deg, background drift <= 1.74 %
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
if {"--quality", "--portraits"} & set(sys.argv):  # one thread everywhere, numpy's BLAS too
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import cv2
import numpy as np

from avatar.face_analysis import FaceAnalyzer
from avatar.motion import column_index
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.roundtrip import (
    KEY_BLENDSHAPES,
    PAIRED,
    POSE_AXES,
    SweepResult,
    mixed_table,
    mixed_track,
    pose_errors,
    sweep_track,
)
from benchkit.face.render_portraits import portraits_main
from benchkit.face.render_quality import quality_main
from benchkit.face.render_roundtrip import (
    EXPRESSION_SHEET,
    POSE_SHEET,
    POSE_VALUES,
    SWEEP_VALUES,
    measure_timed,
    plot_mixed,
    time_render,
    write_sheet,
)
from benchkit.paths import ROOT


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="mixed-track length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calibrate", action="store_true",
                        help="refit and save the calibration table before measuring")
    parser.add_argument("--plot", type=Path, default=None, help="write a round-trip PNG")
    parser.add_argument("--sheets", type=Path, default=None,
                        help="folder to write contact_sheet_{expressions,poses}.jpg into")
    parser.add_argument("--quality", action="store_true",
                        help="measure on the real portraits of bench/face/portraits.py instead")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results",
                        help="--quality: folder for render_quality.json and its PNGs")
    parser.add_argument("--portrait-cache", type=Path, default=ROOT / "cache" / "portraits",
                        help="--quality: package files and extracted portraits")
    parser.add_argument("--timing-frames", type=int, default=100,
                        help="--quality: timed renders per portrait")
    parser.add_argument("--tile", type=int, default=192, help="--quality: sheet tile px")
    parser.add_argument("--mirror-fill", choices=("default", "off", "on", "both"),
                        default="default",
                        help="--quality: PortraitRenderer's mirror_fill (default: what the "
                             "product ships); both: off and on in one run, timed in "
                             "alternation (render_quality_mirror_fill.json)")
    parser.add_argument("--tables", choices=("cached", "shipped", "own"), default="cached",
                        help="--quality: calibration table per portrait: cached (what a "
                             "renderer picks by itself), shipped (the default portrait's on "
                             "all), own (each portrait's own fit, as a serve session shows "
                             "it once fitted; fitted first if missing); --portraits: own "
                             "replaces --calibration")
    parser.add_argument("--tag", default="after",
                        help="--quality: output names render_quality_<tag>*; '' writes "
                             "render_quality.json (the issue-10 before figures)")
    parser.add_argument("--portraits", action="store_true",
                        help="mixed-track round trip and sweeps on every portrait of "
                             "bench/face/portraits.py (render_roundtrip_portraits_<tag>.json)")
    parser.add_argument("--calibration", type=Path, default=None,
                        help="--portraits: evaluate this calibration table on every portrait "
                             "(default: the shipped one, never a per-portrait table from the "
                             "cache dir)")
    parser.add_argument("--seeds", default="",
                        help="--portraits: comma-separated mixed-track seeds (default --seed)")
    parser.add_argument("--only", default="",
                        help="--portraits: comma-separated portrait names (default all six)")
    parser.add_argument("--funnel-sheet", type=Path, default=None,
                        help="--portraits: write a mouth contact sheet (funnel, pucker) here")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if args.portraits:
        return portraits_main(args)
    if args.quality:
        return quality_main(args)

    portrait = Portrait.default(512)
    if args.calibrate:
        from avatar.render.calibration_fit import calibrate

        calibrate(portrait).save()
    renderer = PortraitRenderer(portrait, 512)
    renderer.wait_for_plate()  # sheets and numbers with the final (shift-map) plate
    ref = renderer.reference
    if args.sheets:
        args.sheets.mkdir(parents=True, exist_ok=True)
        write_sheet(renderer, EXPRESSION_SHEET, args.sheets / "contact_sheet_expressions.jpg")
        write_sheet(renderer, POSE_SHEET, args.sheets / "contact_sheet_poses.jpg")
    track = mixed_track(ref, args.frames, seed=args.seed)

    print("timing renders (one thread) ...", file=sys.stderr, flush=True)
    ms512, p95_512, cpu512 = time_render(renderer, track)
    renderer256 = PortraitRenderer(Portrait.default(256), 256)
    ms256, p95_256, cpu256 = time_render(renderer256, mixed_track(renderer256.reference, 100))

    analyze_ms: list[float] = []
    with FaceAnalyzer(mode="image") as analyzer:
        print("mixed-track round trip ...", file=sys.stderr, flush=True)
        measured, found = measure_timed(renderer, track, analyzer, analyze_ms)
        table = mixed_table(track, measured, found)
        print("independent (stress) mixed track ...", file=sys.stderr, flush=True)
        stress = mixed_track(ref, args.frames, seed=args.seed, antagonists=False)
        s_measured, s_found = measure_timed(renderer, stress, analyzer, analyze_ms)
        stress_table = mixed_table(stress, s_measured, s_found)
        print("sweeps ...", file=sys.stderr, flush=True)
        sweeps = {}
        one_sided = {}
        for name in KEY_BLENDSHAPES:
            sw = sweep_track(ref, name, SWEEP_VALUES, paired=True)
            m, f = measure_timed(renderer, sw, analyzer, analyze_ms)
            res = SweepResult(name, SWEEP_VALUES, m[:, column_index(name)])
            sweeps[name] = {"measured": np.round(res.measured, 3).tolist(),
                            "range": round(res.measured_range, 3), "monotone": res.monotone}
            if name in PAIRED:
                sw = sweep_track(ref, name, SWEEP_VALUES)
                m, f = measure_timed(renderer, sw, analyzer, analyze_ms)
                one_sided[name] = np.round(m[:, column_index(name)], 3).tolist()
        base, _ = measure_timed(renderer, ref[None], analyzer, analyze_ms)
        pose = {}
        for axis in POSE_AXES:
            sw = sweep_track(ref, axis, POSE_VALUES)
            m, f = measure_timed(renderer, sw, analyzer, analyze_ms)
            pose[axis] = pose_errors(sw, m, f, ref, base[0])[axis]
    if args.plot:
        plot_mixed(args.plot, track, measured, found, table)

    result = {
        "render_fps_512": round(1000.0 / ms512, 1), "render_ms_512_p50": round(ms512, 2),
        "render_ms_512_p95": round(p95_512, 2), "render_cpu_ms_512_p50": round(cpu512, 2),
        "render_fps_512_cpu": round(1000.0 / cpu512, 1),
        "render_fps_256": round(1000.0 / ms256, 1), "render_ms_256_p50": round(ms256, 2),
        "render_ms_256_p95": round(p95_256, 2), "render_cpu_ms_256_p50": round(cpu256, 2),
        "render_fps_256_cpu": round(1000.0 / cpu256, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "analyze_ms_p50": round(float(np.median(analyze_ms)), 2),
        "mixed_frames": int(len(track)), "mixed_found": int(found.sum()),
        "roundtrip_r_min": min(v["r"] for v in table.values()),
        "pose_err_deg_max": max(pose.values()),
        "pose_err_deg": pose,
        "blendshapes": table,
        "blendshapes_independent": stress_table,
        "sweeps": sweeps,
        "sweeps_one_sided": one_sided,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
