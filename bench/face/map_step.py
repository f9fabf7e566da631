"""Figure: bench/results/map_step_<tag>.json and .png, the picture with the inverse map
on a coarser grid against a finer one, in one run: at 256 px 2 pixels against 1 (issue
48), at 512 px (`--size 512`) 4 pixels against 2.

At 512 px the renderer's inverse map has always been rasterised on a grid of one
cell per 2x2 output pixels and up-sampled (exact inside each triangle, where the map
is affine; exact around folds); at 256 px it was rasterised per pixel, which made
the map cost more at 256 px than at 512 (a 41-tap smoothing on a 256x256 grid).
Issue 48 allows a change of pixels if the renderer's quality measures stay within
their noise, compared in one run. Here, per portrait of benchkit/face/portraits.py (the
six of `bench/face/render.py --quality`), renderers at 256 px with `map_step` 1 and 2,
and at 512 px (the product's default size, for scale: how far 256 px itself is from
it), each measured with the same calls:

- `readback`: the mixed expression track of bench/face/render.py (avatar/render/roundtrip.py,
  200 frames, seed 0) rendered and re-measured by the landmarker (image mode): r and
  slope of the measured key blendshapes on the commanded ones;
- `pose_err_deg`: yaw, pitch and roll offsets of -20, -10, +10, +20 degrees against
  what the landmarker measures (relative to the rendered reference frame);
- `background_drift_pct`: background pixels changed by the turns of bench/face/render.py
  --quality (yaw +-15, roll +-10), outside the head region;
- `face_found_rate`, and `render_cpu_ms` (process CPU a frame over the track,
  the variants timed frame by frame in alternation);
- `psnr_db`: the 2-pixel grid's frames against the 1-pixel grid's (mean and worst
  frame over the track and the turns), and the largest pixel difference.

The landmarker's own noise on these measures: the same figures of the step-1
renderer on a second track seed (`noise`), so a difference between the steps can
be read against the spread of the measure itself.

At `--size 512` the same figures compare the 512 px renderer with its map on a 4-pixel
grid (128 x 128 cells, as the 256 px renderer's 2-pixel grid) against the 2-pixel one,
with 256 px for scale; the keys below then name those variants (`frames_512`,
`render_cpu_ms_step2`, `render_cpu_ms_step4`).

    .venv/bin/python bench/face/map_step.py [--size 256|512] [--tag NAME] [--frames 200] [--only NAME ...]

Runs: ~3 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": 256 px on the 2-pixel map grid: read-back, pose error, drift unchanged within their spread
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread everywhere, numpy's BLAS too
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import cv2
import numpy as np
from tqdm import tqdm

from avatar.face_analysis import FaceAnalyzer
from avatar.motion import column_index
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.roundtrip import KEY_BLENDSHAPES, POSE_AXES, mixed_table, mixed_track
from benchkit.face.portraits import DEFAULT_CACHE, fetch_portraits
from benchkit.face.render_quality import (
    DRIFT_POSES,
    POSE_OFFSETS,
    changed_pixels,
    head_region,
    quality_table,
)
from benchkit.face.render_roundtrip import with_values
from benchkit.load import load_average
from benchkit.paths import RESULTS, ROOT

#: per size: the finer grid, the coarser one, and the other size for scale
VARIANTS = {256: (("256 step 1", 256, 1), ("256 step 2", 256, 2), ("512 step 2", 512, 2)),
            512: (("512 step 2", 512, 2), ("512 step 4", 512, 4), ("256 step 2", 256, 2))}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of b against a; inf when identical."""
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def measure_variant(renderer: PortraitRenderer, analyzer: FaceAnalyzer,
                    track: np.ndarray) -> dict[str, Any]:
    """Every quality figure of one renderer (see the module docstring)."""
    ref = renderer.reference
    found: list[bool] = []

    def read(motion: np.ndarray) -> tuple[np.ndarray, Any]:
        frame = renderer.render(motion)
        measured = analyzer.analyze(frame)
        found.append(measured is not None)
        return frame, measured

    ref_frame, base = read(ref)
    head = head_region(base.landmarks if base is not None else
                       renderer.mesh.vertices[:478, :2], renderer.size)
    drift = {label: round(float(changed_pixels(read(with_values(ref, values))[0],
                                               ref_frame)[~head].mean() * 100), 2)
             for label, values in DRIFT_POSES}
    pose: dict[str, float | None] = {}
    for axis in POSE_AXES:
        errors = []
        for offset in POSE_OFFSETS:
            _, measured = read(with_values(ref, {axis: offset}))
            if measured is not None and base is not None:
                col = column_index(axis)
                errors.append(abs(float(measured.motion[col] - base.motion[col]) - offset))
        pose[axis] = round(max(errors), 2) if errors else None
    measured_track = np.zeros_like(track)
    hits = np.zeros(len(track), bool)
    for i, row in enumerate(track):
        _, m = read(row)
        if m is not None:
            measured_track[i], hits[i] = m.motion, True
    table = mixed_table(track, measured_track, hits)
    return {"readback": table,
            "readback_r_min": min(v["r"] for v in table.values()),
            "pose_err_deg": pose,
            "pose_err_deg_max": max((v for v in pose.values() if v is not None), default=None),
            "background_drift_pct": drift,
            "background_drift_max": max(drift.values()),
            "face_found_rate": round(sum(found) / len(found), 3)}


