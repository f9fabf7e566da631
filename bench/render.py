"""Benchmark and round-trip fidelity of the portrait renderer.

Prints progress, then ONE JSON object as the last stdout line:
render_fps_512 / render_fps_256 (one thread, median wall time over a mixed
track, with p95 ms; plus CPU-time medians, which the shared machine disturbs less), analyze_ms_p50 (landmarker, image mode, 512 px), the per-blendshape
round-trip table on a mixed track (r, slope; also on the independent "stress"
track under blendshapes_independent), single-actuator sweeps (range,
monotone), pose errors over +-15 degrees, roundtrip_r_min and pose_err_deg_max.

    python bench/render.py [--frames 200] [--seed 0] [--plot docs/roundtrip_mixed.png]
    python bench/render.py --calibrate   # refit avatar/data/render_calibration.json first

The machine is shared: speeds are medians and vary with contention.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np

from avatar.face_analysis import FaceAnalyzer
from avatar.motion import column_index
from avatar.portrait import Portrait
from avatar.render_roundtrip import (
    KEY_BLENDSHAPES,
    PAIRED,
    POSE_AXES,
    SweepResult,
    mixed_table,
    mixed_track,
    pose_errors,
    sweep_track,
)
from avatar.renderer import PortraitRenderer

SWEEP_VALUES = np.linspace(0.0, 1.0, 6)
POSE_VALUES = np.array([-15.0, -10.0, -5.0, 0.0, 5.0, 10.0, 15.0])


def time_render(renderer: PortraitRenderer, track: np.ndarray) -> tuple[float, float, float]:
    """(median wall ms, p95 wall ms, median CPU ms) of renderer.render over the track.

    CPU time (this process, one thread) is reported too: on the shared machine
    the wall time includes waiting for a core, the CPU time is what a frame costs.
    """
    for row in track[:3]:
        renderer.render(row)
    wall, cpu = [], []
    for row in track:
        t0, c0 = time.perf_counter(), time.process_time()
        renderer.render(row)
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
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


def write_sheet(renderer: PortraitRenderer, items: list[tuple[str, dict[str, float]]],
                path: Path, columns: int = 4, tile: int = 256) -> None:
    """A labelled grid of rendered frames (PNG) for the docs and the README."""
    tiles = []
    for label, values in items:
        motion = renderer.reference.copy()
        for name, value in values.items():
            col = column_index(name)
            motion[col] = motion[col] + value if name in POSE_AXES else value
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="mixed-track length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calibrate", action="store_true",
                        help="refit and save the calibration table before measuring")
    parser.add_argument("--plot", type=Path, default=None, help="write a round-trip PNG")
    parser.add_argument("--sheets", type=Path, default=None,
                        help="folder to write contact_sheet_{expressions,poses}.png into")
    args = parser.parse_args()
    cv2.setNumThreads(1)

    portrait = Portrait.default(512)
    if args.calibrate:
        from avatar.render_calibration import calibrate

        calibrate(portrait).save()
    renderer = PortraitRenderer(portrait, 512)
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
