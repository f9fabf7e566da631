"""The readout model's forward pass and its Gauss-Newton inverse, compiled (numba).

Why compiled: a face worker renders several sessions in threads, and each frame
inverts the readout model (avatar/render/calibration.py, `ReadoutModel.solve`)
with 8 damped Gauss-Newton steps. As numpy that was about 150 small calls a frame,
each holding the GIL, so the sessions took turns. Here the whole solve is one call
that releases the GIL (`nogil`): plain loops over tiny sizes (about 11 inputs, a
few hundred hidden units, 8 outputs, an 8x8 Cholesky), no BLAS.

The hidden layer's tanh is computed here (`_tanh`: exp(-2|x|) from a degree-13
polynomial and a power of two, then (1 - t) / (1 + t)), not by libm's scalar `tanh`:
its 4,096 calls a frame were about half the solve's time, and this form runs as vector
instructions (a solve ~145 -> ~100 us here). It is libm's to 3.4e-16 absolute (values
in [-1, 1]; about half of them to the last bit): the float32 motion frames of 300
frames of a bench session came out bit-identical, and tests/avatar/test_readout_kernel.py
holds a session's frames within 1e-6 of the numpy path.

The weights are the ensemble laid side by side as one wide network (ReadoutModel
prepares them once): `w1` (inputs, width), whose first rows are the amplitudes',
`b1` (width,), `w2` (outputs, width) with the ensemble mean folded in, `b2`
(outputs,). The results match the numpy formulas to rounding (about 1e-13), not bit
for bit: the sums run in another order (`fastmath` lets them vectorise) and tanh is
this module's, not numpy's (tests/avatar/test_readout_kernel.py).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# reassociation and fused multiply-adds only (no assumptions about NaN or infinity):
# the long sums then run as vector instructions
_SUMS = {"reassoc", "contract"}

# exp(-y) = 2^-q exp(-r), q = round(y / ln 2), r = y - q ln 2 in two parts (Cody-Waite:
# q * _LN2_HI is exact), |r| <= ln 2 / 2; exp(-r) by its Taylor series to r^13 (the
# next term is under 5e-18 there), 2^-q from a table (q <= 58 for y <= 40)
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_POW2 = np.array([2.0 ** -q for q in range(64)])
#: |x| at or above this: tanh(x) is +-1 in float64 (1 - tanh(19.1) < 2^-54)
_TANH_ONE = 20.0
#: |x| below this: tanh(x) is x in float64 (x^3 / 3 under half its last place)
_TANH_X = 1e-8


@njit(cache=True, nogil=True, fastmath={"contract"})
def _tanh(x: np.ndarray, out: np.ndarray, exps: np.ndarray) -> None:
    """out[k] = tanh(x[k]) (NaN stays NaN); `exps` is int64 scratch of x's length. Two
    loops, each of plain arithmetic (the table read in the second), so both vectorise."""
    for k in range(x.shape[0]):
        a = abs(x[k])
        if not a < _TANH_ONE:  # also NaN: a finite exponent, the NaN restored below
            a = _TANH_ONE
        y = 2.0 * a
        q = math.floor(y * _INV_LN2 + 0.5)
        exps[k] = np.int64(q)
        s = q * _LN2_LO - (y - q * _LN2_HI)  # -r
        p = 1.0 / 6227020800.0
        p = p * s + 1.0 / 479001600.0
        p = p * s + 1.0 / 39916800.0
        p = p * s + 1.0 / 3628800.0
        p = p * s + 1.0 / 362880.0
        p = p * s + 1.0 / 40320.0
        p = p * s + 1.0 / 5040.0
        p = p * s + 1.0 / 720.0
        p = p * s + 1.0 / 120.0
        p = p * s + 1.0 / 24.0
        p = p * s + 1.0 / 6.0
        p = p * s + 0.5
        p = p * s + 1.0
        out[k] = p * s + 1.0  # exp(-r)
    for k in range(x.shape[0]):
        t = out[k] * _POW2[exps[k]]  # exp(-2|x|), exact scaling
        v = (1.0 - t) / (1.0 + t)
        xk = x[k]
        if abs(xk) < _TANH_X:  # tanh(x) is x in float64 (and 1 - t would lose it)
            v = abs(xk)
        out[k] = v if xk >= 0.0 else (-v if xk < 0.0 else xk)


@njit(cache=True, nogil=True, fastmath=_SUMS)
def _forward(w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray,
             scale: np.ndarray, x: np.ndarray, hidden: np.ndarray, slope: np.ndarray,
             row: np.ndarray, out: np.ndarray, jac: np.ndarray, exps: np.ndarray) -> None:
    """Readings into `out` and d readings / d amps into `jac`, for inputs `x`
    (amplitudes / scale, then the pose inputs); `hidden`, `slope` and `row` are
    scratch (width,), `exps` int64 scratch (width,)."""
    width, outputs, amps = b1.shape[0], b2.shape[0], scale.shape[0]
    for k in range(width):
        hidden[k] = b1[k]
    for i in range(x.shape[0]):  # row by row: the inner loop runs along contiguous memory
        xi = x[i]
        for k in range(width):
            hidden[k] += xi * w1[i, k]
    _tanh(hidden, row, exps)
    for k in range(width):
        h = row[k]
        hidden[k] = h
        slope[k] = 1.0 - h * h
    for o in range(outputs):
        # d out_o / d x_i = sum_k w2[o, k] (1 - h_k^2) w1[i, k], amplitudes only
        total = b2[o]
        for k in range(width):
            total += hidden[k] * w2[o, k]
            row[k] = w2[o, k] * slope[k]
        out[o] = total
        for i in range(amps):
            total = 0.0
            for k in range(width):
                total += row[k] * w1[i, k]
            jac[o, i] = total / scale[i]


@njit(cache=True, nogil=True)
def predict_readout(w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray,
                    scale: np.ndarray, amps: np.ndarray,
                    pose_inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Readings (outputs,) and their Jacobian (outputs, amps) at `amps`; `pose_inputs`
    is empty for a model fitted without them."""
    n, width = scale.shape[0], b1.shape[0]
    x = np.empty(w1.shape[0])
    for i in range(n):
        x[i] = amps[i] / scale[i]
    for i in range(pose_inputs.shape[0]):
        x[n + i] = pose_inputs[i]
    out = np.empty(b2.shape[0])
    jac = np.empty((b2.shape[0], n))
    _forward(w1, b1, w2, b2, scale, x, np.empty(width), np.empty(width), np.empty(width),
             out, jac, np.empty(width, np.int64))
    return out, jac


