"""Why one pitch gain does not fit every portrait (issue 10): the evidence, per portrait.

`bench/render.py --quality` reads a 20 degree chin-up at 0.82x on joe_biden and
1.18x on eileen_collins with the same renderer. This script asks where that
spread comes from, without fitting anything:

1. *Depth of the photo's mesh.* The landmark depth is compared with mediapipe's
   canonical metric face model (the 468-vertex mesh in the landmarker's
   `geometry_pipeline_metadata_landmarks.binarypb`, the model its pose read-out
   fits), posed at the portrait's reference rotation and scaled to the
   landmarks' x, y: `depth_ratio` is the least-squares gain of landmark z on
   model z (1 = a head as deep as the model), `depth_residual_px` what is left.
   The fit is also tried with the model unposed, half posed and 1.5x posed
   (`depth_fit_by_pose_share`): camera-frame depth fits best at 1.0.
2. *The photo's own turn.* Each portrait is turned back to (near) frontal by
   the renderer and nodded there, against nodding at its own yaw, and frontal
   portraits are turned to about +-15 degrees and nodded. A nod's vertical
   displacement field is the same in both cases (the y row of
   Ry(a) Rx(d) Ry(-a) does not depend on the yaw the head is turned to
   afterwards), so a different reading is the read-out's response to the
   turned face, not a different nod.
3. *Where the read-out departs from the render.* The nose tip's vertical move
   relative to the face oval, rendered against re-detected, and orthographic
   Procrustes of the
   canonical model onto (a) the re-detected landmarks and (b) the rendered
   vertices' x, y with the re-detected depth: (b) - (a) is the part of the
   error that comes from the landmarker placing landmarks in 2-D elsewhere than
   the warp moved them.

Prints progress and ONE JSON object as the last stdout line; writes it to
bench/results/pitch_diagnosis.json with the load average.

    python bench/pitch_diagnosis.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread, numpy's BLAS included
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2
import numpy as np

from avatar.face_analysis import FaceAnalyzer, canonical_face_model
from avatar.motion import angles_to_rotation, column_index, rotation_to_angles
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.mesh import FACE_OVAL, NOSE_TIP
from avatar.render.portrait_calibration import calibration_for

ROOT = Path(__file__).resolve().parents[1]
OFFSETS = (-20.0, -10.0, 10.0, 20.0)
_YAW, _PITCH = column_index("yaw"), column_index("pitch")
_IMAGE_TO_CAMERA = np.array([1.0, -1.0, -1.0])  # image (y down, z away) -> camera axes


def procrustes_pitch(points: np.ndarray, model: np.ndarray) -> float:
    """Pitch (deg) of the rotation that best fits `model` onto image-axis `points` (468+, 3)."""
    x = points[:468].astype(np.float64) * _IMAGE_TO_CAMERA
    u, _, vt = np.linalg.svd((x - x.mean(0)).T @ (model - model.mean(0)))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    return rotation_to_angles(u @ d @ vt)[1]


def _nose_over_oval(points: np.ndarray, rest: np.ndarray) -> float:
    """Vertical move (px) of the nose tip minus the mean move of the face oval."""
    dy = points[:, 1] - rest[:, 1]
    return float(dy[NOSE_TIP] - dy[list(FACE_OVAL)].mean())


def depth_fit(landmarks: np.ndarray, reference: np.ndarray, model: np.ndarray) -> dict:
    """How the photo's landmark depth compares with the posed canonical model."""
    lm = landmarks[:468].astype(np.float64)
    yaw, pitch, roll = (float(reference[column_index(a)]) for a in ("yaw", "pitch", "roll"))
    z = lm[:, 2] - lm[:, 2].mean()
    by_share = {}
    for share in (0.0, 0.5, 1.0, 1.5):
        posed = model @ angles_to_rotation(share * yaw, share * pitch, share * roll).T
        img = posed * _IMAGE_TO_CAMERA
        a, b = img[:, :2] - img[:, :2].mean(0), lm[:, :2] - lm[:, :2].mean(0)
        scale = float((a * b).sum() / (a * a).sum())  # px per cm, from x, y only
        mz = scale * (img[:, 2] - img[:, 2].mean())
        gain = float((mz * z).sum() / (mz * mz).sum())
        by_share[share] = {"depth_ratio": round(gain, 3),
                           "depth_residual_px": round(float(np.sqrt(((gain * mz - z) ** 2).mean())), 2),
                           "px_per_cm": round(scale, 2)}
    return {"depth_ratio": by_share[1.0]["depth_ratio"],
            "depth_residual_px": by_share[1.0]["depth_residual_px"],
            "depth_fit_by_pose_share": by_share}


