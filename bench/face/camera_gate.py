"""Figure: bench/results/camera_gate_<tag>.json and .png, what skipping still camera frames
costs in motion and saves in landmarker runs (avatar/live/still_camera.py, issue 48).

The real face clips (benchkit/real_media.py: a man talking, two webcam captures of
people moving in front of their camera, a lecturer, a phone call) are fed to the
server's camera analysis as a kiosk sends them: 10 frames a second, each shrunk to
the SDKs' 320 px JPEG. Each clip runs once with the landmarker on every frame (the
reference) and once per `--thresholds` value with still frames skipped. Per clip
and threshold the JSON holds the share of frames the landmarker still ran on and
the error of the motion the generator is given (smoothed, as the session hands it
over) against the reference's: yaw, pitch and roll in degrees, jaw open and the
smile (blendshapes, 0-1), the mean over all 52 expression columns; beside them
the reference's own mean change from one frame to the next, the scale an error is
read against. Frames where one side found a face and the other did not are counted.

    .venv/bin/python bench/face/camera_gate.py [--secs 30] [--thresholds 1.5 3 4.5 6]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from avatar.live.camera import CameraMotion
from avatar.live.still_camera import DEFAULT_MAX_GAP_MS, DEFAULT_THRESHOLD, StillCamera
from avatar.motion import column_index
from benchkit.face_inputs import CAMERA_FPS, clip_frames, sdk_jpeg
from benchkit.load import load_average
from benchkit.paths import RESULTS, ROOT
from benchkit.real_media import face_clips

COLUMNS = {"yaw_deg": column_index("yaw"), "pitch_deg": column_index("pitch"),
           "roll_deg": column_index("roll"), "jaw_open": column_index("jawOpen"),
           "smile": column_index("mouthSmileLeft")}


def analyse(jpegs: list[bytes], still: StillCamera | None) -> tuple[list[np.ndarray | None],
                                                                   int, float]:
    """Motions as the session hands them over, frames the landmarker ran on, CPU ms a frame."""
    camera = CameraMotion(skip_still=still if still is not None else False)
    try:
        started = time.process_time()
        motions = [camera.analyze_jpeg(data, int(i * 1000 / CAMERA_FPS))
                   for i, data in enumerate(jpegs)]
        cpu_ms = (time.process_time() - started) * 1000.0 / max(len(jpegs), 1)
        return motions, camera.analysed, cpu_ms
    finally:
        camera.close()


def compare(reference: list[np.ndarray | None], gated: list[np.ndarray | None]
            ) -> dict[str, Any]:
    """Errors of `gated` against `reference` where both found a face."""
    both = [(r, g) for r, g in zip(reference, gated, strict=True)
            if r is not None and g is not None]
    mismatched = sum((r is None) != (g is None) for r, g in zip(reference, gated, strict=True))
    if not both:
        return {"frames_compared": 0, "face_found_mismatch": mismatched}
    ref = np.stack([r for r, _ in both])
    err = np.abs(np.stack([g for _, g in both]) - ref)
    out: dict[str, Any] = {"frames_compared": len(both), "face_found_mismatch": mismatched}
    for name, column in COLUMNS.items():
        out[f"{name}_mae"] = round(float(err[:, column].mean()), 4)
        out[f"{name}_p95"] = round(float(np.percentile(err[:, column], 95)), 4)
    out["expression_mae"] = round(float(err[:, 6:].mean()), 4)
    return out


def natural_change(reference: list[np.ndarray | None]) -> dict[str, float]:
    """The reference's mean change from one analysed frame to the next (the scale)."""
    found = [m for m in reference if m is not None]
    if len(found) < 2:
        return {}
    step = np.abs(np.diff(np.stack(found), axis=0))
    return {**{f"{name}_step": round(float(step[:, c].mean()), 4) for name, c in COLUMNS.items()},
            "expression_step": round(float(step[:, 6:].mean()), 4)}


