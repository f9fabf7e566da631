"""The calibration's per-frame fast paths give the same numbers as the array calls
they replace (issue 48): curves read as floats, bit for bit; the Gauss-Newton
inverse, now one compiled call (avatar/render/readout_kernel.py), to rounding
(its sums run in another order: tests/avatar/test_readout_kernel.py)."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.render.calibration import (
    PRIOR_WEIGHT,
    Curve,
    ReadoutModel,
    load_calibration,
)
from tests.numpy_readout import predict_numpy


def _curves() -> list[Curve]:
    shipped = list(load_calibration().curves.values())
    # repeated knots (a flat step), two knots, one knot, a steep start
    return shipped + [Curve([0.0, 0.1, 0.1, 0.5, 0.5, 1.0], [0.0, 0.2, 0.3, 0.3, 0.6, 1.0]),
                      Curve([0.0, 1.0], [1.0, 2.0]), Curve([0.2], [0.5]),
                      Curve([0.1, 0.2, 0.9], [0.0, 0.0, 1.0])]


@pytest.mark.parametrize("curve", _curves())
def test_curve_level_is_the_array_call_bit_for_bit(curve: Curve) -> None:
    rng = np.random.default_rng(48)
    knots = np.asarray(curve.x, np.float64)
    values = np.concatenate([rng.uniform(-1.5, 2.0, 4000), knots, np.nextafter(knots, -9.0),
                             np.nextafter(knots, 9.0)])
    for value in values.tolist():
        assert curve.level(value) == float(curve(value)), value


def _reference_solve(model: ReadoutModel, target: np.ndarray, start: np.ndarray,
                     pose: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """`ReadoutModel.solve` as it was written with the public numpy calls."""
    hi = np.minimum(hi, model.hi)
    start = np.clip(start, model.lo, hi)
    amps = start.copy()
    eye = np.eye(len(amps))
    for _ in range(8):
        out, jac = predict_numpy(model, amps, pose)
        rhs = jac.T @ (target - out) - PRIOR_WEIGHT * (amps - start)
        step = np.linalg.solve(jac.T @ jac + (PRIOR_WEIGHT + 1e-3) * eye, rhs)
        amps = np.clip(amps + step, model.lo, hi)
    return amps


def test_readout_solve_is_the_numpy_linalg_inverse_to_rounding() -> None:
    model = load_calibration().readout
    assert model is not None
    rng = np.random.default_rng(7)
    for _ in range(50):
        target = rng.uniform(0.0, 0.8, 8)
        start = rng.uniform(-0.3, 1.0, 8)
        pose = rng.uniform(-25.0, 25.0, 3)
        hi = model.hi * rng.uniform(0.3, 1.2, 8)
        ours = model.solve(target, start, pose=pose, hi=hi)
        np.testing.assert_allclose(ours, _reference_solve(model, target, start, pose, hi),
                                   rtol=0.0, atol=1e-9)
