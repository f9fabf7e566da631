"""The gaze painter's compiled iris blend (avatar/render/eye_compose.py, issue 48)
gives the numpy formulas' pixels, bit for bit, on random inputs and into a view."""

from __future__ import annotations

import numpy as np

from avatar.render.eye_compose import blend_iris


def _numpy_blend(roi: np.ndarray, sclera: np.ndarray, sprite: np.ndarray, alpha: np.ndarray,
                 opening: np.ndarray, shift: float) -> np.ndarray:
    """GazePainter.paint's arithmetic as it was written in numpy."""
    a = (alpha * opening[..., 0])[..., None]
    eye_pixels = sclera * (1 - a) + sprite * a
    weight = opening * min(1.0, shift)
    result = roi * (1 - weight) + eye_pixels * weight
    return np.clip(result + 0.5, 0, 255).astype(np.uint8)


def test_compiled_blend_equals_numpy_on_random_eyes() -> None:
    rng = np.random.default_rng(7)
    for shift in (0.3, 0.71, 1.0, 2.6):
        h, w = rng.integers(5, 60, 2)
        roi, sclera, sprite = (rng.uniform(0, 255, (h, w, 3)).astype(np.float32) for _ in range(3))
        alpha = rng.uniform(-0.05, 1.05, (h, w)).astype(np.float32)  # a warp's overshoot too
        opening = rng.choice([0.0, 1.0, 0.5], (h, w, 1)).astype(np.float32)
        opening[rng.uniform(size=(h, w, 1)) < 0.3] = rng.uniform(size=1)
        frame = np.zeros((h + 6, w + 9, 3), np.uint8)
        blend_iris(frame[2:2 + h, 5:5 + w], roi, sclera, sprite, alpha, opening,
                   np.float32(min(1.0, shift)))
        np.testing.assert_array_equal(frame[2:2 + h, 5:5 + w],
                                      _numpy_blend(roi, sclera, sprite, alpha, opening, shift))
        assert not frame[:2].any() and not frame[:, :5].any()  # nothing outside the box