@njit(cache=True, nogil=True)
def _cholesky_solve(a: np.ndarray, b: np.ndarray, low: np.ndarray, x: np.ndarray) -> None:
    """x = a^-1 b for a symmetric positive definite `a` (a damped normal matrix);
    `low` is scratch for its Cholesky factor."""
    n = b.shape[0]
    for j in range(n):
        s = a[j, j]
        for k in range(j):
            s -= low[j, k] * low[j, k]
        d = math.sqrt(s)
        low[j, j] = d
        for i in range(j + 1, n):
            t = a[i, j]
            for k in range(j):
                t -= low[i, k] * low[j, k]
            low[i, j] = t / d
    for i in range(n):  # L y = b
        t = b[i]
        for k in range(i):
            t -= low[i, k] * x[k]
        x[i] = t / low[i, i]
    for i in range(n - 1, -1, -1):  # L^T x = y
        t = x[i]
        for k in range(i + 1, n):
            t -= low[k, i] * x[k]
        x[i] = t / low[i, i]


@njit(cache=True, nogil=True)
def solve_readout(w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray,
                  scale: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                  pose_inputs: np.ndarray, target: np.ndarray, start: np.ndarray,
                  iters: int, prior: float) -> np.ndarray:
    """Amplitudes in the box [lo, hi] whose readings are closest to `target`:
    `iters` damped Gauss-Newton steps on |F(a) - target|^2 + prior |a - start|^2,
    from `start` clipped to the box (ReadoutModel.solve says why)."""
    n, outputs = scale.shape[0], b2.shape[0]
    anchor = np.empty(n)
    for i in range(n):
        anchor[i] = min(max(start[i], lo[i]), hi[i])
    amps = anchor.copy()
    x = np.empty(w1.shape[0])
    for i in range(pose_inputs.shape[0]):
        x[n + i] = pose_inputs[i]
    width = b1.shape[0]
    hidden, slope, row, out = np.empty(width), np.empty(width), np.empty(width), np.empty(outputs)
    exps = np.empty(width, np.int64)
    jac, normal, low = np.empty((outputs, n)), np.empty((n, n)), np.zeros((n, n))
    rhs, step, residual = np.empty(n), np.empty(n), np.empty(outputs)
    damping = prior + 1e-3
    for _ in range(iters):
        for i in range(n):
            x[i] = amps[i] / scale[i]
        _forward(w1, b1, w2, b2, scale, x, hidden, slope, row, out, jac, exps)
        for o in range(outputs):
            residual[o] = target[o] - out[o]
        for i in range(n):
            t = -prior * (amps[i] - anchor[i])
            for o in range(outputs):
                t += jac[o, i] * residual[o]
            rhs[i] = t
            for j in range(i, n):
                s = 0.0
                for o in range(outputs):
                    s += jac[o, i] * jac[o, j]
                normal[i, j] = s
                normal[j, i] = s
            normal[i, i] += damping
        _cholesky_solve(normal, rhs, low, step)
        for i in range(n):
            amps[i] = min(max(amps[i] + step[i], lo[i]), hi[i])
    return amps


def compile_now() -> None:
    """Compile (or load from numba's disk cache) both entry points on a tiny network,
    with the argument types ReadoutModel passes (C-contiguous float64, an int, a
    float), as avatar/render/raster.py's `compile_now` does for the raster (it
    calls this)."""
    inputs, width, n = 3, 4, 2
    w1, w2 = np.full((inputs, width), 0.1), np.full((n, width), 0.1)
    ones, pose = np.ones(n), np.zeros(inputs - n)
    predict_readout(w1, np.zeros(width), w2, np.zeros(n), ones, ones, pose)
    solve_readout(w1, np.zeros(width), w2, np.zeros(n), ones, -ones, ones,
                  pose, ones, np.zeros(n), 2, 0.1)


__all__ = ["compile_now", "predict_readout", "solve_readout"]
