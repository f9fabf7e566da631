"""The analysis of bench/face/pose_readout.py: both head-pose read-outs (the landmarker's
matrix, a fit of its canonical model) from the same stored landmarks, their sweep
errors, the gain floor, and the comparison on real faces.

Why here: the script keeps its three steps (collect renders, collect real clips,
evaluate); the read-outs and the error arithmetic behind the JSON live here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from avatar.motion import rotation_to_angles

POSE_AXES = ("yaw", "pitch", "roll")
POSE_OFFSETS = (-20.0, -10.0, 10.0, 20.0)


def readouts(landmarks: np.ndarray, matrices: np.ndarray) -> dict[str, np.ndarray]:
    """(N, 3) yaw, pitch, roll per frame by each read-out."""
    from avatar.face_analysis import canonical_face_model
    from avatar.motion import fit_head_rotation

    model = canonical_face_model()
    matrix = np.array([rotation_to_angles(t[:3, :3]) for t in matrices])
    fit = np.array([rotation_to_angles(fit_head_rotation(lm, model)) for lm in landmarks])
    return {"matrix": matrix, "fit": fit}


def sweep_errors(path: Path) -> dict:
    """Per axis and offset: read-back change from the reference render, both read-outs,
    and the fit applied to the rendered vertices themselves ("rendered_geometry": the
    turn the warp drew, as mediapipe's canonical face would have to turn to look so)."""
    from avatar.face_analysis import canonical_face_model
    from avatar.motion import fit_head_rotation

    data = np.load(path)
    labels = [str(v) for v in data["labels"]]
    angles = readouts(data["landmarks"], data["matrices"])
    model = canonical_face_model()
    angles["rendered_geometry"] = np.array([rotation_to_angles(fit_head_rotation(v, model))
                                            for v in data["vertices"]])
    out: dict[str, dict] = {}
    for method, values in angles.items():
        base = values[labels.index("none:+0")]
        per_axis: dict[str, dict[str, Any]] = {}
        for a, axis in enumerate(POSE_AXES):
            rows: dict[str, dict[str, float]] = {}
            for offset in POSE_OFFSETS:
                label = f"{axis}:{offset:+.0f}"
                if label in labels:
                    change = values[labels.index(label)] - base
                    rows[f"{offset:+.0f}"] = {"measured": round(float(change[a]), 2),
                                              "error": round(float(abs(change[a] - offset)), 2),
                                              "ratio": round(float(change[a] / offset), 3)}
            per_axis[axis] = {"err_deg_max": max(r["error"] for r in rows.values()),
                              "offsets": rows}
        out[method] = {"pose_err_deg_max": max(p["err_deg_max"] for p in per_axis.values()),
                       "pose_err_deg": {a: p["err_deg_max"] for a, p in per_axis.items()},
                       "per_axis": per_axis}
    return out


def gain_floor(renders: dict, method: str) -> dict:
    """The least pose_err_deg_max any ONE gain per axis and direction could reach with
    this read-out on these portraits (the same gain for every portrait, as a read-out
    or renderer gain would be): min over g of max over portraits and offsets of
    |g * measured - commanded|. A floor above 3 degrees means no global gain, and no
    read-out that is this one rescaled, meets the goal."""
    floors = {}
    for axis in POSE_AXES:
        worst = 0.0
        for sign in (-1, 1):
            pairs = [(r[method]["per_axis"][axis]["offsets"][k]["measured"], float(k))
                     for r in renders.values() for k in r[method]["per_axis"][axis]["offsets"]
                     if np.sign(float(k)) == sign]
            gains = np.linspace(0.5, 1.5, 1001)
            err = np.array([[abs(g * m - c) for m, c in pairs] for g in gains]).max(1)
            worst = max(worst, float(err.min()))
            floors[f"{axis}_{'neg' if sign < 0 else 'pos'}_best_gain"] = round(
                float(gains[err.argmin()]), 3)
        floors[axis] = round(worst, 2)
    floors["all"] = max(floors[a] for a in POSE_AXES)
    return floors


def still_runs(angles: np.ndarray, found: np.ndarray, window: int, limit_deg: float
               ) -> np.ndarray:
    """Mask of frames inside windows where neither read-out's pose moves more than
    `limit_deg` (peak to peak on every axis): the near-still frames."""
    mask = np.zeros(len(found), bool)
    for start in range(0, len(found) - window + 1, window):
        sl = slice(start, start + window)
        if found[sl].all() and np.ptp(angles[sl], axis=0).max() < limit_deg:
            mask[sl] = True
    return mask


def real_comparison(path: Path) -> dict:
    """Agreement of the two read-outs on a real clip and their jitter on near-still frames."""
    data = np.load(path)
    found = data["found"]
    angles = readouts(data["landmarks"][found], data["matrices"][found])
    old, new = angles["matrix"], angles["fit"]
    diff = new - old
    result: dict[str, object] = {"frames": int(found.sum())}
    result["difference_new_minus_old_deg"] = {
        axis: {"mean": round(float(diff[:, a].mean()), 2),
               "mean_abs_centred": round(float(np.abs(diff[:, a] - diff[:, a].mean()).mean()), 2),
               "max_abs_centred": round(float(np.abs(diff[:, a] - diff[:, a].mean()).max()), 2)}
        for a, axis in enumerate(POSE_AXES)}
    # scale of the motion: least-squares slope of new on old about their means
    oc, nc = old - old.mean(0), new - new.mean(0)
    result["slope_new_on_old"] = {axis: round(float((oc[:, a] * nc[:, a]).sum()
                                                   / (oc[:, a] ** 2).sum()), 3)
                                  for a, axis in enumerate(POSE_AXES)}
    result["std_deg"] = {m: {axis: round(float(v[:, a].std()), 2)
                             for a, axis in enumerate(POSE_AXES)} for m, v in angles.items()}
    # jitter: frame-to-frame differences inside near-still windows (1 s, < 2 deg peak to peak)
    fps = float(data["fps"])
    window = max(int(round(fps)), 5)
    both = np.concatenate([old, new], axis=1)
    still = still_runs(both, np.ones(len(old), bool), window, 2.0)
    pairs = still[1:] & still[:-1]
    pairs &= (np.arange(1, len(old)) % window) != 0  # never across two windows
    jitter: dict[str, dict | None] = {}
    for method, values in angles.items():
        step = np.diff(values, axis=0)[pairs]
        # a still head's frame-to-frame difference has twice the per-frame noise variance
        jitter[method] = {axis: round(float(step[:, a].std() / np.sqrt(2)), 3)
                          for a, axis in enumerate(POSE_AXES)} if len(step) > 10 else None
    result["jitter"] = {"still_frames": int(still.sum()), "per_frame_std_deg": jitter}
    return result
