"""The readout model's forward pass and Gauss-Newton inverse as numpy: the reference
the compiled kernel is measured against (tests/avatar/test_readout_kernel.py; the
retired readout_solve.py timed it: docs/history/retired_bench.md).

Why a copy: `ReadoutModel.predict` and `ReadoutModel.solve` were these numpy calls
(the ensemble as one wide network, np.linalg.solve, np.clip); the compiled kernel
that replaced them (avatar/render/readout_kernel.py) sums in another order and
has its own tanh, so it is not bit-identical, and its quality is measured against
this path. `numpy_readout()` swaps this path into `ReadoutModel` for a with-block,
so a renderer draws whole frames the old way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np

from avatar.render.calibration import POSE_SCALE_DEG, PRIOR_WEIGHT, ReadoutModel

try:  # np.linalg.solve's own gufunc without its wrapper, as the numpy path called it
    from numpy.linalg import _umath_linalg

    _solve1: Any = _umath_linalg.solve1
except (ImportError, AttributeError):
    _solve1 = None


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`np.linalg.solve(a, b)` for one system, bit for bit, at a third of its cost."""
    if _solve1 is None:
        return np.linalg.solve(a, b)
    return _solve1(a, b, signature="dd->d")


class WideNetwork(NamedTuple):
    """The ensemble laid side by side, as ReadoutModel's numpy path prepared it."""

    w1: np.ndarray  # (inputs, E*H)
    b1: np.ndarray  # (E*H,)
    w2: np.ndarray  # (E*H, 8), the ensemble mean folded in
    b2: np.ndarray  # (8,)
    w1_amps_t: np.ndarray  # (8, E*H) view: the Jacobian's right factor


def wide(model: ReadoutModel) -> WideNetwork:
    ensembles, inputs, hidden = model.w1.shape
    w1 = np.ascontiguousarray(model.w1.transpose(1, 0, 2).reshape(inputs, ensembles * hidden))
    return WideNetwork(w1, model.b1.reshape(ensembles * hidden),
                       model.w2.reshape(ensembles * hidden, -1) / ensembles,
                       model.b2.mean(axis=0), w1[:len(model.scale)].T)


def pose_inputs(model: ReadoutModel, pose: np.ndarray | None) -> np.ndarray | None:
    extra = model.w1.shape[1] - len(model.scale)
    if extra <= 0:
        return None
    p = np.zeros(extra) if pose is None else pose / POSE_SCALE_DEG
    return np.clip(p, -1.5, 1.5)


def _predict(model: ReadoutModel, net: WideNetwork, amps: np.ndarray,
             extra: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    x = amps / model.scale
    if extra is not None:
        x = np.concatenate([x, extra])
    h = np.tanh(x @ net.w1 + net.b1)
    out = h @ net.w2 + net.b2
    jac = (net.w2 * (1.0 - h * h)[:, None]).T @ net.w1_amps_t
    return out, jac / model.scale


def predict_numpy(model: ReadoutModel, amps: np.ndarray,
                  pose: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`ReadoutModel.predict` as numpy: readings (8,) and Jacobian (8, 8)."""
    return _predict(model, wide(model), amps, pose_inputs(model, pose))


def solve_numpy(model: ReadoutModel, target: np.ndarray, start: np.ndarray, iters: int = 8,
                prior: float = PRIOR_WEIGHT, pose: np.ndarray | None = None,
                hi: np.ndarray | None = None, net: WideNetwork | None = None,
                lo: np.ndarray | None = None) -> np.ndarray:
    """`ReadoutModel.solve` as numpy (`net`: `wide(model)`, made once by a caller
    that solves many times, as the model made it once)."""
    net = wide(model) if net is None else net
    hi = model.hi if hi is None else np.minimum(hi, model.hi)
    lo = model.lo if lo is None else np.maximum(lo, model.lo)
    start = np.clip(start, lo, hi)
    amps = start.copy()
    damping = (prior + 1e-3) * np.eye(len(amps))
    extra = pose_inputs(model, pose)
    for _ in range(iters):
        out, jac = _predict(model, net, amps, extra)
        rhs = jac.T @ (target - out) - prior * (amps - start)
        step = _solve(jac.T @ jac + damping, rhs)
        amps = np.minimum(np.maximum(amps + step, lo), hi)
    return amps


@contextmanager
def numpy_readout() -> Iterator[None]:
    """Inside the block every ReadoutModel predicts and solves with numpy."""
    nets: dict[int, WideNetwork] = {}

    def net_of(model: ReadoutModel) -> WideNetwork:
        if id(model) not in nets:
            nets[id(model)] = wide(model)
        return nets[id(model)]

    def predict(self: ReadoutModel, amps: np.ndarray,
                pose: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return _predict(self, net_of(self), amps, pose_inputs(self, pose))

    def solve(self: ReadoutModel, target: np.ndarray, start: np.ndarray, iters: int = 8,
              prior: float = PRIOR_WEIGHT, pose: np.ndarray | None = None,
              hi: np.ndarray | None = None, lo: np.ndarray | None = None) -> np.ndarray:
        return solve_numpy(self, target, start, iters, prior, pose, hi, net_of(self), lo)

    kept = ReadoutModel.predict, ReadoutModel.solve
    ReadoutModel.predict, ReadoutModel.solve = predict, solve  # type: ignore[method-assign]
    try:
        yield
    finally:
        ReadoutModel.predict, ReadoutModel.solve = kept  # type: ignore[method-assign]
