"""Round-trip fidelity of the renderer: render a commanded track, re-measure, compare.

Why this is the acceptance test: the rest of the system (generator, retargeting)
speaks the landmarker's motion space, so a renderer is right exactly when the
landmarker reads back from its frames what it was told to show. Three checks:

- a MIXED track (random overlapping combinations, as speech and reactions
  produce them): Pearson r per key blendshape between commanded and measured;
- single-actuator sweeps: the measured value must rise monotonically over a
  useful range;
- head-pose sweeps over +-15 degrees: absolute angle error.

The same functions drive the tests, the renderer's measurements (docs/renderer.md)
and the calibration fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from avatar.face_analysis import FaceAnalyzer
from avatar.motion import MOTION_DIM, column_index

KEY_BLENDSHAPES: tuple[str, ...] = (
    "jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight",
    "browInnerUp", "mouthPucker", "mouthFunnel",
)
POSE_AXES: tuple[str, ...] = ("yaw", "pitch", "roll")
# Largest commanded value per key blendshape in the mixed track: the range a
# talking, reacting face actually uses (a full 1.0 jawOpen is a yawn).
MIXED_MAX = {"jawOpen": 0.7, "mouthSmileLeft": 0.8, "mouthSmileRight": 0.8,
             "eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0, "browInnerUp": 0.8,
             "mouthPucker": 0.8, "mouthFunnel": 0.6}


def _smooth_segments(rng: np.random.Generator, frames: int, peak: float,
                     p_zero: float) -> np.ndarray:
    """Random keyframes every 5-16 frames, eased in between; often exactly 0."""
    keys_t = [0]
    while keys_t[-1] < frames - 1:
        keys_t.append(min(frames - 1, keys_t[-1] + int(rng.integers(5, 17))))
    keys_v = np.where(rng.random(len(keys_t)) < p_zero, 0.0,
                      rng.uniform(0.15, 1.0, len(keys_t)) * peak)
    t = np.arange(frames)
    seg = np.clip(np.searchsorted(keys_t, t, side="right") - 1, 0, len(keys_t) - 2)
    t0, t1 = np.array(keys_t)[seg], np.array(keys_t)[seg + 1]
    a = np.clip((t - t0) / np.maximum(t1 - t0, 1), 0.0, 1.0)
    ease = a * a * (3 - 2 * a)
    return keys_v[seg] * (1 - ease) + keys_v[seg + 1] * ease


def mixed_track(reference: np.ndarray, frames: int = 200, seed: int = 0,
                pose_deg: float = 0.0, antagonists: bool = True) -> np.ndarray:
    """(frames, 58) absolute motion: the reference with random overlapping expressions.

    Left/right smiles and blinks move together with small differences, as they
    do in real faces. Jaw, brows and blinks are independent of everything.
    With `antagonists` (the default, how speech and reactions combine them),
    the lips round one way at a time (pucker OR funnel: one articulator) and
    rounding scales the smile down (orbicularis and zygomaticus pull the lip
    corners in opposite directions; a face cannot do both fully), while they
    still overlap partly. `antagonists=False` draws all eight independently:
    a stress test with combinations no face makes. `pose_deg` adds a slow
    random head motion of that amplitude.
    """
    rng = np.random.default_rng(seed)
    track = np.repeat(reference[None].astype(np.float32), frames, axis=0)
    signals: dict[str, np.ndarray] = {}
    for name in ("jawOpen", "browInnerUp", "mouthPucker", "mouthFunnel"):
        signals[name] = _smooth_segments(rng, frames, MIXED_MAX[name], 0.4)
    smile = _smooth_segments(rng, frames, MIXED_MAX["mouthSmileLeft"], 0.4)
    if antagonists:
        pucker, funnel = signals["mouthPucker"], signals["mouthFunnel"]
        which = _smooth_segments(rng, frames, 1.0, 0.0) > 0.5
        signals["mouthPucker"] = np.where(which, pucker, 0.25 * pucker)
        signals["mouthFunnel"] = np.where(which, 0.25 * funnel, funnel)
        rounding = np.maximum(signals["mouthPucker"] / MIXED_MAX["mouthPucker"],
                              signals["mouthFunnel"] / MIXED_MAX["mouthFunnel"])
        smile = smile * (1.0 - 0.75 * rounding)
    blink = _smooth_segments(rng, frames, MIXED_MAX["eyeBlinkLeft"], 0.5)
    for side in ("Left", "Right"):
        wobble = _smooth_segments(rng, frames, 0.15, 0.3)
        signals["mouthSmile" + side] = np.clip(smile + wobble - 0.075, 0.0, 1.0)
        signals["eyeBlink" + side] = np.clip(blink + 0.5 * wobble - 0.04, 0.0, 1.0)
    for name, values in signals.items():
        track[:, column_index(name)] = values
    if pose_deg > 0:
        for axis in POSE_AXES:
            wander = _smooth_segments(rng, frames, 2 * pose_deg, 0.0) - pose_deg
            track[:, column_index(axis)] += wander
    return track


# Shapes faces make with both sides at once: a smile or blink sweep moves both.
PAIRED: dict[str, str] = {
    "mouthSmileLeft": "mouthSmileRight", "mouthSmileRight": "mouthSmileLeft",
    "eyeBlinkLeft": "eyeBlinkRight", "eyeBlinkRight": "eyeBlinkLeft",
}


def sweep_track(reference: np.ndarray, name: str, values: Sequence[float] | np.ndarray,
                paired: bool = False) -> np.ndarray:
    """(len(values), 58): the reference with one column set (pose: offset) to each value.

    `paired` also sets the other side of a left/right pair (PAIRED) to the
    same values: a symmetric smile or blink. One-sided sweeps read erratically
    above ~0.5 (a one-sided smile over-stretches one corner).
    """
    track = np.repeat(reference[None].astype(np.float32), len(values), axis=0)
    col = column_index(name)
    if name in POSE_AXES:
        track[:, col] += np.asarray(values, np.float32)
    else:
        track[:, col] = np.asarray(values, np.float32)
        if paired and name in PAIRED:
            track[:, column_index(PAIRED[name])] = np.asarray(values, np.float32)
    return track


def measure(render, track: np.ndarray, analyzer: FaceAnalyzer) -> tuple[np.ndarray, np.ndarray]:
    """Render each row and measure it: (T, 58) measured motion and (T,) found mask.

    `render` is any callable motion -> RGB frame (PortraitRenderer.render).
    The analyzer should be in image mode, so every frame is measured on its own
    (video-mode tracking would smooth blinks and hide a renderer's errors).
    """
    out = np.zeros((len(track), MOTION_DIM), dtype=np.float32)
    found = np.zeros(len(track), dtype=bool)
    for i, row in enumerate(track):
        m = analyzer.analyze(render(row))
        if m is not None:
            out[i], found[i] = m.motion, True
    return out, found


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r; 0.0 when either side is constant (nothing was expressed)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    sa, sb = a.std(), b.std()
    if sa < 1e-9 or sb < 1e-9:
        return 0.0
    return float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb))


@dataclass
class SweepResult:
    """One blendshape swept alone: commanded values, measured values and summary."""

    name: str
    commanded: np.ndarray
    measured: np.ndarray

    @property
    def measured_range(self) -> float:
        return float(self.measured.max() - self.measured.min())

    @property
    def monotone(self) -> bool:
        """Non-decreasing up to landmarker noise (0.03 per step)."""
        return bool(np.all(np.diff(self.measured) > -0.03))


def mixed_table(commanded: np.ndarray, measured: np.ndarray, found: np.ndarray,
                names: Sequence[str] = KEY_BLENDSHAPES) -> dict[str, dict[str, float]]:
    """Per blendshape: r, slope of measured on commanded, and the means."""
    table: dict[str, dict[str, float]] = {}
    for name in names:
        col = column_index(name)
        c, m = commanded[found, col], measured[found, col]
        slope = float(np.polyfit(c, m, 1)[0]) if c.std() > 1e-6 else 0.0
        table[name] = {"r": round(pearson(c, m), 3), "slope": round(slope, 3),
                       "cmd_mean": round(float(c.mean()), 3),
                       "meas_mean": round(float(m.mean()), 3)}
    return table


def pose_errors(commanded: np.ndarray, measured: np.ndarray, found: np.ndarray,
                reference: np.ndarray, measured_reference: np.ndarray) -> dict[str, float]:
    """Max absolute error (deg) per axis of measured vs commanded pose change.

    Changes are taken against the rendered reference frame's own measurement,
    so the landmarker's bias on this portrait cancels out.
    """
    errors = {}
    for axis in POSE_AXES:
        col = column_index(axis)
        want = commanded[found, col] - reference[col]
        got = measured[found, col] - measured_reference[col]
        errors[axis] = round(float(np.abs(got - want).max()), 2)
    return errors


# --------------------------------------------------------------------- gaze
_OUT_R, _IN_L = column_index("eyeLookOutRight"), column_index("eyeLookInLeft")
_IN_R, _OUT_L = column_index("eyeLookInRight"), column_index("eyeLookOutLeft")
_UP = (column_index("eyeLookUpRight"), column_index("eyeLookUpLeft"))
_DOWN = (column_index("eyeLookDownRight"), column_index("eyeLookDownLeft"))
#: both eyes turned by these amounts, one axis at a time
GAZE_VALUES = tuple(float(v) for v in np.linspace(-0.7, 0.7, 8))


def gaze_reading(motion: np.ndarray, axis: str) -> float:
    """Both eyes' gaze along `axis` as one number: "h" > 0 irises toward image
    left, "v" > 0 irises down (the sum of that axis's four eyeLook columns)."""
    m = motion
    if axis == "h":
        return float(m[_OUT_R] + m[_IN_L] - m[_IN_R] - m[_OUT_L])
    return float(m[_DOWN[0]] + m[_DOWN[1]] - m[_UP[0]] - m[_UP[1]])


def turned_gaze(reference: np.ndarray, value: float, axis: str) -> np.ndarray:
    """`reference` with both eyes turned by `value` (signed) along `axis`."""
    motion = reference.copy()
    if axis == "h":
        columns = (_OUT_R, _IN_L) if value > 0 else (_IN_R, _OUT_L)
    else:
        columns = _DOWN if value > 0 else _UP
    for column in columns:
        motion[column] += abs(value)
    return motion


def gaze_sweep(render, reference: np.ndarray, analyzer: FaceAnalyzer, axis: str,
               values: Sequence[float] = GAZE_VALUES,
               ) -> tuple[np.ndarray, np.ndarray]:
    """(commanded, re-measured) gaze changes from the rendered reference, both eyes
    together along `axis`; frames where no face is found are left out."""
    base = analyzer.analyze(render(reference))
    if base is None:
        raise RuntimeError("no face found in the rendered reference")
    commanded, measured = [], []
    for value in values:
        motion = turned_gaze(reference, float(value), axis)
        found = analyzer.analyze(render(motion))
        if found is None:
            continue
        commanded.append(gaze_reading(motion, axis) - gaze_reading(reference, axis))
        measured.append(gaze_reading(found.motion, axis) - gaze_reading(base.motion, axis))
    return np.array(commanded), np.array(measured)
