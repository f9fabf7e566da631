"""Fitting the renderer calibration (avatar/render/calibration.py) by re-measuring renders.

Per actuator: sweep its amplitude alone on the default portrait, re-measure the
renders with the landmarker and store the inverse of measured(amplitude) as a
monotone curve; per head-pose axis and direction: a gain that makes a commanded
turn read back as commanded (fit_calibration). Then the readout model: render
thousands of random mixes at random head poses, measure them and fit a small
network ensemble F(amplitudes, pose) -> readings (collect_readout_samples,
fit_readout). `calibrate` runs the whole fit behind
avatar/data/render_calibration.json (how to run it: docs/renderer.md).

This module imports the renderer; the renderer only imports the table
(avatar/render/calibration.py), so the dependency goes one way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from avatar.face_analysis import FaceAnalyzer
from avatar.render.calibration import (
    BLENDSHAPE_INDEX,
    POSE_SCALE_DEG,
    READOUT_NAMES,
    Calibration,
    Curve,
    ReadoutModel,
)
from avatar.render.expression import ACTUATORS
from avatar.render.renderer import PortraitRenderer
from avatar.render.roundtrip import POSE_AXES, measure, sweep_track

if TYPE_CHECKING:
    from avatar.portrait import Portrait

READOUT_MEMBERS = 8  # networks averaged in the readout ensemble
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


def fit_calibration(portrait: Portrait, size: int = 512, progress: bool = True,
                    pose_axes: tuple[str, ...] = POSE_AXES) -> Calibration:
    """Sweep each calibrated actuator and the head pose, fit curves and pose gains.

    Runs on one portrait (the default one for the shipped table); the fit takes
    about a minute on one core (renders + landmarker on ~110 frames). Axes not in
    `pose_axes` are not swept and keep a gain of 1 (a caller that fits or keeps
    its own gains passes ()).
    """
    renderer = PortraitRenderer(portrait, size, calibration=Calibration())
    ref = renderer.reference
    index = {name: i for i, name in enumerate(ACTUATORS)}
    curves: dict[str, Curve] = {}
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
            col = BLENDSHAPE_INDEX[name]

            def render_amps(row: np.ndarray) -> np.ndarray:
                return renderer.render_amplitudes(row, ref)

            measured, found = measure(render_amps, np.stack(rows), analyzer)
            values = np.where(found, measured[:, col], np.nan)
            values = np.nan_to_num(values, nan=float(np.nanmin(values)))
            curves[name] = _inverse_curve(amps, values)
            if progress:
                print(f"calibrate {name}: {np.round(values, 2).tolist()}", flush=True)
        gains = fit_pose_gains(renderer, analyzer, axes=pose_axes, offsets=(5.0, 10.0, 15.0),
                               rounds=1, progress=progress)
    return Calibration(curves=curves, pose_gain=gains)


#: Offsets (deg, each direction) a portrait's own pose gain is fitted on: none of
#: them is one of the +-10 / +-20 the renderer's quality table reads (docs/renderer.md).
GAIN_OFFSETS: tuple[float, ...] = (6.0, 12.0, 18.0)
#: A gain outside this range means the read-back is broken, not a nod to correct.
GAIN_RANGE = (0.6, 1.6)


def fit_pose_gains(renderer: PortraitRenderer, analyzer: FaceAnalyzer,
                   axes: tuple[str, ...] = POSE_AXES,
                   offsets: tuple[float, ...] = GAIN_OFFSETS, rounds: int = 2,
                   start: np.ndarray | None = None, progress: bool = False) -> np.ndarray:
    """(3, 2) pose gains: per axis in `axes` and direction (-, +), the rotation to
    render per degree commanded so that the landmarker reads the commanded turn.

    Each round renders `offsets` at the current gain, measures them against the
    reference render and divides the gain by the read-back slope (least squares
    through the origin). One round is the straight-line guess; a second one
    corrects for a read-back that is not proportional (joe_biden's chin-up read
    0.74x at 10 degrees and 0.83x at 20). Axes not in `axes` keep `start`
    (default 1). The renderer's own table is restored afterwards.
    """
    if rounds < 1 or not offsets:
        raise ValueError(f"fit_pose_gains needs rounds >= 1 and offsets, got {rounds}, "
                         f"{offsets!r}")
    gains = (np.ones((3, 2), np.float32) if start is None
             else np.array(start, np.float32).reshape(3, 2))
    if not axes:
        return gains
    ref = renderer.reference
    base, found = measure(renderer.render, ref[None], analyzer)
    if not found[0]:
        raise ValueError("the landmarker finds no face in the portrait's reference render, "
                         "so no pose gain can be fitted")
    own = renderer.calibration
    try:
        for axis in axes:
            i = POSE_AXES.index(axis)
            for side, sign in enumerate((-1.0, 1.0)):
                commanded = sign * np.asarray(offsets, np.float64)
                for _ in range(rounds):
                    renderer.set_calibration(Calibration(
                        curves=own.curves, pose_gain=gains.copy(), readout=own.readout))
                    measured, seen = measure(renderer.render, sweep_track(ref, axis, commanded),
                                             analyzer)
                    if not seen.any():
                        raise ValueError(f"no face found in the portrait turned by {axis} "
                                         f"{commanded.tolist()} deg")
                    got = measured[seen, i] - base[0, i]
                    slope = float(got @ commanded[seen] / (commanded[seen] @ commanded[seen]))
                    gains[i, side] = np.clip(gains[i, side] / max(slope, 0.2), *GAIN_RANGE)
                if progress:
                    print(f"calibrate {axis} {'-+'[side]}: read-back slope {slope:.3f} -> "
                          f"gain {gains[i, side]:.3f}", flush=True)
    finally:
        renderer.set_calibration(own)
    return gains


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
        portrait: Portrait, count: int, seed: int = 0, size: int = 512, progress: bool = True,
        pose_deg: float = 0.0, pose_gain: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render random amplitude mixes and measure them.

    Returns (inputs (n, 8 + 3), readings (n, 8)): amplitudes then the commanded
    head-pose change (yaw, pitch, roll, degrees; uniform in +-pose_deg, 0 for a
    third of the samples), rendered with `pose_gain`.
    """
    gains = pose_gain if pose_gain is not None else np.ones((3, 2), np.float32)
    renderer = PortraitRenderer(portrait, size, calibration=Calibration(pose_gain=gains))
    ref = renderer.reference
    index = {name: i for i, name in enumerate(ACTUATORS)}
    cols = [BLENDSHAPE_INDEX[n] for n in READOUT_NAMES]
    rng = np.random.default_rng(seed)
    amps = random_amplitudes(rng, count)
    pose = rng.uniform(-pose_deg, pose_deg, (count, 3)).astype(np.float32)
    pose[rng.random(count) < 1 / 3] = 0.0
    readings = np.full((count, len(cols)), np.nan, np.float32)
    iterator = range(count)
    if progress:
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
    # torch only here, on the fitting path: the render package stays torch-free, and
    # importing portrait_calibration for its table lookup must not load torch
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


