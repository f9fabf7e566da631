"""Commanded blendshapes -> actuator amplitudes, calibrated by re-measuring renders.

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

Everything lives in avatar/data/render_calibration.json, fitted on the default
portrait by `calibrate` (bench/render.py --calibrate); the geometry of the
fields is in face units (IOD), so the same table carries over, approximately,
to other portraits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avatar.motion import BLENDSHAPE_COLUMNS, EXPRESSION_SLICE, MOTION_DIM
from avatar.render.expression import ACTUATORS

CALIBRATION_PATH = Path(__file__).parent.parent / "data" / "render_calibration.json"
_BS_INDEX = {name: EXPRESSION_SLICE.start + i for i, name in enumerate(BLENDSHAPE_COLUMNS)}
MAX_LOW_SLOPE = 3.0
MAX_NEGATIVE = 1.0  # the most an expression of the portrait can be undone (amplitude)
PRIOR_WEIGHT = 0.1  # readout inverse: pull towards the per-shape curve amplitudes
READOUT_MEMBERS = 8  # networks averaged in the readout ensemble
POSE_SCALE_DEG = 15.0  # pose inputs of the readout model are degrees / this
# Funnel amplitude allowed in the inverse: floor + per_command * commanded change
# (see Calibration._solve_key_shapes: the jaw-funnel-pucker crosstalk).
FUNNEL_CAP_FLOOR = 0.3
FUNNEL_CAP_PER_COMMAND = 3.0
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
class ReadoutModel:
    """What the landmarker reads back for a mix of key actuator amplitudes.

    A one-hidden-layer network F(a) -> readings of READOUT_NAMES, fitted on
    renders of random mixes (fit_readout). It captures what per-actuator curves
    cannot: crosstalk (a jaw drop lowers the smile reading, a pucker cancels a
    smile) and saturation. Rendering inverts it per frame with a few damped
    Gauss-Newton steps (numpy, ~0.2 ms), so commanded mixes read back as mixes.
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

    def predict(self, amps: np.ndarray,
                pose: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Readings (8,) and their Jacobian d readings / d amps (8, 8).

        `pose` is the commanded head-pose change (yaw, pitch, roll, degrees) for
        models fitted with pose inputs (a turned face reads its far side lower).
        """
        k = len(self.scale)
        x = amps / self.scale
        if self.w1.shape[1] > k:  # pose-aware model
            p = np.zeros(self.w1.shape[1] - k) if pose is None else pose / POSE_SCALE_DEG
            x = np.concatenate([x, np.clip(p, -1.5, 1.5)])
        h = np.tanh(np.einsum("i,eih->eh", x, self.w1) + self.b1)  # (E, H)
        out = (np.einsum("eh,eho->eo", h, self.w2) + self.b2).mean(axis=0)
        # d out_o / d x_i = mean_e sum_h w2[e,h,o] (1 - h^2) w1[e,i,h], amps only
        jac = np.einsum("eho,eh,eih->oi", self.w2, 1.0 - h * h, self.w1[:, :k]) / len(h)
        return out, jac / self.scale

    def solve(self, target: np.ndarray, start: np.ndarray, iters: int = 8,
              prior: float = PRIOR_WEIGHT, pose: np.ndarray | None = None,
              hi: np.ndarray | None = None) -> np.ndarray:
        """Amplitudes whose predicted readings are closest to `target` (box-constrained).

        Minimises |F(a) - target|^2 + prior * |a - start|^2: the prior keeps
        shapes nobody asked for near their curve amplitude (0), so model error
        of a few hundredths cannot open the mouth during a blink. `hi` tightens
        the upper amplitude box for this frame.
        """
        hi = self.hi if hi is None else np.minimum(hi, self.hi)
        start = np.clip(start, self.lo, hi)
        amps = start.copy()
        eye = np.eye(len(amps))
        for _ in range(iters):
            out, jac = self.predict(amps, pose)
            rhs = jac.T @ (target - out) - prior * (amps - start)
            step = np.linalg.solve(jac.T @ jac + (prior + 1e-3) * eye, rhs)
            amps = np.clip(amps + step, self.lo, hi)
        return amps

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

    def __post_init__(self) -> None:
        self._cols = np.array([_BS_INDEX.get(name, -1) for name in ACTUATORS])
        self._index = {name: i for i, name in enumerate(ACTUATORS)}
        gain = np.asarray(self.pose_gain, np.float32)
        self.pose_gain = np.repeat(gain[:, None], 2, axis=1) if gain.ndim == 1 else gain
        if self.pose_gain.shape != (3, 2):
            raise ValueError(f"pose_gain must be (3, 2), got {self.pose_gain.shape}")

    def pose_change(self, axis: int, delta: float) -> float:
        """The rotation (deg) to render so that a commanded change `delta` reads back."""
        return float(self.pose_gain[axis, 1 if delta > 0 else 0] * delta)

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
        if self.readout is not None:
            self._solve_key_shapes(amps, commanded, reference)
        for src, dst in _NEGATIVE_TO.items():
            i, j = self._index[src], self._index[dst]
            if amps[i] < 0:
                amps[j] += -amps[i]
                amps[i] = 0.0
        return amps.astype(np.float32)

    def _solve_key_shapes(self, amps: np.ndarray, commanded: np.ndarray,
                          reference: np.ndarray) -> None:
        """Replace the key shapes' curve amplitudes by the readout-model inverse, in place.

        The target is the model's reading at rest plus the commanded change
        (times the readable gain of saturating shapes), so a portrait whose own
        reading differs from the calibration portrait's still works in changes.
        """
        model = self.readout
        assert model is not None
        key = [self._index[n] for n in READOUT_NAMES]
        cols = [_BS_INDEX[n] for n in READOUT_NAMES]
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
        funnel = READOUT_NAMES.index("mouthFunnel")
        change = float(commanded[cols[funnel]] - reference[cols[funnel]])
        hi[funnel] = min(hi[funnel], FUNNEL_CAP_FLOOR + FUNNEL_CAP_PER_COMMAND * max(change, 0.0))
        amps[key] = model.solve(target, amps[key], pose=pose, hi=hi)

    def to_json(self) -> dict:
        return {
            "readout": None if self.readout is None else self.readout.to_json(),
            "pose_gain": np.round(self.pose_gain, 4).tolist(),
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
        readout = data.get("readout")
        return Calibration(curves=curves, pose_gain=np.array(data.get("pose_gain", [1, 1, 1])),
                           readout=None if readout is None else ReadoutModel.from_json(readout))
    except (KeyError, ValueError, TypeError) as error:
        raise ValueError(f"{path} is not a renderer calibration: {error}") from error


# Amplitude grid swept per calibrated actuator: up to where the re-measured
# value stops rising (found by sweeping; past it the shape distorts).
SWEEP_MAX = {"jawOpen": 1.0, "mouthSmileLeft": 2.0, "mouthSmileRight": 2.0,
             "eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0, "browInnerUp": 2.5,
             "mouthPucker": 1.0, "mouthFunnel": 1.6}
# Largest amplitude the per-frame inverse may use, where lower than the sweep:
# a one-sided smile at 2.0 reads LOWER than at 1.5 (the corner over-stretches),
# a fall the readout model does not capture.
SOLVE_MAX = {"mouthSmileLeft": 1.5, "mouthSmileRight": 1.5}
SWEEP_STEPS = 11
# Left and right smiles (and blinks) are swept together: faces do them together,
# and each side raises the other's reading (a one-sided calibration overshoots
# by ~0.3 when both sides are commanded).
PAIRED = {"mouthSmileLeft": "mouthSmileRight", "mouthSmileRight": "mouthSmileLeft",
          "eyeBlinkLeft": "eyeBlinkRight", "eyeBlinkRight": "eyeBlinkLeft"}
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
    from avatar.render.renderer import PortraitRenderer
    from avatar.render.roundtrip import POSE_AXES, measure, sweep_track

    renderer = PortraitRenderer(portrait, size, calibration=Calibration())
    ref = renderer.reference
    index = {name: i for i, name in enumerate(ACTUATORS)}
    curves: dict[str, Curve] = {}
    gains = np.ones((3, 2), np.float32)
    with FaceAnalyzer(mode="image") as analyzer:
        for name, top in SWEEP_MAX.items():
            amps = np.linspace(0.0, top, SWEEP_STEPS)
            rows = []
            for a in amps:
                k = np.zeros(len(ACTUATORS), np.float32)
                k[index[name]] = a
                partner = PAIRED.get(name)
                if partner is not None:
                    k[index[partner]] = a
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
            for side, sign in enumerate((-1.0, 1.0)):
                offsets = sign * np.array([5.0, 10.0, 15.0])
                track = sweep_track(ref, axis, offsets)
                measured, found = measure(renderer.render, track, analyzer)
                got = measured[found, axis_i] - base[0, axis_i]
                # Least-squares slope through the origin (the reference reads as 0).
                slope = float(got @ offsets[found] / (offsets[found] @ offsets[found]))
                gains[axis_i, side] = 1.0 / max(slope, 0.2)
                if progress:
                    print(f"calibrate {axis} {'-+'[side]}: slope {slope:.3f} -> gain "
                          f"{gains[axis_i, side]:.3f}", flush=True)
    return Calibration(curves=curves, pose_gain=gains)


READOUT_NAMES: tuple[str, ...] = (
    "jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight",
    "browInnerUp", "mouthPucker", "mouthFunnel",
)


def random_amplitudes(rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, len(READOUT_NAMES)) random amplitudes covering single shapes and mixes.

    Each shape is off 40% of the time, else uniform in [-0.2, SWEEP_MAX]; left
    and right sides are tied (with a small difference) 70% of the time, as in faces.
    """
    top = np.array([SWEEP_MAX[n] for n in READOUT_NAMES])
    amps = rng.uniform(-0.2, 1.0, (count, len(top)))
    amps = np.where(amps > 0, amps * top, amps)
    amps[rng.random(amps.shape) < 0.4] = 0.0
    for left, right in ((1, 2), (3, 4)):
        tie = rng.random(count) < 0.7
        amps[tie, right] = np.clip(amps[tie, left] + rng.normal(0, 0.08, tie.sum()), -0.2,
                                   top[right])
    return amps.astype(np.float32)


def collect_readout_samples(
        portrait, count: int, seed: int = 0, size: int = 512, progress: bool = True,
        pose_deg: float = 0.0, pose_gain: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render random amplitude mixes and measure them.

    Returns (inputs (n, 8 + 3), readings (n, 8)): amplitudes then the commanded
    head-pose change (yaw, pitch, roll, degrees; uniform in +-pose_deg, 0 for a
    third of the samples), rendered with `pose_gain`.
    """
    from avatar.face_analysis import FaceAnalyzer
    from avatar.render.renderer import PortraitRenderer

    gains = pose_gain if pose_gain is not None else np.ones((3, 2), np.float32)
    renderer = PortraitRenderer(portrait, size, calibration=Calibration(pose_gain=gains))
    ref = renderer.reference
    index = {name: i for i, name in enumerate(ACTUATORS)}
    cols = [_BS_INDEX[n] for n in READOUT_NAMES]
    rng = np.random.default_rng(seed)
    amps = random_amplitudes(rng, count)
    pose = rng.uniform(-pose_deg, pose_deg, (count, 3)).astype(np.float32)
    pose[rng.random(count) < 1 / 3] = 0.0
    readings = np.full((count, len(cols)), np.nan, np.float32)
    iterator = range(count)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="readout samples", unit="frame")
    with FaceAnalyzer(mode="image") as analyzer:
        for i in iterator:
            full = np.zeros(len(ACTUATORS), np.float32)
            for j, name in enumerate(READOUT_NAMES):
                full[index[name]] = amps[i, j]
            motion = ref.copy()
            motion[:3] += pose[i]
            found = analyzer.analyze(renderer.render_amplitudes(full, motion))
            if found is not None:
                readings[i] = found.motion[cols]
    keep = ~np.isnan(readings).any(axis=1)
    return np.concatenate([amps, pose], axis=1)[keep], readings[keep]


def fit_readout(amps: np.ndarray, readings: np.ndarray, hidden: int = 64,
                steps: int = 3000, members: int = READOUT_MEMBERS) -> ReadoutModel:
    """Fit an ensemble of readout networks on (inputs, readings) samples.

    `amps` holds the 8 amplitudes, optionally followed by the 3 pose inputs
    (collect_readout_samples); a model fitted with them is pose-aware.

    Several networks from different initialisations, averaged: the landmarker's
    switch-like readings make a single fit's inverse vary a lot from seed to
    seed (mixed-track r moved by +-0.1); the average is steadier.
    torch is only used here, offline; the fitted weights are evaluated in numpy.
    """
    nets = [_fit_one_readout(amps, readings, hidden, steps, seed) for seed in range(members)]
    top = np.array([SWEEP_MAX[n] for n in READOUT_NAMES])
    w1, b1, w2, b2 = (np.stack([net[i] for net in nets]) for i in range(4))
    hi = np.array([SOLVE_MAX.get(n, SWEEP_MAX[n]) for n in READOUT_NAMES], np.float64)
    model = ReadoutModel(w1=w1, b1=b1, w2=w2, b2=b2, scale=top.astype(np.float64),
                         lo=np.full(len(top), -0.5), hi=hi,
                         gain=np.ones(len(top)), reach=np.percentile(readings, 97, axis=0))
    rest, _ = model.predict(np.zeros(len(top)))
    reach = model.reach
    # Shapes the landmarker never reads near 1 (eyes behind glasses, brows under
    # a frame) get a proportional target: the reading follows the command
    # linearly over the range it can reach.
    model.gain = np.clip((reach - rest) / np.maximum(0.9 - rest, 1e-3), 0.05, 1.0)
    return model


def _fit_one_readout(amps: np.ndarray, readings: np.ndarray, hidden: int, steps: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One network (full-batch Adam, cosine schedule): (w1, b1, w2, b2) as float64."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    top = np.array([SWEEP_MAX[n] for n in READOUT_NAMES])
    scale = np.concatenate([top, np.full(amps.shape[1] - len(top), POSE_SCALE_DEG)])
    x = torch.tensor(amps / scale, dtype=torch.float32)
    y = torch.tensor(readings, dtype=torch.float32)
    first, second = torch.nn.Linear(x.shape[1], hidden), torch.nn.Linear(hidden, y.shape[1])
    net = torch.nn.Sequential(first, torch.nn.Tanh(), second)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.mean((net(x) - y) ** 2)
        loss.backward()
        opt.step()
        sched.step()
    return (first.weight.detach().numpy().T.astype(np.float64),
            first.bias.detach().numpy().astype(np.float64),
            second.weight.detach().numpy().T.astype(np.float64),
            second.bias.detach().numpy().astype(np.float64))


# Readout training data of the shipped table: (seed, frames, head-pose range deg)
# runs of random mixes, frontal and turned.
READOUT_RUNS: tuple[tuple[int, int, float], ...] = (
    (0, 2000, 0.0), (1, 2500, 0.0), (2, 2500, 15.0), (3, 2500, 15.0),
)


def calibrate(portrait, size: int = 512,
              runs: tuple[tuple[int, int, float], ...] = READOUT_RUNS,
              progress: bool = True) -> Calibration:
    """The full fit behind avatar/data/render_calibration.json (~10 min on one core).

    Per-shape curves and pose gains (fit_calibration), then the readout model
    on random mixes at random head poses (collect_readout_samples + fit_readout).
    """
    calibration = fit_calibration(portrait, size, progress)
    samples = [collect_readout_samples(portrait, count, seed, size, progress, pose_deg,
                                       calibration.pose_gain)
               for seed, count, pose_deg in runs]
    inputs = np.concatenate([a for a, _ in samples])
    readings = np.concatenate([r for _, r in samples])
    calibration.readout = fit_readout(inputs, readings)
    return calibration
