"""Benchmark and round-trip fidelity of the portrait renderer.

Prints progress, then ONE JSON object as the last stdout line:
render_fps_512 / render_fps_256 (one thread, median wall time over a mixed
track, with p95 ms; plus CPU-time medians, which the shared machine disturbs less), analyze_ms_p50 (landmarker, image mode, 512 px), the per-blendshape
round-trip table on a mixed track (r, slope; also on the independent "stress"
track under blendshapes_independent), single-actuator sweeps (range,
monotone), pose errors over +-15 degrees, roundtrip_r_min and pose_err_deg_max.

    python bench/render.py [--frames 200] [--seed 0] [--plot docs/roundtrip_mixed.png]
    python bench/render.py --calibrate   # refit avatar/data/render_calibration.json first
    python bench/render.py --quality     # real portraits: background drift, pose, speed
    python bench/render.py --quality --tag before   # ... written as render_quality_before*
    python bench/render.py --portraits --tag before  # mixed-track r on all six portraits
    python bench/render.py --quality --mirror-fill both  # fill off vs on, one run

`--quality` measures the renderer on every portrait of bench/portraits.py
(Grace Hopper plus public-domain / permissively licensed photos from pinned
PyPI packages) and writes bench/results/render_quality_<tag>.json (tag "after"
by default; render_quality.json without a tag is the issue-10 "before",
measured on 3cbedea), a contact sheet (render_quality_<tag>_sheet.png), a wider
pose and expression grid (render_quality_<tag>_more.png) and the background mask
it used (render_quality_<tag>_mask.png); see `quality_main` for what is measured.
`--mirror-fill off|on` measures the renderer with PortraitRenderer's mirror_fill
set so (default: whatever the product ships); `--mirror-fill both` measures
both in one run, each portrait with the fill off and then on, timed frame by
frame in alternation so both see the same machine load, and writes
render_quality_mirror_fill.json with both summaries and their differences.

The machine is shared: speeds are medians and vary with contention.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
if {"--quality", "--portraits"} & set(sys.argv):  # one thread everywhere, numpy's BLAS too
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np

from avatar.face_analysis import FaceAnalyzer
from avatar.motion import column_index
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.calibration import Calibration, load_calibration
from avatar.render.mesh import FACE_OVAL
from avatar.render.portrait_calibration import calibration_for
from avatar.render.roundtrip import (
    KEY_BLENDSHAPES,
    PAIRED,
    POSE_AXES,
    SweepResult,
    measure,
    mixed_table,
    mixed_track,
    pose_errors,
    sweep_track,
)

SWEEP_VALUES = np.linspace(0.0, 1.0, 6)
POSE_VALUES = np.array([-15.0, -10.0, -5.0, 0.0, 5.0, 10.0, 15.0])


def render_times(renderer: PortraitRenderer,
                 track: np.ndarray) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of renderer.render for every row (after 3 warm-ups)."""
    for row in track[:3]:
        renderer.render(row)
    wall, cpu = [], []
    for row in track:
        t0, c0 = time.perf_counter(), time.process_time()
        renderer.render(row)
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return wall, cpu


def time_render(renderer: PortraitRenderer, track: np.ndarray) -> tuple[float, float, float]:
    """(median wall ms, p95 wall ms, median CPU ms) of renderer.render over the track.

    CPU time (this process, one thread) is reported too: on the shared machine
    the wall time includes waiting for a core, the CPU time is what a frame costs.
    """
    wall, cpu = render_times(renderer, track)
    return float(np.median(wall)), float(np.percentile(wall, 95)), float(np.median(cpu))