def plot(report: dict[str, Any], out: Path) -> None:
    """Left: share of frames analysed per threshold; right: jaw and yaw errors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (share, error) = plt.subplots(1, 2, figsize=(11, 4.2))
    for clip in report["clips"]:
        rows = clip["gated"]
        thresholds = [r["threshold"] for r in rows]
        share.plot(thresholds, [r["analysed_share"] for r in rows], marker="o",
                   label=clip["clip"])
        error.plot(thresholds, [r["jaw_open_mae"] / max(clip["natural"]["jaw_open_step"], 1e-6)
                                for r in rows], marker="o", label=f"{clip['clip']} jaw")
    share.axvline(report["default_threshold"], color="grey", lw=0.8)
    error.axvline(report["default_threshold"], color="grey", lw=0.8)
    share.set_xlabel("threshold (largest cell's mean change, grey levels)")
    share.set_ylabel("share of frames the landmarker ran on")
    share.set_ylim(0, 1.05)
    error.set_xlabel("threshold")
    error.set_ylabel("jaw-open error / its natural frame-to-frame change")
    for ax in (share, error):
        ax.legend(fontsize=7)
    fig.suptitle(f"Still camera frames skipped: real clips at {CAMERA_FPS:g} frames a second "
                 f"(load {report['load_average_start']:.1f} -> {report['load_average_end']:.1f})",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secs", type=float, default=30.0, help="seconds of each clip")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[1.5, 3.0, 4.5, 6.0])
    parser.add_argument("--max-gap-ms", type=int, default=DEFAULT_MAX_GAP_MS)
    parser.add_argument("--tag", default="run")
    args = parser.parse_args()
    if args.secs <= 0 or args.max_gap_ms < 0 or min(args.thresholds) <= 0:
        parser.error("--secs and every --thresholds value must be > 0, --max-gap-ms >= 0")
    cv2.setNumThreads(1)
    report: dict[str, Any] = {"bench": "camera_gate", "tag": args.tag, "secs": args.secs,
                              "camera_fps": CAMERA_FPS, "max_gap_ms": args.max_gap_ms,
                              "default_threshold": DEFAULT_THRESHOLD,
                              "load_average_start": load_average(), "clips": []}
    clips = face_clips()
    for path in tqdm(clips, desc="clips", unit="clip"):
        jpegs = [sdk_jpeg(rgb) for rgb in clip_frames(path, round(args.secs * CAMERA_FPS))]
        reference, analysed, cpu_ms = analyse(jpegs, None)
        entry: dict[str, Any] = {"clip": path.stem, "frames": len(jpegs),
                                 "reference_cpu_ms_per_frame": round(cpu_ms, 2),
                                 "natural": natural_change(reference), "gated": []}
        for threshold in args.thresholds:
            motions, analysed, cpu_ms = analyse(jpegs, StillCamera(threshold, args.max_gap_ms))
            entry["gated"].append({"threshold": threshold,
                                   "analysed_share": round(analysed / len(jpegs), 3),
                                   "cpu_ms_per_frame": round(cpu_ms, 2),
                                   **compare(reference, motions)})
        report["clips"].append(entry)
        tqdm.write(json.dumps({"clip": entry["clip"], "shares": [g["analysed_share"]
                                                                 for g in entry["gated"]]}))
    report["load_average_end"] = load_average()
    default = [next(g for g in c["gated"] if g["threshold"] == DEFAULT_THRESHOLD)
               for c in report["clips"] if DEFAULT_THRESHOLD in args.thresholds]
    if default:
        frames = [c["frames"] for c in report["clips"]]
        report["analysed_share_at_default"] = round(
            sum(g["analysed_share"] * n for g, n in zip(default, frames, strict=True))
            / sum(frames), 3)
    out = RESULTS / f"camera_gate_{args.tag}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(report, out.with_suffix(".png"))
    report["plot"] = str(out.with_suffix(".png").relative_to(ROOT))
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "clips"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
