"""bench/face/render.py --quality: the renderer on every real portrait (background drift,
pose error, face found, speed, the layer costs, the mirrored fill), its summary
keys and its contact sheets.

Why here: it is most of bench/face/render.py (the JSON keys of render_quality_<tag>.json
and its PNGs are made here); the script only parses flags and picks the mode.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

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
    POSE_AXES,
    mixed_track,
)
from benchkit.face.render_roundtrip import render_times, with_values
from benchkit.paths import ROOT

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
    """Measure today's renderer on every portrait of bench/face/portraits.py.

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
    from benchkit.face.portraits import PORTRAIT_SOURCES, fetch_portraits

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
# --portraits: the mixed-track round trip on every portrait of bench/face/portraits.py
