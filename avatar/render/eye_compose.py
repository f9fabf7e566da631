"""The moved iris blended into its eye, in one compiled pass (numba).

Why compiled: `GazePainter.paint` (avatar/render/eyes.py) pastes each eye's iris
sprite, shifted, over the eye's sclera plate and fades the result in over the
portrait's own eye: as numpy, eight whole-box array operations an eye (each a
temporary of the box, ~40x60x3 float32 at 512 px), about 0.2 ms a frame for two
eyes, most of it numpy's per-call overhead. This loop does the same arithmetic per
pixel; the shifts themselves stay `cv2.warpAffine`.

Pixels are identical to the numpy formulas it replaces (tests/avatar/test_eye_compose.py
compares them on random inputs; whole frames: docs/LIVE_AVATAR.md): every step is the
same float32 IEEE operation in the same order numpy ran it, no fastmath.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def blend_iris(target: np.ndarray, roi: np.ndarray, sclera: np.ndarray, sprite: np.ndarray,
               alpha: np.ndarray, opening: np.ndarray, strength: np.float32) -> None:
    """Write one eye's box of `target` (uint8 (h, w, 3), a view, in place).

    The numpy it replaces, all float32 (`opening` (h, w, 1), `alpha` (h, w) the
    shifted iris alpha, `strength` = min(1, shift in px)):

        a = alpha * opening                      # the iris, clipped by the lids
        eye = sclera * (1 - a) + sprite * a
        w = opening * strength                   # how far the moved eye shows
        out = roi * (1 - w) + eye * w
        target = uint8(clip(out + 0.5, 0, 255))  # truncated, after the half
    """
    one, half = np.float32(1.0), np.float32(0.5)
    zero, top = np.float32(0.0), np.float32(255.0)
    height, width = alpha.shape
    for y in range(height):
        for x in range(width):
            a = alpha[y, x] * opening[y, x, 0]
            w = opening[y, x, 0] * strength
            keep_a, keep_w = one - a, one - w
            for c in range(3):
                eye = sclera[y, x, c] * keep_a + sprite[y, x, c] * a
                out = roi[y, x, c] * keep_w + eye * w + half
                target[y, x, c] = np.uint8(min(max(out, zero), top))


def compile_now() -> None:
    """Compile (or load from numba's disk cache) `blend_iris` on a tiny box, as
    avatar/render/raster.py's `compile_now` does for the raster (it calls this)."""
    box = np.zeros((2, 2, 3), np.float32)
    blend_iris(np.zeros((3, 3, 3), np.uint8)[:2, :2], box, box, box,
               np.zeros((2, 2), np.float32), np.zeros((2, 2, 1), np.float32), np.float32(1.0))


__all__ = ["blend_iris", "compile_now"]
