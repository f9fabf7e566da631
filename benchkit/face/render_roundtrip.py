"""The renderer's round trip on the default portrait: timed renders, re-measured
tracks, the round-trip plot and the contact sheets of bench/face/render.py.

Why here: bench/face/render.py's default mode and its --quality / --portraits modes
time and re-measure renders the same way; the sheets are the figures in
docs/renderer.md.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from avatar.face_analysis import FaceAnalyzer
from avatar.motion import column_index
from avatar.render import PortraitRenderer
from avatar.render.roundtrip import (
    KEY_BLENDSHAPES,
    POSE_AXES,
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
    """A labelled grid of rendered frames for the docs and the README (JPEG by `path`: .jpg)."""
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
    jpeg = [cv2.IMWRITE_JPEG_QUALITY, 80] if path.suffix == ".jpg" else []  # docs/: small JPEGs
    cv2.imwrite(str(path), np.vstack(rows), jpeg)


# ----------------------------------------------------------------------------
# --quality: the renderer on real portraits (bench/face/portraits.py)
