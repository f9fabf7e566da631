"""Commanded blendshapes -> actuator amplitudes: the renderer's calibration table.

Why calibrate: an actuator's displacement field is designed by hand, but what
matters is what the landmarker reads back. Sweeping each actuator alone and
measuring the rendered frames gives a curve measured(amplitude); its inverse,
stored per actuator as a monotone piecewise-linear table, turns a commanded
value into the amplitude that reads back as that value. Amplitudes are taken
relative to the portrait's reference value, so a portrait that already smiles
can smile more (positive amplitude) or stop smiling (negative amplitude).

Per-shape curves cannot see crosstalk (a jaw drop lowers the smile reading, a
pucker cancels a smile), so the eight key shapes are then re-solved per frame
against a readout model: small networks F(amplitudes, head pose) -> readings,
fitted on thousands of measured renders of random mixes (ReadoutModel).
Head-pose gains per axis and direction make a commanded turn read back as
commanded (the landmarker under-reads a warped yaw).

Everything lives in avatar/data/render_calibration.json. This module holds the
table and applies it (the renderer imports it); fitting it needs the renderer
and the landmarker and lives in avatar/render/calibration_fit.py (`calibrate`;
how to run it: docs/renderer.md). The geometry of the fields is in face
units (IOD), so the same table carries over, approximately, to other portraits.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avatar.motion import BLENDSHAPE_COLUMNS, EXPRESSION_SLICE, MOTION_DIM
from avatar.render.expression import ACTUATORS
from avatar.render.readout_kernel import predict_readout, solve_readout

CALIBRATION_PATH = Path(__file__).parent.parent / "data" / "render_calibration.json"
# motion column of each blendshape name
BLENDSHAPE_INDEX = {name: EXPRESSION_SLICE.start + i for i, name in enumerate(BLENDSHAPE_COLUMNS)}
MAX_LOW_SLOPE = 3.0
MAX_NEGATIVE = 1.0  # the most an expression of the portrait can be undone (amplitude)
PRIOR_WEIGHT = 0.1  # readout inverse: pull towards the per-shape curve amplitudes
POSE_SCALE_DEG = 15.0  # pose inputs of the readout model are degrees / this
# Funnel amplitude allowed in the inverse: floor + per_command * commanded change
# (see Calibration._solve_key_shapes: the jaw-funnel-pucker crosstalk).
FUNNEL_CAP_FLOOR = 0.3
FUNNEL_CAP_PER_COMMAND = 3.0
# Rounded lips inside a natural shape. Asked for a funnel reading, the
# inverse opened the jaw far beyond its command and saturated pucker and funnel
# together (funnel 0.5 + pucker 0.4 became jaw 0.6, pucker 1.0, funnel 1.3): the
# corners closed to 0.17 of their width, a vertical slit opened and the skin folded.
# Under a funnel the jaw's amplitude stays within ROUNDED_JAW_GAIN x its own curve's
# + ROUNDED_JAW_EXTRA (fading in over the first ROUNDED_FROM of funnel command), and
# `cap_rounding` keeps the corners at least 1 - GATHER_MAX of their resting distance.
ROUNDED_JAW_GAIN, ROUNDED_JAW_EXTRA = 1.6, 0.08
ROUNDED_FROM = 0.15
GATHER_MAX = 0.4
CORNERS_MIN = 0.52  # the corners' least distance, of their resting one, jaw included
# A negative blink (eyes wider than the portrait's) is an eyeWide movement: the
# blink field can only close the lid over the eye ball, not open it further.
_NEGATIVE_TO = {"eyeBlinkLeft": "eyeWideLeft", "eyeBlinkRight": "eyeWideRight"}
# The key shapes the readout model re-solves jointly, in its input/output order.
READOUT_NAMES: tuple[str, ...] = (
    "jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight",
    "browInnerUp", "mouthPucker", "mouthFunnel",
)
# their motion columns, and the three the inverse's box treats apart (by position)
_READOUT_COLS = np.array([BLENDSHAPE_INDEX[name] for name in READOUT_NAMES])
_JAW, _PUCKER, _FUNNEL = (READOUT_NAMES.index(name)
                          for name in ("jawOpen", "mouthPucker", "mouthFunnel"))


@dataclass
class Curve:
    """Monotone table: blendshape value (x, ascending) -> actuator level (y)."""

    x: list[float]
    y: list[float]

    def __post_init__(self) -> None:
        # the table as arrays once: a frame reads 16 curves twice
        self._xa, self._ya = np.asarray(self.x, np.float64), np.asarray(self.y, np.float64)
        x, y = self._xa, self._ya
        self._x_list, self._y_list = x.tolist(), y.tolist()
        self._slope = (min((y[-1] - y[0]) / max(x[-1] - x[0], 1e-6), MAX_LOW_SLOPE)
                       if len(x) > 1 else None)

    def __call__(self, value: np.ndarray | float) -> np.ndarray:
        x, y = self._xa, self._ya
        v = np.asarray(value, np.float64)
        out = np.interp(v, x, y)
        # Below the table (a reference lower than the sweep start, or an
        # expression to undo) extrapolate linearly; above it hold the largest
        # swept amplitude: past it the shape distorts instead of reading higher.
        # The slope is capped: a curve that starts flat (pucker reads 0 until
        # the lips are half gathered) would otherwise turn a small negative
        # change into a huge negative amplitude.
        if self._slope is not None:
            lo = v < x[0]
            out = np.where(lo, np.maximum(y[0] + (v - x[0]) * self._slope, -MAX_NEGATIVE), out)
        return out

    def level(self, value: float) -> float:
        """`self(value)` for one value, as a float: the same arithmetic without the
        array calls around it (the renderer reads 16 curves a frame)."""
        xs, ys = self._x_list, self._y_list
        if self._slope is not None and value < xs[0]:
            return max(ys[0] + (value - xs[0]) * self._slope, -MAX_NEGATIVE)
        return _interp(value, xs, ys)


def _interp(value: float, xs: list[float], ys: list[float]) -> float:
    """`np.interp(value, xs, ys)` for one finite value, step for step as numpy's C
    loop does it (the same double arithmetic, so the same result): the last knot
    at or below the value, its own level on a knot, the line to the next one
    between knots, the end levels outside the table."""
    if value != value or len(xs) < 2:  # NaN, or a one-knot table: numpy's own rules
        return float(np.interp(value, xs, ys))
    if value < xs[0]:
        return ys[0]
    last = len(xs) - 1
    j = bisect_right(xs, value) - 1
    if j >= last or xs[j] == value:
        return ys[min(j, last)]
    slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j])
    out = slope * (value - xs[j]) + ys[j]
    if out != out:  # numpy's retry from the other knot (infinite slopes)
        return float(np.interp(value, xs, ys))
    return out


@dataclass
class ReadoutModel:
    """What the landmarker reads back for a mix of key actuator amplitudes.

    A one-hidden-layer network F(a) -> readings of READOUT_NAMES, fitted on
    renders of random mixes (fit_readout). It captures what per-actuator curves
    cannot: crosstalk (a jaw drop lowers the smile reading, a pucker cancels a
    smile) and saturation. Rendering inverts it per frame with a few damped
    Gauss-Newton steps, one compiled call that releases the GIL
    (avatar/render/readout_kernel.py), so commanded mixes read back as mixes.
    """

    w1: np.ndarray  # (E, 8, H): an ensemble of E networks, averaged
    b1: np.ndarray  # (E, H)
    w2: np.ndarray  # (E, H, 8)
    b2: np.ndarray  # (E, 8)
    scale: np.ndarray  # (8,) amplitude normalisation
    lo: np.ndarray  # (8,) amplitude box
    hi: np.ndarray  # (8,)
    gain: np.ndarray  # (8,) readable change per commanded change (<1: saturating shape)
    reach: np.ndarray  # (8,) highest reading seen in the fit (97th percentile)
    #: the ensemble as one wide network, in the order the kernel takes it: w1 as
    #: inputs x (E*H), b1, w2 as outputs x (E*H) / E, b2's mean, and `scale`
    _weights: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] = field(
        init=False, repr=False)

    def __post_init__(self) -> None:
        """Lay the ensemble's E networks side by side as one wide network, once
        (the mean over the ensemble folded into the output weights): the same
        arithmetic as E networks averaged, as C-contiguous float64 arrays, the
        types the compiled kernel (readout_kernel.py) was compiled for."""
        ensembles, inputs, hidden = self.w1.shape

        def c64(a: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(a, np.float64)
        self._weights = (
            c64(self.w1.transpose(1, 0, 2).reshape(inputs, ensembles * hidden)),
            c64(self.b1.reshape(ensembles * hidden)),
            c64(self.w2.transpose(2, 0, 1).reshape(-1, ensembles * hidden) / ensembles),
            c64(self.b2.mean(axis=0)), c64(self.scale))

    def _pose_inputs(self, pose: np.ndarray | None) -> np.ndarray:
        """The network's pose inputs (empty for a model fitted without them)."""
        extra = self._weights[0].shape[0] - len(self.scale)
        if extra <= 0:
            return np.zeros(0)
        p = np.zeros(extra) if pose is None else np.asarray(pose, np.float64) / POSE_SCALE_DEG
        # np.clip's arithmetic without its per-call overhead (two calls a frame)
        return np.minimum(np.maximum(p, -1.5), 1.5)

    def predict(self, amps: np.ndarray,
                pose: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Readings (8,) and their Jacobian d readings / d amps (8, 8).

        `pose` is the commanded head-pose change (yaw, pitch, roll, degrees) for
        models fitted with pose inputs (a turned face reads its far side lower).
        """
        return predict_readout(*self._weights, np.ascontiguousarray(amps, np.float64),
                               self._pose_inputs(pose))

    def solve(self, target: np.ndarray, start: np.ndarray, iters: int = 8,
              prior: float = PRIOR_WEIGHT, pose: np.ndarray | None = None,
              hi: np.ndarray | None = None, lo: np.ndarray | None = None) -> np.ndarray:
        """Amplitudes whose predicted readings are closest to `target` (box-constrained).

        Minimises |F(a) - target|^2 + prior * |a - start|^2: the prior keeps
        shapes nobody asked for near their curve amplitude (0), so model error
        of a few hundredths cannot open the mouth during a blink. `hi` and `lo`
        tighten the amplitude box for this frame.
        """
        hi = self.hi if hi is None else np.minimum(hi, self.hi)
        lo = self.lo if lo is None else np.maximum(lo, self.lo)
        return solve_readout(*self._weights, np.ascontiguousarray(lo, np.float64),
                             np.ascontiguousarray(hi, np.float64), self._pose_inputs(pose),
                             np.ascontiguousarray(target, np.float64),
                             np.ascontiguousarray(start, np.float64), int(iters), float(prior))

    def to_json(self) -> dict:
        return {k: np.round(getattr(self, k), 5).tolist()
                for k in ("w1", "b1", "w2", "b2", "scale", "lo", "hi", "gain", "reach")}

    @classmethod
    def from_json(cls, data: dict) -> ReadoutModel:
        return cls(**{k: np.asarray(data[k], np.float64)
                      for k in ("w1", "b1", "w2", "b2", "scale", "lo", "hi", "gain", "reach")})


@dataclass
class Calibration:
    """Per-actuator curves and head-pose gains."""

    curves: dict[str, Curve] = field(default_factory=dict)
    # (3, 2): yaw, pitch, roll x (gain for negative changes, for positive changes);
    # the landmarker under-reads yaw on a single-photo warp, and not symmetrically.
    pose_gain: np.ndarray = field(default_factory=lambda: np.ones((3, 2), np.float32))
    readout: ReadoutModel | None = None
    _cols: np.ndarray = field(init=False, repr=False)
    _index: dict[str, int] = field(init=False, repr=False)
    _mapped: list[tuple[int, str, int]] = field(init=False, repr=False)
    #: the key shapes' actuator indices (READOUT_NAMES' order), and the (from, to)
    #: actuator indices of _NEGATIVE_TO
    _key: np.ndarray = field(init=False, repr=False)
    _negative_to: list[tuple[int, int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._cols = np.array([BLENDSHAPE_INDEX.get(name, -1) for name in ACTUATORS])
        # (actuator index, name, motion column) of the actuators a blendshape drives
        self._mapped = [(k, name, int(col)) for k, (name, col) in
                        enumerate(zip(ACTUATORS, self._cols, strict=True)) if col >= 0]
        self._index = {name: i for i, name in enumerate(ACTUATORS)}
        self._key = np.array([self._index[name] for name in READOUT_NAMES])
        self._negative_to = [(self._index[src], self._index[dst])
                             for src, dst in _NEGATIVE_TO.items()]
        gain = np.asarray(self.pose_gain, np.float32)
        self.pose_gain = np.repeat(gain[:, None], 2, axis=1) if gain.ndim == 1 else gain
        if self.pose_gain.shape != (3, 2):
            raise ValueError(f"pose_gain must be (3, 2), got {self.pose_gain.shape}")

    def pose_change(self, axis: int, delta: float) -> float:
        """The rotation (deg) to render so that a commanded change `delta` reads back."""
        return float(self.pose_gain[axis, 1 if delta > 0 else 0] * delta)

    def amplitudes(self, motion: np.ndarray, reference: np.ndarray,
                   narrowing: np.ndarray | None = None) -> np.ndarray:
        """(K,) actuator amplitudes for an absolute motion frame and a reference frame.

        `narrowing` (pucker, funnel): the share of the mouth's width one unit of each
        takes away on this face; with it the inverse keeps the lips' rounding inside
        GATHER_MAX (see `cap_rounding`), and finds the rest of the mix around it.
        """
        if motion.shape != (MOTION_DIM,) or reference.shape != (MOTION_DIM,):
            raise ValueError(f"motion and reference must be ({MOTION_DIM},)")
        amps = np.zeros(len(ACTUATORS), np.float64)
        commanded = motion.astype(np.float64)
        # one Python float per column, and each curve read as floats (`Curve.level`):
        # the same arithmetic as the array calls, without their overhead
        commanded_values, reference_values = commanded.tolist(), reference.tolist()
        for k, name, col in self._mapped:
            curve = self.curves.get(name)
            cmd, ref = commanded_values[col], reference_values[col]
            amps[k] = (curve.level(cmd) - curve.level(ref)) if curve is not None else (cmd - ref)
        if self.readout is not None:
            self._solve_key_shapes(amps, commanded, reference, narrowing)
        for i, j in self._negative_to:
            if amps[i] < 0:
                amps[j] += -amps[i]
                amps[i] = 0.0
        return amps.astype(np.float32)

    def _solve_key_shapes(self, amps: np.ndarray, commanded: np.ndarray,
                          reference: np.ndarray, narrowing: np.ndarray | None = None) -> None:
        """Replace the key shapes' curve amplitudes by the readout-model inverse, in place.

        The target is the model's reading at rest plus the commanded change
        (times the readable gain of saturating shapes), so a portrait whose own
        reading differs from the calibration portrait's still works in changes.
        """
        model = self.readout
        assert model is not None
        key, cols = self._key, _READOUT_COLS
        pose = commanded[:3] - reference[:3]
        # Rest reading at this pose: a neutral command stays neutral under a
        # turn (aiming at the frontal rest reading parted the lips on a turn).
        rest, _ = model.predict(np.zeros(len(key)), pose)
        target = rest + model.gain * (commanded[cols] - reference[cols])
        # An unreachable target (a smile reading of 1.0) makes the least-squares
        # compromise trade it against the other shapes and can lower the
        # reading: aim at most for the highest reading the fit has seen.
        target = np.minimum(target, model.reach)
        # Lip rounding beyond what was commanded is the readout model's blind
        # spot: it learned that a rounded open mouth reads as more jaw, so it
        # used funnel amplitude to extend a saturated jaw (a funnel command of
        # 0.1 already maps to amplitude ~1 on the curve), but a funnel plus a
        # pucker closes the mouth for the landmarker (jawOpen 0.45 read 0.07).
        # Cap the funnel amplitude in proportion to the commanded funnel.
        hi = model.hi.copy()
        funnel = _FUNNEL
        change = float(commanded[cols[funnel]] - reference[cols[funnel]])
        hi[funnel] = min(hi[funnel], FUNNEL_CAP_FLOOR + FUNNEL_CAP_PER_COMMAND * max(change, 0.0))
        # under a funnel the jaw stays near what its own command asks for (a pucker
        # may still open it further: that is how a puckered open mouth reads as open)
        jaw = _JAW
        slack = 1.0 - min(max(change, 0.0) / ROUNDED_FROM, 1.0)  # 1: no funnel, no cap
        own = max(float(amps[key[jaw]]), 0.0)  # the jaw curve's amplitude
        hi[jaw] = min(hi[jaw], ROUNDED_JAW_GAIN * own + ROUNDED_JAW_EXTRA
                      + slack * float(model.hi[jaw]))
        # nor may it un-round the lips below what the pucker and funnel commands ask
        # (a negative pucker cancelling a funnel's pucker reading undid the rounding
        # itself; a negative funnel rolls the lips in past each other)
        pucker = _PUCKER
        change_p = float(commanded[cols[pucker]] - reference[cols[pucker]])
        lo = model.lo.copy()
        for index, asked in ((pucker, change_p), (funnel, change)):
            lo[index] = max(float(lo[index]), min(float(amps[key[index]]), 0.0),
                            min(asked, 0.0))
        if narrowing is not None:
            # the corners' budget GATHER_MAX, split between pucker and funnel as commanded
            ask_p = max(change_p, 0.0)
            share = (ask_p + 0.05) / (ask_p + max(change, 0.0) + 0.1)
            for index, part, per_unit in ((pucker, share, narrowing[0]),
                                          (funnel, 1.0 - share, narrowing[1])):
                if per_unit > 1e-6:
                    hi[index] = min(hi[index], GATHER_MAX * part / float(per_unit))
        amps[key] = model.solve(target, amps[key], pose=pose, hi=hi, lo=lo)

    def to_json(self) -> dict:
        return {
            "readout": None if self.readout is None else self.readout.to_json(),
            "pose_gain": np.round(self.pose_gain, 4).tolist(),
            "curves": {k: {"x": c.x, "y": c.y} for k, c in self.curves.items()},
        }

    def save(self, path: str | Path = CALIBRATION_PATH) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n")


def cap_rounding(amps: np.ndarray, narrowing: np.ndarray,
                 jaw_narrowing: float = 0.0) -> np.ndarray:
    """Scale pucker and funnel down together so that the corners keep at least
    1 - GATHER_MAX of their resting distance (no slit, no skin folds), and at least
    CORNERS_MIN with what the jaw draws in too.

    `narrowing` is (pucker, funnel): how much of the mouth's width one unit of each
    amplitude takes away (a portrait's own geometry, from its actuator basis);
    `jaw_narrowing` the same for the jaw. Only positive amplitudes gather; a negative
    one (undoing the portrait's own pucker) is left alone. Returns a copy.
    """
    out = np.asarray(amps, np.float32).copy()
    index = [ACTUATORS.index("mouthPucker"), ACTUATORS.index("mouthFunnel")]
    gathering = np.maximum(out[index], 0.0)
    shrink = float(np.maximum(np.asarray(narrowing, np.float64), 0.0) @ gathering)
    jaw = max(float(out[ACTUATORS.index("jawOpen")]), 0.0) * max(jaw_narrowing, 0.0)
    budget = max(min(GATHER_MAX, 1.0 - CORNERS_MIN - jaw), 0.0)
    if shrink > budget:
        out[index] = np.where(out[index] > 0, out[index] * (budget / shrink), out[index])
    return out


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
        readout = data.get("readout")
        return Calibration(curves=curves, pose_gain=np.array(data.get("pose_gain", [1, 1, 1])),
                           readout=None if readout is None else ReadoutModel.from_json(readout))
    except (KeyError, ValueError, TypeError) as error:
        raise ValueError(f"{path} is not a renderer calibration: {error}") from error

