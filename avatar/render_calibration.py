"""Commanded blendshapes -> actuator amplitudes, calibrated by re-measuring renders.

Why calibrate: an actuator's displacement field is designed by hand, but what
matters is what the landmarker reads back. Sweeping each actuator alone and
measuring the rendered frames gives a curve measured(amplitude); its inverse,
stored per actuator as a monotone piecewise-linear table, turns a commanded
value into the amplitude that reads back as that value. Amplitudes are taken
relative to the portrait's reference value, so a portrait that already smiles
can smile more (positive amplitude) or stop smiling (negative amplitude).

The table lives in avatar/data/render_calibration.json (fitted on the default
portrait by `fit_calibration`, bench/render.py --calibrate); the geometry of the
fields is in face units (IOD), so the same table carries to other portraits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avatar.motion import BLENDSHAPE_COLUMNS, EXPRESSION_SLICE, MOTION_DIM
from avatar.render_expression import ACTUATORS

CALIBRATION_PATH = Path(__file__).parent / "data" / "render_calibration.json"
_BS_INDEX = {name: EXPRESSION_SLICE.start + i for i, name in enumerate(BLENDSHAPE_COLUMNS)}
# A negative blink (eyes wider than the portrait's) is an eyeWide movement: the
# blink field can only close the lid over the eye ball, not open it further.
MAX_LOW_SLOPE = 3.0
MAX_NEGATIVE = 1.0  # the most an expression of the portrait can be undone (amplitude)
_NEGATIVE_TO = {"eyeBlinkLeft": "eyeWideLeft", "eyeBlinkRight": "eyeWideRight"}


@dataclass
class Curve:
    """Monotone table: blendshape value (x, ascending) -> actuator level (y)."""

    x: list[float]
    y: list[float]

    def __call__(self, value: np.ndarray | float) -> np.ndarray:
        x, y = np.asarray(self.x), np.asarray(self.y)
        v = np.asarray(value, np.float64)
        out = np.interp(v, x, y)
        # Below the table (a reference lower than the sweep start, or an
        # expression to undo) extrapolate linearly; above it hold the largest
        # swept amplitude: past it the shape distorts instead of reading higher.
        # The slope is capped: a curve that starts flat (pucker reads 0 until
        # the lips are half gathered) would otherwise turn a small negative
        # change into a huge negative amplitude.
        lo = v < x[0]
        if len(x) > 1:
            slope = min((y[-1] - y[0]) / max(x[-1] - x[0], 1e-6), MAX_LOW_SLOPE)
            out = np.where(lo, np.maximum(y[0] + (v - x[0]) * slope, -MAX_NEGATIVE), out)
        return out


@dataclass
class Calibration:
    """Per-actuator curves and head-pose gains."""

    curves: dict[str, Curve] = field(default_factory=dict)
    pose_gain: np.ndarray = field(default_factory=lambda: np.ones(3, np.float32))
    _cols: np.ndarray = field(init=False, repr=False)
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._cols = np.array([_BS_INDEX.get(name, -1) for name in ACTUATORS])
        self._index = {name: i for i, name in enumerate(ACTUATORS)}
        self.pose_gain = np.asarray(self.pose_gain, np.float32)

    def amplitudes(self, motion: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """(K,) actuator amplitudes for an absolute motion frame and a reference frame."""
        if motion.shape != (MOTION_DIM,) or reference.shape != (MOTION_DIM,):
            raise ValueError(f"motion and reference must be ({MOTION_DIM},)")
        amps = np.zeros(len(ACTUATORS), np.float64)
        commanded = motion.astype(np.float64)
        for k, name in enumerate(ACTUATORS):
            col = self._cols[k]
            if col < 0:
                continue
            curve = self.curves.get(name)
            cmd, ref = float(commanded[col]), float(reference[col])
            amps[k] = (curve(cmd) - curve(ref)) if curve is not None else (cmd - ref)
        for src, dst in _NEGATIVE_TO.items():
            i, j = self._index[src], self._index[dst]
            if amps[i] < 0:
                amps[j] += -amps[i]
                amps[i] = 0.0
        return amps.astype(np.float32)

    def to_json(self) -> dict:
        return {
            "pose_gain": [float(g) for g in self.pose_gain],
            "curves": {k: {"x": c.x, "y": c.y} for k, c in self.curves.items()},
        }

    def save(self, path: str | Path = CALIBRATION_PATH) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n")


def load_calibration(path: str | Path = CALIBRATION_PATH) -> Calibration:
    """The shipped calibration; identity curves when the file does not exist yet."""
    path = Path(path)
    if not path.is_file():
        return Calibration()
    try:
        data = json.loads(path.read_text())
        curves = {k: Curve(x=list(v["x"]), y=list(v["y"]))
                  for k, v in data.get("curves", {}).items()}
        unknown = set(curves) - set(ACTUATORS)
        if unknown:
            raise ValueError(f"unknown actuators {sorted(unknown)}")
        return Calibration(curves=curves, pose_gain=np.array(data.get("pose_gain", [1, 1, 1])))
    except (KeyError, ValueError, TypeError) as error:
        raise ValueError(f"{path} is not a renderer calibration: {error}") from error


# Amplitude grid swept per calibrated actuator: up to where the re-measured
# value stops rising (found by sweeping; past it the shape distorts).
SWEEP_MAX = {"jawOpen": 1.0, "mouthSmileLeft": 2.0, "mouthSmileRight": 2.0,
             "eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0, "browInnerUp": 2.5,
             "mouthPucker": 1.0, "mouthFunnel": 2.5}
SWEEP_STEPS = 11
COMPRESS_BELOW = 0.5  # readable range under this: map commands onto it proportionally


def _inverse_curve(amplitudes: np.ndarray, measured: np.ndarray) -> Curve:
    """Monotone inverse of measured(amplitude): a table blendshape value -> amplitude."""
    rising = np.maximum.accumulate(measured)
    keep = np.concatenate([[True], np.diff(rising) > 0.005])
    x, y = rising[keep], amplitudes[keep]
    if len(x) < 2:  # the actuator does not move the reading at all
        return Curve(x=[0.0, 1.0], y=[0.0, 0.0])
    if x[-1] < COMPRESS_BELOW:
        # The landmarker never reads more than x[-1] (eyes behind glasses read a
        # shut lid as ~0.3): spread commands 0..1 over the readable range so
        # the reading stays proportional to the command instead of clipping.
        x = x[0] + (x - x[0]) / (x[-1] - x[0]) * (1.0 - x[0])
    return Curve(x=[round(float(v), 4) for v in x], y=[round(float(v), 4) for v in y])


def fit_calibration(portrait, size: int = 512, progress: bool = True) -> Calibration:
    """Sweep each calibrated actuator and the head pose, fit curves and pose gains.

    Runs on one portrait (the default one for the shipped table); the fit takes
    about a minute on one core (renders + landmarker on ~110 frames).
    """
    from avatar.face_analysis import FaceAnalyzer
    from avatar.render_roundtrip import POSE_AXES, measure, sweep_track
    from avatar.renderer import PortraitRenderer

    renderer = PortraitRenderer(portrait, size, calibration=Calibration())
    ref = renderer.reference
    index = {name: i for i, name in enumerate(ACTUATORS)}
    curves: dict[str, Curve] = {}
    gains = np.ones(3, np.float32)
    with FaceAnalyzer(mode="image") as analyzer:
        for name, top in SWEEP_MAX.items():
            amps = np.linspace(0.0, top, SWEEP_STEPS)
            rows = []
            for a in amps:
                k = np.zeros(len(ACTUATORS), np.float32)
                k[index[name]] = a
                rows.append(k)
            col = _BS_INDEX[name]

            def render_amps(row: np.ndarray) -> np.ndarray:
                return renderer.render_amplitudes(row, ref)

            measured, found = measure(render_amps, np.stack(rows), analyzer)
            values = np.where(found, measured[:, col], np.nan)
            values = np.nan_to_num(values, nan=float(np.nanmin(values)))
            curves[name] = _inverse_curve(amps, values)
            if progress:
                print(f"calibrate {name}: {np.round(values, 2).tolist()}", flush=True)
        base, _ = measure(renderer.render, ref[None], analyzer)
        for axis_i, axis in enumerate(POSE_AXES):
            offsets = np.array([-15.0, -7.5, 7.5, 15.0])
            track = sweep_track(ref, axis, offsets)
            measured, found = measure(renderer.render, track, analyzer)
            got = measured[found, POSE_AXES.index(axis)] - base[0, POSE_AXES.index(axis)]
            slope = float(np.polyfit(offsets[found], got, 1)[0])
            gains[axis_i] = 1.0 / max(slope, 0.2)
            if progress:
                print(f"calibrate {axis}: slope {slope:.3f} -> gain {gains[axis_i]:.3f}",
                      flush=True)
    return Calibration(curves=curves, pose_gain=gains)