def compare_frames(fine: PortraitRenderer, coarse: PortraitRenderer,
                   motions: np.ndarray) -> dict[str, Any]:
    """The same size's two renderers' frames side by side: PSNR of the coarser grid's
    against the finer's, worst pixel, and their CPU a frame, timed frame by frame in
    alternation (the same machine load)."""
    scores: list[float] = []
    worst = 0
    one, two = fine.map_step, coarse.map_step
    cpu: dict[int, list[float]] = {one: [], two: []}
    for k, motion in enumerate(motions):
        frames = {}
        for step, renderer in ((one, fine), (two, coarse)) if k % 2 else ((two, coarse), (one, fine)):
            started = time.process_time()
            frames[step] = renderer.render(motion)
            cpu[step].append(time.process_time() - started)
        scores.append(psnr(frames[one], frames[two]))
        worst = max(worst, int(np.abs(frames[one].astype(np.int16) - frames[two]).max()))
    finite = [s for s in scores if np.isfinite(s)]
    return {"psnr_db_mean": round(float(np.mean(finite)), 2) if finite else None,
            "psnr_db_worst_frame": round(min(finite), 2) if finite else None,
            "identical_frames": len(scores) - len(finite), "frames": len(scores),
            "max_pixel_difference": worst,
            f"render_cpu_ms_step{one}": round(float(np.median(cpu[one])) * 1e3, 3),
            f"render_cpu_ms_step{two}": round(float(np.median(cpu[two])) * 1e3, 3)}


def one_portrait(path: Path, analyzer: FaceAnalyzer, frames: int, size: int) -> dict[str, Any]:
    """Every variant's figures and the `size` px frames compared, for one portrait."""
    portrait = Portrait.load(path, 512)
    table, _ = quality_table(portrait, "cached")
    renderers = {}
    for label, px, step in VARIANTS[size]:
        renderers[label] = PortraitRenderer(portrait, px, calibration=table, map_step=step)
        renderers[label].wait_for_plate()
    fine, coarse, _ = (label for label, _, _ in VARIANTS[size])
    ref = renderers[fine].reference
    track = mixed_track(ref, frames, seed=0)
    out: dict[str, Any] = {label: measure_variant(r, analyzer, track)
                           for label, r in renderers.items()}
    out["noise"] = measure_variant(renderers[fine], analyzer, mixed_track(ref, frames, seed=1))
    turns = np.stack([with_values(ref, {axis: offset}) for axis in POSE_AXES
                      for offset in np.linspace(-25.0, 25.0, 11)])
    out[f"frames_{size}"] = compare_frames(renderers[fine], renderers[coarse],
                                           np.concatenate([track, turns]))
    return out


