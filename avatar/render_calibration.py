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
        # Linear extrapolation past the table ends (a reference below the table).
        lo, hi = v < x[0], v > x[-1]
        if len(x) > 1:
            out = np.where(lo, y[0] + (v - x[0]) * (y[1] - y[0]) / (x[1] - x[0]), out)
            out = np.where(hi, y[-1] + (v - x[-1]) * (y[-1] - y[-2]) / (x[-1] - x[-2]), out)
        return out


@dataclass
class Calibration:
    """Per-actuator curves, crosstalk compensation and head-pose gains."""

    curves: dict[str, Curve] = field(default_factory=dict)
    pose_gain: np.ndarray = field(default_factory=lambda: np.ones(3, np.float32))
    # crosstalk[a][b] = amplitude of actuator b added per unit of actuator a, to
    # cancel what a does to the reading of b's blendshape (fitted on mixed tracks).
    crosstalk: dict[str, dict[str, float]] = field(default_factory=dict)
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
        for k, name in enumerate(ACTUATORS):
            col = self._cols[k]
            if col < 0:
                continue
            curve = self.curves.get(name)
            cmd, ref = float(motion[col]), float(reference[col])
            amps[k] = (curve(cmd) - curve(ref)) if curve is not None else (cmd - ref)
        for src, dst in _NEGATIVE_TO.items():
            i, j = self._index[src], self._index[dst]
            if amps[i] < 0:
                amps[j] += -amps[i]
                amps[i] = 0.0
        if self.crosstalk:
            base = amps.copy()
            for src, row in self.crosstalk.items():
                for dst, coef in row.items():
                    amps[self._index[dst]] += coef * base[self._index[src]]
        return amps.astype(np.float32)

    def to_json(self) -> dict:
        return {
            "pose_gain": [float(g) for g in self.pose_gain],
            "curves": {k: {"x": c.x, "y": c.y} for k, c in self.curves.items()},
            "crosstalk": self.crosstalk,
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
        return Calibration(curves=curves, pose_gain=np.array(data.get("pose_gain", [1, 1, 1])),
                           crosstalk=data.get("crosstalk", {}))
    except (KeyError, ValueError, TypeError) as error:
        raise ValueError(f"{path} is not a renderer calibration: {error}") from error