def calibrate(portrait: Portrait, size: int = 512,
              runs: tuple[tuple[int, int, float], ...] = READOUT_RUNS,
              progress: bool = True, base: Calibration | None = None,
              refit_curves: tuple[str, ...] = ()) -> Calibration:
    """The full fit behind avatar/data/render_calibration.json (~10 min on one core).

    Per-shape curves and pose gains (fit_calibration), then the readout model
    on random mixes at random head poses (collect_readout_samples + fit_readout).
    With `base`, its pose gains and curves are kept but for `refit_curves`
    (what a changed actuator needs, e.g. the retired funnel_actuator bench: only the
    mouthFunnel curve and the readout model, the hand-set pitch gains kept).
    """
    calibration = fit_calibration(portrait, size, progress)
    if base is not None:
        curves = dict(base.curves)
        curves.update({name: calibration.curves[name] for name in refit_curves})
        calibration = Calibration(curves=curves, pose_gain=base.pose_gain.copy())
    samples = [collect_readout_samples(portrait, count, seed, size, progress, pose_deg,
                                       calibration.pose_gain)
               for seed, count, pose_deg in runs]
    inputs = np.concatenate([a for a, _ in samples])
    readings = np.concatenate([r for _, r in samples])
    calibration.readout = fit_readout(inputs, readings)
    return calibration
