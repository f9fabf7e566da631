"""The nose-over-cheek line (issue 10): folds of the warp, before and after the fix.

On a turn the nose covers the far cheek. The half-resolution source map used to
be bilinearly up-sampled across that fold, so pixels along the nose sampled the
photo between the nose and the cheek behind it: a thin dark line, and a dark dot
at grace_hopper's nostril (docs/nose_fold_before_after.png).
avatar/render/mesh.py BackwardMapper now maps the pixels around a fold with
their own triangle's affine map (rasterised at full resolution).

Per portrait and yaw (+-10, +-20 deg), it counts the pixels of the unsmoothed
warp whose map samples the photo more than 2 px outside the source box of the
triangle drawn there: with the fold step switched off (the old up-sampling)
and on. It also gives the pose read-back of the yaw and pitch sweeps with the
fixed warp, to compare with render_quality_after.json.
With --timing BEFORE_COMMIT it times render() on one thread, with the
BackwardMapper of that commit and with today's. Take the exclusive heavy
lock for that part.

    python bench/nose_fold.py [--timing e484f29]   # -> bench/results/nose_fold.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

YAWS = (-20.0, -10.0, 10.0, 20.0)


def off_own_triangle(mapper, xy: np.ndarray, z: np.ndarray) -> int:
    """Unsmoothed-warp pixels sampling > 2 px outside their triangle's source box."""
    return mapper.pixels_off_own_triangle(xy, z, tolerance_px=2.0)


def folds_and_pose() -> dict:
    """Fold pixel counts (old up-sampling against the fold step) and pose read-back."""
    from portraits import DEFAULT_CACHE, fetch_portraits

    from avatar.face_analysis import FaceAnalyzer
    from avatar.motion import column_index
    from avatar.portrait import Portrait
    from avatar.render import PortraitRenderer
    from avatar.render.mesh import BackwardMapper
    from avatar.render.portrait_calibration import calibration_for

    per: dict[str, dict] = {}
    with FaceAnalyzer(mode="image") as analyzer:
        for name, path in fetch_portraits(DEFAULT_CACHE).items():
            print(f"nose fold: {name}", file=sys.stderr, flush=True)
            portrait = Portrait.load(path, 512)
            renderer = PortraitRenderer(portrait, 512, calibration=calibration_for(portrait))
            renderer.wait_for_plate()
            ref = renderer.reference
            folds = {}
            for yaw in YAWS:
                motion = ref.copy()
                motion[column_index("yaw")] += yaw
                xy, z = renderer.vertices(motion)
                old = BackwardMapper(renderer.mesh)
                old._fix_folds = lambda *args: None  # type: ignore[method-assign]
                folds[f"{yaw:+.0f}"] = {"old_upsampling": off_own_triangle(old, xy, z),
                                        "fold_step": off_own_triangle(
                                            BackwardMapper(renderer.mesh), xy, z)}
            base = analyzer.analyze(renderer.render(ref))
            pose: dict[str, float | None] = {}
            for axis in ("yaw", "pitch", "roll"):
                errors = []
                for offset in YAWS:
                    motion = ref.copy()
                    motion[column_index(axis)] += offset
                    m = analyzer.analyze(renderer.render(motion))
                    if m is not None and base is not None:
                        col = column_index(axis)
                        errors.append(abs(float(m.motion[col] - base.motion[col]) - offset))
                pose[axis] = round(max(errors), 2) if errors else None
            per[name] = {"pixels_off_own_triangle": folds, "pose_err_deg": pose}
    return per


def _mapper_from(commit: str):
    """avatar/render/mesh.py as of `commit`, loaded under its own module name."""
    source = subprocess.run(["git", "show", f"{commit}:avatar/render/mesh.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    path = Path("/tmp") / f"mesh_{commit}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"mesh_{commit}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module.BackwardMapper


def timing(before_commit: str) -> dict:
    """render() ms on one thread, six portraits x 200 mixed_track frames, old and new mapper."""
    from portraits import DEFAULT_CACHE, fetch_portraits

    from avatar.portrait import Portrait
    from avatar.render import PortraitRenderer
    from avatar.render.mesh import BackwardMapper
    from avatar.render.portrait_calibration import calibration_for
    from avatar.render.roundtrip import mixed_track

    old_mapper = _mapper_from(before_commit)
    load = os.getloadavg()
    out: dict[str, object] = {}
    renderers = []
    for _, path in fetch_portraits(DEFAULT_CACHE).items():
        portrait = Portrait.load(path, 512)
        renderer = PortraitRenderer(portrait, 512, calibration=calibration_for(portrait))
        renderer.wait_for_plate()
        renderers.append(renderer)
    for label, cls in (("before", old_mapper), ("after", BackwardMapper)):
        wall, cpu = [], []
        for renderer in renderers:
            renderer._mapper = cls(renderer.mesh, grid_step=2)
            track = mixed_track(renderer.reference, 200, seed=0)
            for row in track[:3]:
                renderer.render(row)
            for row in track:
                t0, c0 = time.perf_counter(), time.process_time()
                renderer.render(row)
                wall.append((time.perf_counter() - t0) * 1e3)
                cpu.append((time.process_time() - c0) * 1e3)
        out[label] = {"render_ms_512_p50": round(float(np.median(wall)), 2),
                      "render_ms_512_p95": round(float(np.percentile(wall, 95)), 2),
                      "render_cpu_ms_512_p50": round(float(np.median(cpu)), 2)}
    out["before_commit"] = before_commit
    out["frames_each"] = 6 * 200
    out["load_average_start"] = [round(v, 2) for v in load]
    out["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timing", metavar="BEFORE_COMMIT", default=None,
                        help="also time render() with the BackwardMapper of this commit")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    out_path = ROOT / "bench" / "results" / "nose_fold.json"
    summary = json.loads(out_path.read_text()) if out_path.is_file() else {}
    if args.timing:
        summary["timing"] = timing(args.timing)
    else:
        load = os.getloadavg()
        summary.update({
            "mode": "nose_fold",
            "definitions": {
                "pixels_off_own_triangle": "pixels of the unsmoothed (sharp) warp whose "
                                           "source map lies > 2 px outside the source "
                                           "bounding box of the triangle drawn there, 512 px; "
                                           "old_upsampling = the fold step switched off",
                "pose_err_deg": "max |read-back - commanded| over -20, -10, +10, +20 deg "
                                "single-axis offsets (FaceAnalyzer, matrix read-out), "
                                "with the fold step; compare render_quality_after.json",
                "timing": "render() on one thread, 200 frames of mixed_track(seed 0) per "
                          "portrait after 3 warm-ups, medians over six portraits, taken "
                          "under the exclusive heavy lock",
            },
            "per_portrait": folds_and_pose(),
            "load_average_start": [round(v, 2) for v in load],
            "load_average_end": [round(v, 2) for v in os.getloadavg()],
        })
    out_path.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