def nod_readings(renderer: PortraitRenderer, analyzer: FaceAnalyzer, yaw_offset: float,
                 model: np.ndarray) -> dict:
    """Pitch read-back of nods at a yaw offset, and the 2-D / depth split of the read-out."""
    base_motion = renderer.reference.copy()
    base_motion[_YAW] += yaw_offset
    base = analyzer.analyze(renderer.render(base_motion))
    if base is None:
        return {"found": False}
    xy0, _ = renderer.vertices(base_motion)
    rows: list[dict[str, float | None]] = []
    for offset in OFFSETS:
        motion = base_motion.copy()
        motion[_PITCH] += offset
        xy, _ = renderer.vertices(motion)
        measured = analyzer.analyze(renderer.render(motion))
        if measured is None:
            rows.append({"commanded": offset, "measured": None})
            continue
        det = measured.landmarks
        fit_detected = procrustes_pitch(det, model) - procrustes_pitch(base.landmarks, model)
        fit_rendered_xy = (procrustes_pitch(np.c_[xy[:478], det[:, 2]], model)
                           - procrustes_pitch(np.c_[xy0[:478], base.landmarks[:, 2]], model))
        rows.append({
            "commanded": offset,
            "measured": round(float(measured.motion[_PITCH] - base.motion[_PITCH]), 2),
            "procrustes_detected": round(fit_detected, 2),
            "procrustes_rendered_xy_detected_z": round(fit_rendered_xy, 2),
            "xy_residual_px": round(float(np.sqrt(((det[:478, :2] - xy[:478]) ** 2)
                                                  .sum(1).mean())), 2),
            # the nod's main 2-D cue: the nose tip's vertical move relative to the face oval
            "nose_over_oval_rendered_px": round(_nose_over_oval(xy[:478], xy0[:478]), 1),
            "nose_over_oval_detected_px": round(_nose_over_oval(det, base.landmarks), 1),
        })
    ratios = [float(r["measured"] or 0.0) / float(r["commanded"] or 1.0)
              for r in rows if r.get("measured") is not None]
    return {"yaw_read": round(float(base.motion[_YAW]), 1), "nods": rows,
            "ratio_mean": round(float(np.mean(ratios)), 3) if ratios else None}


def main() -> int:
    """Run the three diagnoses on every portrait of bench/portraits.py."""
    from portraits import DEFAULT_CACHE, fetch_portraits

    cv2.setNumThreads(1)
    load_start = os.getloadavg()
    model = canonical_face_model()
    per: dict[str, dict] = {}
    with FaceAnalyzer(mode="image") as analyzer:
        for name, path in fetch_portraits(DEFAULT_CACHE).items():
            print(f"pitch diagnosis: {name} ...", file=sys.stderr, flush=True)
            portrait = Portrait.load(path, 512)
            renderer = PortraitRenderer(portrait, 512, calibration=calibration_for(portrait))
            renderer.wait_for_plate()
            ref = renderer.reference
            ref_yaw = float(ref[_YAW])
            # near-frontal photos are turned to +-15; turned photos back to frontal
            yaw_offsets = [0.0, -ref_yaw] if abs(ref_yaw) > 8 else [0.0, 15.0, -15.0]
            per[name] = {
                "reference_pose_deg": {a: round(float(ref[column_index(a)]), 1)
                                       for a in ("yaw", "pitch", "roll")},
                **depth_fit(portrait.landmarks, ref, model),
                "nods_by_yaw_offset": {f"{o:+.1f}": nod_readings(renderer, analyzer, o, model)
                                       for o in yaw_offsets},
            }
    summary = {
        "mode": "pitch_diagnosis",
        "load_average_start": [round(v, 2) for v in load_start],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "definitions": {
            "depth_ratio": "least-squares gain of the photo's landmark z (centred) on the "
                           "canonical model's z posed at the reference rotation and scaled by "
                           "the x, y fit; 1 = as deep as mediapipe's metric model",
            "nods_by_yaw_offset": "pitch offsets added after turning the portrait by the "
                                  "yaw offset; measured = FaceAnalyzer pitch change from the "
                                  "turned, un-nodded render",
            "procrustes_detected": "orthographic Procrustes pitch change of the canonical "
                                   "model fitted to the re-detected landmarks",
            "procrustes_rendered_xy_detected_z": "the same with the rendered vertices' x, y "
                                                 "and the re-detected z",
            "nose_over_oval_px": "vertical move of the nose tip (landmark 1) minus the mean "
                                 "move of the 36 face-oval landmarks, rendered vertices vs "
                                 "re-detected landmarks (512 px)",
        },
        "per_portrait": per,
    }
    out = ROOT / "bench" / "results" / "pitch_diagnosis.json"
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