def summary(per: dict[str, dict[str, Any]], size: int) -> dict[str, Any]:
    """Across portraits, per variant: the worst read-back r, pose error and drift."""
    rows: dict[str, Any] = {}
    for label in [v[0] for v in VARIANTS[size]] + ["noise"]:
        results = [p[label] for p in per.values()]
        rows[label] = {
            "readback_r_min": min(r["readback_r_min"] for r in results),
            "readback_r_mean": round(float(np.mean([v["r"] for r in results
                                                    for v in r["readback"].values()])), 3),
            "pose_err_deg_max": max(r["pose_err_deg_max"] for r in results
                                    if r["pose_err_deg_max"] is not None),
            "background_drift_max": max(r["background_drift_max"] for r in results),
            "face_found_rate_min": min(r["face_found_rate"] for r in results)}
    frames = [p[f"frames_{size}"] for p in per.values()]
    cpu_keys = [key for key in frames[0] if key.startswith("render_cpu_ms_step")]
    rows[f"frames_{size}"] = {
        "psnr_db_worst_frame": min(f["psnr_db_worst_frame"] for f in frames
                                   if f["psnr_db_worst_frame"] is not None),
        "psnr_db_mean": round(float(np.mean([f["psnr_db_mean"] for f in frames
                                             if f["psnr_db_mean"] is not None])), 2),
        **{key: round(float(np.mean([f[key] for f in frames])), 3) for key in cpu_keys}}
    return rows


def plot(per: dict[str, dict[str, Any]], out: Path, size: int) -> None:
    """Per portrait: read-back r (mean over the key shapes), the worst pose error and
    the worst background drift, for each variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    names = list(per)
    x = np.arange(len(names))
    labels = [label for label, _, _ in VARIANTS[size]]
    for offset, label in zip((-0.25, 0.0, 0.25), labels, strict=True):
        axes[0].bar(x + offset, [np.mean([v["r"] for v in per[n][label]["readback"].values()])
                                 for n in names], 0.25, label=label)
        axes[1].bar(x + offset, [per[n][label]["pose_err_deg_max"] or 0 for n in names], 0.25,
                    label=label)
        axes[2].bar(x + offset, [per[n][label]["background_drift_max"] for n in names], 0.25,
                    label=label)
    for ax, title in zip(axes, ("read-back r, mean of the key shapes", "pose error, worst (deg)",
                                "background drift, worst (% px)"), strict=True):
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        ax.set_title(title)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{size} px inverse map: {labels[0]} against {labels[1]} ({labels[2]} for scale)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, choices=sorted(VARIANTS), default=256,
                        help="the size whose two map grids are compared")
    parser.add_argument("--tag", default="run")
    parser.add_argument("--frames", type=int, default=200, help="mixed-track length")
    parser.add_argument("--only", nargs="*", default=[], help="portrait names (default: all)")
    parser.add_argument("--portrait-cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    if args.frames < 10:
        parser.error("--frames must be at least 10")
    cv2.setNumThreads(1)
    load_start = load_average()
    paths = fetch_portraits(args.portrait_cache)
    if args.only:
        unknown = sorted(set(args.only) - set(paths))
        if unknown:
            parser.error(f"unknown portraits {unknown}; known: {sorted(paths)}")
        paths = {k: v for k, v in paths.items() if k in args.only}
    per: dict[str, dict[str, Any]] = {}
    with FaceAnalyzer(mode="image") as analyzer:
        for name, path in tqdm(paths.items(), desc="portraits", unit="portrait"):
            per[name] = one_portrait(path, analyzer, args.frames, args.size)
    report = {"bench": "map_step", "tag": args.tag, "size": args.size, "frames": args.frames,
              "key_blendshapes": list(KEY_BLENDSHAPES), "load_average_start": load_start,
              "load_average_end": load_average(), "summary": summary(per, args.size),
              "portraits": per}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"map_step_{args.tag}.json"
    plot(per, out.with_suffix(".png"), args.size)
    report["plot"] = str(out.with_suffix(".png").relative_to(ROOT))
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "portraits"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
