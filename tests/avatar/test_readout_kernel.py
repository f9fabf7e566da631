"""The readout model's compiled forward pass and Gauss-Newton inverse
(avatar/render/readout_kernel.py) give the numpy formulas' numbers to rounding.

Not bit for bit (the kernel's sums run in another order, its tanh is its own, not
libm's, and its 8x8 solve is a Cholesky, not LAPACK's LU), so the reference is the numpy path kept
in tests/numpy_readout.py, on the shipped table (fitted on the bundled default
portrait, with pose inputs), on the same table without its pose inputs, with the
amplitude box tightened so that the clip bites, and through a whole frame's
amplitudes. A fresh checkout has no numba cache: the first call compiles here.
Figures over a spoken reply on six portraits: readout_solve.py, retired
(docs/history/retired_bench.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, load_generator
from avatar.generator.streaming import StreamingGenerator
from avatar.motion import BLENDSHAPE_COLUMNS, EXPRESSION_SLICE, neutral_frame
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.browser_assets import MOTION_HEADER_LEN, motion_vector
from avatar.render.calibration import READOUT_NAMES, ReadoutModel, load_calibration
from avatar.render.readout_kernel import _tanh, compile_now
from tests.numpy_readout import numpy_readout, predict_numpy, solve_numpy

TOLERANCE = 1e-9  # amplitudes; the differences seen are about 1e-13


def _shipped() -> ReadoutModel:
    model = load_calibration().readout
    assert model is not None
    return model


def _without_pose(model: ReadoutModel) -> ReadoutModel:
    """The shipped networks with their pose inputs dropped: a model fitted without them."""
    n = len(model.scale)
    return ReadoutModel(w1=model.w1[:, :n].copy(), b1=model.b1, w2=model.w2, b2=model.b2,
                        scale=model.scale, lo=model.lo, hi=model.hi, gain=model.gain,
                        reach=model.reach)


MODELS = {"shipped_with_pose": _shipped, "without_pose": lambda: _without_pose(_shipped())}


def test_compile_now_runs() -> None:
    compile_now()


@pytest.mark.parametrize("name", MODELS)
def test_predict_matches_numpy(name: str) -> None:
    model = MODELS[name]()
    rng = np.random.default_rng(1)
    for _ in range(30):
        amps = rng.uniform(-0.5, 1.5, len(model.scale))
        pose = rng.uniform(-25.0, 25.0, 3)
        ours, ours_jac = model.predict(amps, pose)
        ref, ref_jac = predict_numpy(model, amps, pose)
        np.testing.assert_allclose(ours, ref, rtol=0.0, atol=1e-12)
        np.testing.assert_allclose(ours_jac, ref_jac, rtol=0.0, atol=1e-12)


@pytest.mark.parametrize("name", MODELS)
def test_solve_matches_numpy_in_a_tightened_box(name: str) -> None:
    model = MODELS[name]()
    rng = np.random.default_rng(2)
    clipped = 0
    for case in range(60):
        target = rng.uniform(0.0, 0.9, 8)
        start = rng.uniform(-0.6, 1.2, 8)
        pose = None if case % 3 == 0 else rng.uniform(-25.0, 25.0, 3)
        hi = model.hi * rng.uniform(0.1, 1.2, 8)  # often below the amplitude asked for
        ours = model.solve(target, start, pose=pose, hi=hi)
        ref = solve_numpy(model, target, start, pose=pose, hi=hi)
        np.testing.assert_allclose(ours, ref, rtol=0.0, atol=TOLERANCE)
        box = np.minimum(hi, model.hi)
        assert np.all(ours <= box) and np.all(ours >= model.lo)
        clipped += int(np.sum(ref == box))
    assert clipped > 20, "the box never bit: the clip is untested"


def test_solve_without_a_box_or_pose_and_other_iterations_and_priors() -> None:
    model = _shipped()
    rng = np.random.default_rng(3)
    for iters, prior in ((1, 0.1), (8, 0.0), (12, 0.5)):
        target, start = rng.uniform(0.0, 0.6, 8), rng.uniform(0.0, 0.5, 8)
        np.testing.assert_allclose(model.solve(target, start, iters=iters, prior=prior),
                                   solve_numpy(model, target, start, iters=iters, prior=prior),
                                   rtol=0.0, atol=TOLERANCE)


def test_frame_amplitudes_match_the_numpy_path() -> None:
    """Whole frames' amplitudes (curves, targets, caps, rounding budget, the inverse)."""
    calibration = load_calibration()
    rng = np.random.default_rng(4)
    reference = neutral_frame()
    narrowing = np.array([0.35, 0.25])
    cols = [EXPRESSION_SLICE.start + BLENDSHAPE_COLUMNS.index(n) for n in READOUT_NAMES]
    motions = []
    for _ in range(40):
        motion = reference.copy()
        motion[:3] = rng.uniform(-20.0, 20.0, 3)
        asked = rng.uniform(0.0, 0.8, len(cols)) * (rng.random(len(cols)) < 0.5)
        motion[cols] = reference[cols] + asked
        motions.append(motion)
    ours = [calibration.amplitudes(m, reference, narrowing) for m in motions]
    with numpy_readout():
        ref = [calibration.amplitudes(m, reference, narrowing) for m in motions]
    # float32 amplitudes: at most one unit in the last place apart
    np.testing.assert_allclose(np.array(ours), np.array(ref), rtol=1e-6, atol=1e-7)