def measure_timed(renderer: PortraitRenderer, track: np.ndarray, analyzer: FaceAnalyzer,
                  analyze_ms: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Render and measure every row, recording the landmarker's time per frame."""
    out = np.zeros((len(track), track.shape[1]), np.float32)
    found = np.zeros(len(track), bool)
    for i, row in enumerate(track):
        frame = renderer.render(row)
        t0 = time.perf_counter()
        m = analyzer.analyze(frame)
        analyze_ms.append((time.perf_counter() - t0) * 1e3)
        if m is not None:
            out[i], found[i] = m.motion, True
    return out, found


def plot_mixed(path: Path, commanded: np.ndarray, measured: np.ndarray, found: np.ndarray,
               table: dict) -> None:
    """Commanded vs measured time series of each key blendshape (for docs/)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(KEY_BLENDSHAPES), 1, figsize=(10, 13), sharex=True)
    t = np.arange(len(commanded))
    for ax, name in zip(axes, KEY_BLENDSHAPES, strict=True):
        col = column_index(name)
        ax.plot(t, commanded[:, col], label="commanded", color="tab:blue")
        ax.plot(t[found], measured[found, col], label="re-measured", color="tab:orange")
        ax.set_ylabel(name, fontsize=8)
        ax.set_ylim(-0.05, 1.05)
        ax.text(0.995, 0.85, f"r = {table[name]['r']:.2f}", transform=ax.transAxes,
                ha="right", fontsize=9)
    axes[0].legend(loc="upper left", fontsize=8)
    axes[-1].set_xlabel("frame (mixed track, 25 fps)")
    fig.suptitle("Renderer round trip: commanded blendshapes vs mediapipe re-measurement")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


EXPRESSION_SHEET: list[tuple[str, dict[str, float]]] = [
    ("portrait (reference)", {}), ("jawOpen 0.3", {"jawOpen": 0.3}),
    ("jawOpen 0.6", {"jawOpen": 0.6}), ("smile 0.7", {"mouthSmileLeft": 0.7,
                                                      "mouthSmileRight": 0.7}),
    ("smile 0.7 + jaw 0.4", {"mouthSmileLeft": 0.7, "mouthSmileRight": 0.7, "jawOpen": 0.4}),
    ("blink 1.0", {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
    ("left blink (wink) 1.0", {"eyeBlinkLeft": 1.0}),
    ("browInnerUp 0.8", {"browInnerUp": 0.8}), ("mouthPucker 0.7", {"mouthPucker": 0.7}),
    ("mouthFunnel 0.5", {"mouthFunnel": 0.5}),
    ("frown + browDown", {"mouthFrownLeft": 0.6, "mouthFrownRight": 0.6,
                          "browDownLeft": 0.6, "browDownRight": 0.6}),
    ("eyeWide + jaw 0.5", {"eyeWideLeft": 0.8, "eyeWideRight": 0.8, "jawOpen": 0.5}),
]
POSE_SHEET: list[tuple[str, dict[str, float]]] = [
    ("yaw -15", {"yaw": -15}), ("reference", {}), ("yaw +15", {"yaw": 15}),
    ("yaw +25", {"yaw": 25}), ("pitch -15 (chin up)", {"pitch": -15}),
    ("pitch +15 (chin down)", {"pitch": 15}), ("roll -15", {"roll": -15}),
    ("roll +15", {"roll": 15}),
    ("yaw +12 pitch +8 + smile", {"yaw": 12, "pitch": 8, "mouthSmileLeft": 0.6,
                                   "mouthSmileRight": 0.6}),
    ("yaw -12 roll +8 + jaw 0.5", {"yaw": -12, "roll": 8, "jawOpen": 0.5}),
    ("pitch -10 + blink", {"pitch": -10, "eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
    ("yaw +15 + pucker 0.7", {"yaw": 15, "mouthPucker": 0.7}),
]


def with_values(reference: np.ndarray, values: dict[str, float]) -> np.ndarray:
    """The reference motion with pose offsets added and blendshapes set to `values`."""
    motion = np.asarray(reference, np.float32).copy()
    for name, value in values.items():
        col = column_index(name)
        motion[col] = motion[col] + value if name in POSE_AXES else value
    return motion


def write_sheet(renderer: PortraitRenderer, items: list[tuple[str, dict[str, float]]],
                path: Path, columns: int = 4, tile: int = 256) -> None:
    """A labelled grid of rendered frames (PNG) for the docs and the README."""
    tiles = []
    for label, values in items:
        motion = with_values(renderer.reference, values)
        frame = cv2.resize(renderer.render(motion), (tile, tile), interpolation=cv2.INTER_AREA)
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        cv2.rectangle(frame, (0, 0), (tile, 20), (0, 0, 0), -1)
        cv2.putText(frame, label, (5, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                    cv2.LINE_AA)
        tiles.append(frame)
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    cv2.imwrite(str(path), np.vstack(rows))


# ----------------------------------------------------------------------------
# --quality: the renderer on real portraits (bench/portraits.py)

ROOT = Path(__file__).resolve().parents[1]
DRIFT_POSES: list[tuple[str, dict[str, float]]] = [
    ("yaw +15", {"yaw": 15}), ("yaw -15", {"yaw": -15}),
    ("roll +10", {"roll": 10}), ("roll -10", {"roll": -10}),
]
# Expressions as increments over the portrait's own reference (capped at 1): a
# portrait that already smiles would show an absolute "smile 0.7" as less smile.
QUALITY_EXPRESSIONS: list[tuple[str, dict[str, float]]] = [
    ("smile +0.7", {"mouthSmileLeft": 0.7, "mouthSmileRight": 0.7}),
    ("jawOpen +0.6", {"jawOpen": 0.6}),
]
QUALITY_SHEET = [("reference", {}), *DRIFT_POSES, *QUALITY_EXPRESSIONS]
# A wider grid for looking at (docs/): larger turns, nods, the eyes, a pucker.
QUALITY_MORE: list[tuple[str, dict[str, float]]] = [
    ("yaw -20", {"yaw": -20}), ("yaw +20", {"yaw": 20}),
    ("pitch -15 (chin up)", {"pitch": -15}), ("pitch +15 (chin down)", {"pitch": 15}),
    ("yaw +12 pitch +8", {"yaw": 12, "pitch": 8}), ("yaw -12 roll +8", {"yaw": -12, "roll": 8}),
    ("blink", {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
    ("look left 0.6", {"eyeLookOutRight": 0.6, "eyeLookInLeft": 0.6}),
    ("pucker 0.7", {"mouthPucker": 0.7}),
    ("yaw +15 + smile", {"yaw": 15, "mouthSmileLeft": 0.7, "mouthSmileRight": 0.7}),
]
POSE_OFFSETS = (-20.0, -10.0, 10.0, 20.0)
DRIFT_LEVELS = 12  # a background pixel "changed" when max |dRGB| > this (0-255 scale)
HEAD_SCALE = 1.5  # face-oval hull scaled about its centre
HEAD_DILATE = 0.1  # dilation radius, in face-oval heights
HEAD_REGION_DEFINITION = (
    "head region (everything else is background, shoulders and neck below it included): "
    "the face-oval landmarks (mediapipe FACE_OVAL, 36 points) of the reference render's own "
    f"measurement, scaled {HEAD_SCALE}x about their mean; their convex hull, plus every "
    "pixel above the hull in the columns the hull covers (hair, hat), dilated by a disc of "
    f"radius {HEAD_DILATE} x the face-oval height. background_drift = % of background pixels "
    f"whose colour changed by more than {DRIFT_LEVELS} levels (max |difference| over R, G, B, "
    "0-255) between the rendered reference frame and the frame at the pose offset, "
    "512 px renders"
)


def head_region(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(size, size) bool: the head and hair of a face, as HEAD_REGION_DEFINITION says.

    From the face-oval landmarks (pixels) of one frame: their convex hull scaled
    HEAD_SCALE x about the oval's mean, everything above the hull within the
    columns it covers (hair reaches the top of the frame, or a hat does), then a
    dilation by HEAD_DILATE face-oval heights. Pixels outside are background:
    they should not move when the head turns or tilts.
    """
    oval = np.asarray(landmarks, np.float64)[list(FACE_OVAL), :2]
    centre = oval.mean(axis=0)
    scaled = centre + HEAD_SCALE * (oval - centre)
    hull = cv2.convexHull(np.round(scaled).astype(np.int32))
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    # a pixel is head if the hull covers it or any pixel below it in its column
    mask = np.maximum.accumulate(mask[::-1], axis=0)[::-1]
    radius = max(1, int(round(HEAD_DILATE * float(np.ptp(oval[:, 1])))))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(np.ascontiguousarray(mask), disc).astype(bool)


def changed_pixels(frame: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(H, W) bool: max |difference| over R, G, B above DRIFT_LEVELS."""
    diff = np.abs(frame.astype(np.int16) - reference.astype(np.int16)).max(axis=2)
    return diff > DRIFT_LEVELS


def labelled_tile(frame: np.ndarray, label: str, tile: int) -> np.ndarray:
    """BGR tile with a label bar, from an RGB frame."""
    out = cv2.cvtColor(cv2.resize(frame, (tile, tile), interpolation=cv2.INTER_AREA),
                       cv2.COLOR_RGB2BGR)
    cv2.rectangle(out, (0, 0), (tile, 18), (0, 0, 0), -1)
    cv2.putText(out, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


def mask_overlay(reference: np.ndarray, turned: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Two RGB frames stacked: the background tinted blue and the head outlined green on
    the reference; below, the yaw +15 frame with its changed background pixels red."""
    top = reference.astype(np.float32)
    top[~head] = 0.55 * top[~head] + 0.45 * np.array([40.0, 90.0, 255.0])
    top = top.astype(np.uint8)
    contours, _ = cv2.findContours(head.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(top, contours, -1, (0, 255, 0), 2)
    bottom = turned.copy()
    bottom[changed_pixels(turned, reference) & ~head] = (255, 0, 0)
    cv2.drawContours(bottom, contours, -1, (0, 255, 0), 2)
    return np.vstack([top, bottom])


def code_identity() -> dict[str, object]:
    """Which renderer was measured: git HEAD, uncommitted avatar/ changes, file hashes."""
    import hashlib
    import subprocess

    def git(*argv: str) -> str | None:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True,
                                  text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    files = sorted((ROOT / "avatar" / "render").glob("*.py")) + [
        ROOT / "avatar" / "data" / "render_calibration.json"]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    status = git("status", "--porcelain", "--", "avatar")
    import avatar

    return {"git_head": git("rev-parse", "HEAD"),
            "avatar_imported_from": str(Path(avatar.__file__).resolve().parent),
            "avatar_uncommitted": status.splitlines() if status else [],
            "renderer_files_sha256": digest.hexdigest(),
            "renderer_files": [str(p.relative_to(ROOT)) for p in files]}


def layer_costs(portrait: Portrait, renderer: PortraitRenderer,
                track: np.ndarray) -> dict[str, float] | None:
    """What the layers cost: setup seconds and per-frame ms against the one-sheet warp.

    Setup: until the renderer can draw (matte and quick plate) and until the
    shift-map plate is in (made on a background thread; finished plates
    forgotten first so it is really made).

    Renders the same track with a renderer built without layers (same code
    otherwise) and times `compose` alone; None for a renderer without layers
    (the before code).
    """
    layers = getattr(renderer, "layers", None)
    if layers is None:
        return None
    from avatar.render.layers import PLATES, compose

    PLATES.clear()
    t0 = time.perf_counter()
    fresh = PortraitRenderer(portrait, 512, calibration=calibration_for(portrait))
    setup_layered = time.perf_counter() - t0
    fresh.wait_for_plate()
    plate_ready = time.perf_counter() - t0
    t0 = time.perf_counter()
    flat = PortraitRenderer(portrait, 512, layered=False, calibration=calibration_for(portrait))
    setup_flat = time.perf_counter() - t0
    flat_wall, flat_cpu = render_times(flat, track)
    wall, cpu = render_times(renderer, track)
    compose_ms = []
    for _ in range(50):
        c0 = time.process_time()
        compose(layers.source, layers.plate)
        compose_ms.append((time.process_time() - c0) * 1e3)
    return {"setup_s_layered": round(setup_layered, 3),
            "plate_ready_s_layered": round(plate_ready, 3), "setup_s_flat": round(setup_flat, 3),
            "render_cpu_ms_layered": round(float(np.median(cpu)), 2),
            "render_cpu_ms_flat": round(float(np.median(flat_cpu)), 2),
            "render_ms_layered": round(float(np.median(wall)), 2),
            "render_ms_flat": round(float(np.median(flat_wall)), 2),
            "compose_cpu_ms": round(float(np.median(compose_ms)), 3)}


def mirror_fill_default() -> bool:
    """Whether the product renders with the mirrored fill (PortraitRenderer's default)."""
    import inspect

    return bool(inspect.signature(PortraitRenderer).parameters["mirror_fill"].default)


def paired_times(renderers: list[PortraitRenderer],
                 track: np.ndarray) -> list[tuple[list[float], list[float]]]:
    """Wall and CPU ms per renderer, rendering each row with every renderer in turn.

    Alternating frame by frame puts the renderers under the same load from the
    other jobs on the shared machine, so their difference is fair even when
    the load is not steady.
    """
    for row in track[:3]:
        for renderer in renderers:
            renderer.render(row)
    out: list[tuple[list[float], list[float]]] = [([], []) for _ in renderers]
    for row in track:
        for renderer, (wall, cpu) in zip(renderers, out, strict=True):
            t0, c0 = time.perf_counter(), time.process_time()
            renderer.render(row)
            wall.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
    return out


def quality_table(portrait: Portrait, tables: str) -> tuple[Calibration, str]:
    """The calibration table --quality renders `portrait` with, and what it is.

    `shipped`: the shipped table on every portrait. `cached`: what
    `calibration_for` picks (the portrait's own table if the cache dir holds one,
    else the shipped one). `own`: what a `serve` session shows once the portrait's own table
    has landed (fitted here first when the cache dir has none: ~70 s of one core).
    The default portrait always gets the shipped table, which is its own fit.
    """
    from avatar.render.portrait_calibration import (
        cached_path,
        fit_portrait_calibration,
        is_default_portrait,
    )

    if tables == "shipped" or is_default_portrait(portrait):
        return load_calibration(), "shipped"
    path = cached_path(portrait)
    if tables == "own" and not path.is_file():
        print("quality: fitting the portrait's own table (avatar-forcing calibrate) ...",
              file=sys.stderr, flush=True)
        fit_portrait_calibration(portrait)
    if path.is_file():
        return load_calibration(path), f"own ({path.name})"
    return load_calibration(), "shipped (no own table in the cache dir)"


def quality_one(name: str, path: Path, analyzer: FaceAnalyzer, timing_frames: int,
                tile: int, mirror_fill: bool | None = None, with_costs: bool = True,
                tables: str = "cached",
                ) -> tuple[dict, list[np.ndarray], list[np.ndarray], np.ndarray,
                           list[float], list[float], PortraitRenderer]:
    """Everything --quality measures on one portrait.

    `tables`: which calibration table (quality_table).
    `mirror_fill`: PortraitRenderer's switch (None: its default). `with_costs`:
    also time the renderer and measure layer_costs (a second and third
    renderer); off when comparing the fill, which does not change the layers
    and is timed by the caller (paired_times).
    Returns (result dict, contact-sheet tiles, wider-grid tiles, mask overlay,
    wall ms, CPU ms, the renderer).
    """
    portrait = Portrait.load(path, 512)
    fill = mirror_fill_default() if mirror_fill is None else mirror_fill
    table, table_label = quality_table(portrait, tables)
    renderer = PortraitRenderer(portrait, 512, mirror_fill=fill, calibration=table)
    if hasattr(renderer, "wait_for_plate"):  # the layered renderer: measure its final plate
        renderer.wait_for_plate()
    ref = renderer.reference
    found: list[bool] = []

    def render_measure(values: dict[str, float]):
        frame = renderer.render(with_values(ref, values))
        measured = analyzer.analyze(frame)
        found.append(measured is not None)
        return frame, measured

    ref_frame, base = render_measure({})
    landmarks = base.landmarks if base is not None else portrait.landmarks
    head = head_region(landmarks, 512)
    background = ~head
    drift, frames = {}, {"reference": ref_frame}
    for label, values in DRIFT_POSES:
        frame, _ = render_measure(values)
        frames[label] = frame
        drift[label] = round(float(changed_pixels(frame, ref_frame)[background].mean() * 100), 2)
    readback = {}
    for label, increments in QUALITY_EXPRESSIONS:
        values = {k: min(1.0, float(ref[column_index(k)]) + v) for k, v in increments.items()}
        frame, measured = render_measure(values)
        frames[label] = frame
        if measured is not None and base is not None:
            readback[label] = {k: {"reference": round(float(ref[column_index(k)]), 3),
                                   "commanded_change": round(v - float(ref[column_index(k)]), 3),
                                   "measured_change": round(float(
                                       measured.motion[column_index(k)]
                                       - base.motion[column_index(k)]), 3)}
                               for k, v in values.items()}
    pose: dict[str, dict] = {}
    for axis in POSE_AXES:
        rows = []
        for offset in POSE_OFFSETS:
            _, measured = render_measure({axis: offset})
            row: dict[str, Any] = {"commanded": offset, "measured": None, "error": None}
            if measured is not None and base is not None:
                change = {a: float(measured.motion[column_index(a)]
                                   - base.motion[column_index(a)]) for a in POSE_AXES}
                row.update(measured=round(change[axis], 2),
                           error=round(abs(change[axis] - offset), 2),
                           ratio=round(change[axis] / offset, 3),
                           other_axes={a: round(v, 2) for a, v in change.items() if a != axis})
            rows.append(row)
        errors = [r["error"] for r in rows if r["error"] is not None]
        pose[axis] = {"err_deg_max": max(errors) if errors else None, "offsets": rows}
    yaw_ratios = [r["ratio"] for r in pose["yaw"]["offsets"] if r.get("ratio") is not None]
    track = mixed_track(ref, timing_frames, seed=0)
    # timed here unless the caller times renderers side by side (paired_times)
    wall, cpu = render_times(renderer, track) if with_costs else ([float("nan")], [float("nan")])
    sheet = [labelled_tile(frames[label], f"{name}: {label}" if label == "reference" else label,
                           tile) for label, _ in QUALITY_SHEET]
    more = [sheet[0]] + [labelled_tile(renderer.render(with_values(ref, values)), label, tile)
                         for label, values in QUALITY_MORE]
    costs = layer_costs(portrait, renderer, track) if with_costs else None
    errors = [p["err_deg_max"] for p in pose.values() if p["err_deg_max"] is not None]
    photo_mad = float(np.abs(ref_frame.astype(np.int16) - renderer.image.astype(np.int16)).mean())
    result = {
        "source": str(path.name),
        "calibration": table_label,
        "pose_gain": np.round(table.pose_gain, 3).tolist(),
        "mirror_fill": fill,
        "mirror_triangles_weight_over_half": mirror_counts(renderer, ref),
        "reference_pose_deg": {a: round(float(ref[column_index(a)]), 1) for a in POSE_AXES},
        "reference_found": base is not None,
        "reference_vs_photo_mad": round(photo_mad, 2),
        "background_share_pct": round(float(background.mean() * 100), 1),
        "background_drift": drift,
        "background_drift_max": max(drift.values()),
        "pose_err_deg_max": max(errors) if errors else None,
        "pose_err_deg": {a: p["err_deg_max"] for a, p in pose.items()},
        "yaw_ratio_measured_over_commanded": yaw_ratios,
        "yaw_warp_gain": [round(renderer.calibration.pose_change(0, o) / o, 3)
                          for o in POSE_OFFSETS],
        "pose": pose,
        "expression_readback": readback,
        "frames": len(found), "face_found": int(sum(found)),
        "face_found_rate": round(sum(found) / len(found), 3),
        "render_ms_512_p50": round(float(np.median(wall)), 2),
        "render_cpu_ms_512_p50": round(float(np.median(cpu)), 2),
        "layer_costs": costs,
    }
    overlay = mask_overlay(ref_frame, frames["yaw +15"], head)
    return result, sheet, more, overlay, wall, cpu, renderer


def mirror_counts(renderer: PortraitRenderer, ref: np.ndarray) -> dict[str, int] | None:
    """Triangles the mirrored fill takes (weight > 0.5) at yaw -20/-15/+15/+20 (None: off)."""
    fill = getattr(renderer, "_mirror", None)
    if fill is None:
        return None
    counts = {}
    for yaw in (-20, -15, 15, 20):
        xy, _ = renderer.vertices(with_values(ref, {"yaw": yaw}))
        counts[f"yaw {yaw:+d}"] = int((fill.triangle_weights(xy) > 0.5).sum())
    return counts


BEFORE_AFTER_KEYS = ("background_drift_worst", "background_drift_max_per_portrait",
                     "pose_err_deg_max", "pose_err_deg_max_per_portrait",
                     "yaw_ratio_measured_over_commanded", "face_found_rate",
                     "render_ms_512_p50", "render_cpu_ms_512_p50")


def layer_cost_summary(per: dict[str, dict]) -> dict[str, float] | None:
    """Median over portraits of each layer_costs figure (None for the before code)."""
    costs = [r["layer_costs"] for r in per.values() if r.get("layer_costs")]
    if not costs:
        return None
    return {k: round(float(np.median([c[k] for c in costs])), 3) for k in costs[0]}


def quality_summary(per: dict[str, dict], wall_all: list[float], cpu_all: list[float],
                    timing_frames: int, load_start: tuple[float, ...],
                    outputs: dict[str, Any]) -> dict[str, Any]:
    """The --quality summary over portraits (per: quality_one results by name)."""
    worst_name, worst_pose, worst = "", "", -1.0
    for name, result in per.items():
        for pose_label, value in result["background_drift"].items():
            if value > worst:
                worst_name, worst_pose, worst = name, pose_label, value
    pose_errs = [r["pose_err_deg_max"] for r in per.values() if r["pose_err_deg_max"] is not None]
    yaw_ratios = [v for r in per.values() for v in r["yaw_ratio_measured_over_commanded"]]
    frames = sum(r["frames"] for r in per.values())
    return {
        "mode": "quality",
        "mirror_fill": sorted({r["mirror_fill"] for r in per.values()}),
        "portraits": list(per),
        "background_drift_worst": {"pct": worst, "portrait": worst_name, "pose": worst_pose},
        "background_drift_max_per_portrait": {n: r["background_drift_max"]
                                              for n, r in per.items()},
        "pose_err_deg_max": max(pose_errs) if pose_errs else None,
        "pose_err_deg_max_per_portrait": {n: r["pose_err_deg_max"] for n, r in per.items()},
        "yaw_ratio_measured_over_commanded": {
            "median": round(float(np.median(yaw_ratios)), 3) if yaw_ratios else None,
            "min": min(yaw_ratios, default=None), "max": max(yaw_ratios, default=None)},
        "face_found_rate": round(sum(r["face_found"] for r in per.values()) / frames, 3),
        "frames_rendered_measured": frames,
        "render_ms_512_p50": round(float(np.median(wall_all)), 2),
        "render_ms_512_p95": round(float(np.percentile(wall_all, 95)), 2),
        "render_cpu_ms_512_p50": round(float(np.median(cpu_all)), 2),
        "render_timing": f"one thread, {timing_frames} frames of mixed_track(seed 0) per "
                         "portrait after 3 warm-ups, medians over all portraits",
        "layer_costs_median": layer_cost_summary(per),
        "load_average_start": [round(v, 2) for v in load_start],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "definitions": {
            "background_drift": HEAD_REGION_DEFINITION,
            "pose": "commanded offsets (deg) added to the portrait's reference pose, one axis "
                    f"at a time: {list(POSE_OFFSETS)}; measured = FaceAnalyzer (image mode) "
                    "reading of the render minus its reading of the rendered reference; "
                    "error = |measured - commanded|; ratio = measured / commanded; "
                    "yaw_warp_gain = rotation the renderer applies / commanded "
                    "(avatar/render/calibration.py pose gains)",
            "expressions": "smile and jawOpen columns: the portrait's reference value plus "
                           "the increment in the label, capped at 1; expression_readback "
                           "gives the commanded and the re-measured change",
            "face_found_rate": "renders in which FaceAnalyzer finds a face, over every "
                               "render measured (reference, 4 drift poses, 2 expressions, "
                               "12 pose offsets per portrait)",
            "layer_costs": "per portrait: setup seconds of a renderer with layers until it "
                           "draws (matte, quick Telea plate, foreground) and until its "
                           "shift-map plate (background thread) is in, and without layers; "
                           "render ms (wall and CPU, one "
                           "thread) of the same mixed track with and without layers; CPU ms "
                           "of compose() alone; layer_costs_median = median over portraits",
            "mirror_triangles_weight_over_half": "per portrait with the fill on: triangles "
                                                 "the mirrored fill takes with weight > 0.5 "
                                                 "at yaw -20/-15/+15/+20",
        },
        "code": code_identity(),
        "outputs": outputs,
        "per_portrait": per,
    }


def write_quality_sheets(results_dir: Path, stem: str, rows: list[np.ndarray],
                         more_rows: list[np.ndarray],
                         overlays: list[np.ndarray]) -> dict[str, Any]:
    """Write the contact sheet, the wider grid and the mask overlay; their names."""
    sheet_path = results_dir / f"{stem}_sheet.png"
    cv2.imwrite(str(sheet_path), np.vstack(rows))
    more_path = results_dir / f"{stem}_more.png"
    cv2.imwrite(str(more_path), np.vstack(more_rows))
    mask_path = results_dir / f"{stem}_mask.png"
    cv2.imwrite(str(mask_path), cv2.cvtColor(np.hstack(overlays), cv2.COLOR_RGB2BGR))
    return {"contact_sheet": sheet_path.name, "mask_overlay": mask_path.name,
            "sheet_columns": [label for label, _ in QUALITY_SHEET],
            "more_sheet": more_path.name,
            "more_columns": ["reference"] + [label for label, _ in QUALITY_MORE],
            "mask_overlay_shows": "per portrait, top: the reference render with the "
            "background tinted blue and the head region outlined green; bottom: the "
            "yaw +15 render with the background pixels counted as changed in red"}


def quality_main(args: argparse.Namespace) -> int:
    """Measure today's renderer on every portrait of bench/portraits.py.

    Per portrait (512 px renders, poses added to the portrait's own reference):
    background drift at yaw +-15 and roll +-10 (HEAD_REGION_DEFINITION), pose
    error of commanded yaw / pitch / roll offsets of -20, -10, +10, +20 degrees
    against what FaceAnalyzer re-measures (relative to the rendered reference
    frame's measurement) with the measured/commanded yaw ratio, the face-found
    rate over every rendered frame, and the render time on one thread
    (cv2.setNumThreads(1), BLAS threads 1; no torch at render time). Writes the
    JSON, a contact sheet (rows: portraits; columns: QUALITY_SHEET) and the
    mask overlay into `args.results`.

    `--mirror-fill both`: every portrait is measured with the fill off and on
    (layer costs skipped), and the two renderers are timed on the same track
    frame by frame in alternation (paired_times); one JSON holds both
    summaries and on - off differences.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from portraits import PORTRAIT_SOURCES, fetch_portraits

    load_start = os.getloadavg()
    paths = fetch_portraits(args.portrait_cache)
    results_dir = args.results
    results_dir.mkdir(parents=True, exist_ok=True)
    fills = {"off": [False], "on": [True], "both": [False, True],
             "default": [mirror_fill_default()]}[args.mirror_fill]
    compare = len(fills) > 1
    per: dict[bool, dict[str, dict]] = {f: {} for f in fills}
    rows: dict[bool, list] = {f: [] for f in fills}
    more_rows: dict[bool, list] = {f: [] for f in fills}
    overlays: dict[bool, list] = {f: [] for f in fills}
    wall_all: dict[bool, list[float]] = {f: [] for f in fills}
    cpu_all: dict[bool, list[float]] = {f: [] for f in fills}
    with FaceAnalyzer(mode="image") as analyzer:
        for name, path in paths.items():
            source = PORTRAIT_SOURCES[name]
            renderers = []
            for fill in fills:
                print(f"quality: {name} (mirror_fill={fill}) ...", file=sys.stderr, flush=True)
                result, sheet, more, overlay, wall, cpu, renderer = quality_one(
                    name, path, analyzer, args.timing_frames, args.tile, mirror_fill=fill,
                    with_costs=not compare, tables=args.tables)
                result["provenance"] = {"package": source.package, "version": source.version,
                                        "dist": source.dist, "member": source.member,
                                        "licence": source.licence}
                per[fill][name] = result
                rows[fill].append(np.hstack(sheet))
                more_rows[fill].append(np.hstack(more))
                overlays[fill].append(cv2.resize(overlay, (256, 512),
                                                 interpolation=cv2.INTER_AREA))
                renderers.append(renderer)
                if not compare:
                    wall_all[fill] += wall
                    cpu_all[fill] += cpu
            if compare:  # time both on the same track, frame by frame in alternation
                track = mixed_track(renderers[0].reference, args.timing_frames, seed=0)
                for fill, (wall, cpu) in zip(fills, paired_times(renderers, track),
                                             strict=True):
                    per[fill][name]["render_ms_512_p50"] = round(float(np.median(wall)), 2)
                    per[fill][name]["render_cpu_ms_512_p50"] = round(float(np.median(cpu)), 2)
                    wall_all[fill] += wall
                    cpu_all[fill] += cpu
    stem = f"render_quality_{args.tag}" if args.tag else "render_quality"
    if compare:
        stem = "render_quality_mirror_fill"
    summaries = {}
    for fill in fills:
        fill_stem = f"{stem}_{'on' if fill else 'off'}" if compare else stem
        outputs = write_quality_sheets(results_dir, fill_stem, rows[fill], more_rows[fill],
                                       overlays[fill])
        summaries[fill] = quality_summary(per[fill], wall_all[fill], cpu_all[fill],
                                          args.timing_frames, load_start, outputs)
    if compare:
        off, on = summaries[False], summaries[True]
        summary: dict[str, Any] = {
            "mode": "quality_mirror_fill",
            "timing": "each portrait's fill-off and fill-on renderers rendered the same "
                      f"{args.timing_frames}-frame mixed track alternately, frame by frame",
            "on_minus_off": mirror_fill_deltas(off, on),
            "load_average_start": [round(v, 2) for v in load_start],
            "load_average_end": [round(v, 2) for v in os.getloadavg()],
            "off": off, "on": on,
        }
    else:
        summary = summaries[fills[0]]
        before_path = results_dir / "render_quality.json"
        if args.tag and before_path.is_file():
            before = json.loads(before_path.read_text())
            summary["before"] = {"file": before_path.name,
                                 "git_head": before.get("code", {}).get("git_head"),
                                 **{k: before.get(k) for k in BEFORE_AFTER_KEYS}}
    json_path = results_dir / f"{stem}.json"
    json_path.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


def mirror_fill_deltas(off: dict[str, Any], on: dict[str, Any]) -> dict[str, Any]:
    """On - off of the headline figures, overall and per portrait."""
    def diff(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(b - a, 2)

    per = {}
    for name, r_on in on["per_portrait"].items():
        r_off = off["per_portrait"][name]
        per[name] = {
            "pose_err_deg": {a: diff(r_off["pose_err_deg"][a], r_on["pose_err_deg"][a])
                             for a in r_on["pose_err_deg"]},
            "background_drift_max": diff(r_off["background_drift_max"],
                                         r_on["background_drift_max"]),
            "face_found": r_on["face_found"] - r_off["face_found"],
            "render_ms_512_p50": diff(r_off["render_ms_512_p50"], r_on["render_ms_512_p50"]),
            "render_cpu_ms_512_p50": diff(r_off["render_cpu_ms_512_p50"],
                                          r_on["render_cpu_ms_512_p50"]),
        }
    return {k: diff(off[k], on[k]) for k in ("pose_err_deg_max", "face_found_rate",
                                             "render_ms_512_p50", "render_ms_512_p95",
                                             "render_cpu_ms_512_p50")} | {
        "background_drift_worst_pct": diff(off["background_drift_worst"]["pct"],
                                           on["background_drift_worst"]["pct"]),
        "per_portrait": per}


# ----------------------------------------------------------------------------
# --portraits: the mixed-track round trip on every portrait of bench/portraits.py

FUNNEL_SHEET: list[tuple[str, dict[str, float]]] = [
    ("reference", {}), ("funnel 0.2", {"mouthFunnel": 0.2}), ("funnel 0.4", {"mouthFunnel": 0.4}),
    ("funnel 0.6", {"mouthFunnel": 0.6}), ("funnel 0.6 + jaw 0.3", {"mouthFunnel": 0.6,
                                                                       "jawOpen": 0.3}),
    ("pucker 0.6", {"mouthPucker": 0.6}),
]


def mouth_tile(renderer: PortraitRenderer, values: dict[str, float], tile: int) -> np.ndarray:
    """The lower face around the mouth (RGB, tile x tile) for `values` over the reference."""
    frame = renderer.render(with_values(renderer.reference, values))
    lm = renderer.mesh.vertices[:478, :2]
    centre = lm[[13, 14]].mean(axis=0)
    half = int(0.9 * np.linalg.norm(lm[291] - lm[61])) + 8
    x0, y0 = (np.round(centre) - half).astype(int)
    pad = np.pad(frame, ((half, half), (half, half), (0, 0)), mode="edge")
    crop = pad[y0 + half:y0 + 3 * half, x0 + half:x0 + 3 * half]
    return cv2.resize(crop, (tile, tile), interpolation=cv2.INTER_CUBIC)


def portraits_main(args: argparse.Namespace) -> int:
    """Mixed-track round trip (seeds `args.seeds`) and key sweeps on every portrait.

    Per portrait: Pearson r and slope of every key blendshape on the mixed track
    (the same track as the default-portrait bench, built on that portrait's own
    reference), and each key shape swept alone 0..1 (smiles and blinks paired)
    with its re-measured values, range and monotonicity. The calibration is fitted
    on grace_hopper only; the other five portraits are held out. Writes
    bench/results/render_roundtrip_portraits_<tag>.json and, with --funnel-sheet,
    a contact sheet of the mouth (rows: portraits, columns: FUNNEL_SHEET).
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from portraits import PORTRAIT_SOURCES, fetch_portraits

    from avatar.render.calibration import CALIBRATION_PATH

    load_start = os.getloadavg()
    paths = fetch_portraits(args.portrait_cache)
    # Pinned: without it each renderer would take the portrait's own table from the
    # user's cache dir when `avatar-forcing calibrate` (or a server) fitted one, and
    # the figures labelled "shipped" would be that table's.
    table_path = args.calibration or CALIBRATION_PATH
    if not table_path.is_file():  # load_calibration would fall back to identity curves
        raise FileNotFoundError(f"calibration table not found: {table_path}")
    calibration = load_calibration(table_path)
    per: dict[str, dict[str, Any]] = {}
    sheet_rows = []
    with FaceAnalyzer(mode="image") as analyzer:
        for name in PORTRAIT_SOURCES:
            if args.only and name not in args.only.split(","):
                continue
            print(f"round trip on {name} ...", file=sys.stderr, flush=True)
            portrait = Portrait.load(paths[name], 512)
            # --tables own: each portrait's own fit, as a session shows it
            portrait_table, table_label = (quality_table(portrait, "own")
                                           if args.tables == "own"
                                           else (calibration, str(table_path)))
            renderer = PortraitRenderer(portrait, 512, calibration=portrait_table)
            renderer.wait_for_plate()
            ref = renderer.reference
            seeds = [int(v) for v in args.seeds.split(",")] if args.seeds else [args.seed]
            tables, found_frames = {}, 0
            for seed in seeds:
                track = mixed_track(ref, args.frames, seed=seed)
                measured, found = measure(renderer.render, track, analyzer)
                tables[seed] = mixed_table(track, measured, found)
                found_frames += int(found.sum())
            table = tables[seeds[0]]
            sweeps = {}
            for shape in KEY_BLENDSHAPES:
                sw = sweep_track(ref, shape, SWEEP_VALUES, paired=True)
                m, f = measure(renderer.render, sw, analyzer)
                res = SweepResult(shape, SWEEP_VALUES, m[:, column_index(shape)])
                sweeps[shape] = {"measured": np.round(res.measured, 3).tolist(),
                                 "range": round(res.measured_range, 3),
                                 "monotone": res.monotone, "found": int(f.sum())}
            mean_r = {k: round(float(np.mean([t[k]["r"] for t in tables.values()])), 3)
                      for k in KEY_BLENDSHAPES}
            per[name] = {"calibration": table_label, "mixed_found": found_frames,
                         "mixed_frames": len(seeds) * args.frames,
                         "r": mean_r, "r_per_seed": {s: {k: v["r"] for k, v in t.items()}
                                                     for s, t in tables.items()},
                         "roundtrip_r_min": min(mean_r.values()),
                         "blendshapes": table, "sweeps": sweeps}
            print(f"  r: {per[name]['r']}", file=sys.stderr, flush=True)
            if args.funnel_sheet:
                tiles = [mouth_tile(renderer, values, args.tile) for _, values in FUNNEL_SHEET]
                sheet_rows.append(np.hstack([labelled_tile(t, f"{name} {label}" if i == 0
                                                           else label, args.tile)
                                             for i, (t, (label, _)) in
                                             enumerate(zip(tiles, FUNNEL_SHEET, strict=True))]))
    if args.funnel_sheet:
        cv2.imwrite(str(args.funnel_sheet), np.vstack(sheet_rows))
    summary = {
        "mode": "roundtrip_portraits", "tag": args.tag,
        "seeds": args.seeds or str(args.seed), "frames": args.frames,
        "calibration": "--tables own: each portrait's own table (per_portrait[...]"
                       "['calibration']), the default portrait the shipped one"
                       if args.tables == "own" else str(args.calibration) if args.calibration
                       else "shipped (avatar/data/render_calibration.json) on every portrait",
        "code": code_identity(),
        "load_average_start": [round(v, 2) for v in load_start],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "definitions": {
            "r": "Pearson r, commanded vs re-measured, mixed_track(reference, frames, seed) "
                 "with antagonists (pucker OR funnel at a time), 512 px, image mode; "
                 "mean over the seeds (r_per_seed: each); blendshapes: the first seed's table",
            "sweeps": "each key shape set to 0, .2, .., 1 alone (smiles, blinks paired); "
                      "monotone = no step down by more than 0.03",
            "held_out": "the calibration is fitted on grace_hopper only"},
        "r_per_portrait": {n: p["r"] for n, p in per.items()},
        "per_portrait": per,
    }
    out = args.results / f"render_roundtrip_portraits_{args.tag}.json"
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "per_portrait"}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="mixed-track length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calibrate", action="store_true",
                        help="refit and save the calibration table before measuring")
    parser.add_argument("--plot", type=Path, default=None, help="write a round-trip PNG")
    parser.add_argument("--sheets", type=Path, default=None,
                        help="folder to write contact_sheet_{expressions,poses}.png into")
    parser.add_argument("--quality", action="store_true",
                        help="measure on the real portraits of bench/portraits.py instead")
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
                             "bench/portraits.py (render_roundtrip_portraits_<tag>.json)")
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
        write_sheet(renderer, EXPRESSION_SHEET, args.sheets / "contact_sheet_expressions.png")
        write_sheet(renderer, POSE_SHEET, args.sheets / "contact_sheet_poses.png")
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