def test_the_kernels_tanh_is_libms_to_rounding() -> None:
    """The hidden layer's tanh (its own, in vector instructions) against numpy's
    (libm's): within 4e-16 over the range a hidden unit sees and past saturation,
    signed zeros, tiny values, infinities and NaN as tanh has them."""
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0.0, 3.0, 20000), rng.uniform(-30.0, 30.0, 5000),
                        rng.normal(0.0, 1e-6, 1000), np.linspace(-0.5, 0.5, 1001),
                        [0.0, -0.0, 19.0, -19.1, 20.0, -25.0, 1e-300, 710.0]])
    out, exps = np.empty_like(x), np.empty(len(x), np.int64)
    _tanh(x, out, exps)
    np.testing.assert_allclose(out, np.tanh(x), rtol=0.0, atol=4e-16)
    assert np.all(np.abs(out) <= 1.0)
    assert np.all(np.sign(out) == np.sign(x))  # odd, zeros included
    special = np.array([np.inf, -np.inf, np.nan])
    got = np.empty(3)
    _tanh(special, got, np.empty(3, np.int64))
    assert got[0] == 1.0 and got[1] == -1.0 and np.isnan(got[2])


def test_client_motion_frames_match_the_numpy_path(default_portrait: Portrait) -> None:
    """What a page that draws the face gets: the motion frames (`motion_vector`) of the
    shipped generator's motion on the bundled portrait, through the compiled readout
    inverse and through the numpy one: within 1e-6 (float32 values below ~2: a few
    units in their last place; on 300 frames of a bench session they were bit-identical
    to the kernel with libm's tanh)."""
    renderer = PortraitRenderer(default_portrait, size=256)
    reference = default_portrait.reference_motion.astype(np.float32)
    checkpoint = load_generator(DEFAULT_CHECKPOINT)
    engine = StreamingGenerator.from_loaded(checkpoint, reference, seed=3, traced=False)
    cfg = checkpoint.model.cfg
    n, lookahead = cfg.block_frames, cfg.lookahead
    rng = np.random.default_rng(6)
    blocks = 6
    frames = blocks * n + lookahead
    avatar = rng.standard_normal((frames, cfg.audio_dim)).astype(np.float32)
    user = (0.3 * rng.standard_normal((frames, cfg.audio_dim))).astype(np.float32)
    user_motion = np.repeat(reference[None], frames, axis=0)
    motions = np.concatenate([
        engine.step_window(avatar[k * n:k * n + n + lookahead], user[k * n:k * n + n + lookahead],
                           user_motion[k * n:k * n + n + lookahead])
        for k in range(blocks)])
    ours = np.stack([motion_vector(renderer, m) for m in motions])
    with numpy_readout():
        ref = np.stack([motion_vector(renderer, m) for m in motions])
    assert np.ptp(ours[:, MOTION_HEADER_LEN:], axis=0).max() > 0.05  # the amplitudes move
    np.testing.assert_allclose(ours, ref, rtol=0.0, atol=1e-6)
