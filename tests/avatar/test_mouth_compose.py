"""The compiled mouth compositing paints exactly what the numpy formulas painted (issue 48)."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.render.mouth import LOWER_DIM, WARM_SHADE
from avatar.render.mouth_compose import compose


def _numpy_reference(roi: np.ndarray, colours: np.ndarray, deep: np.ndarray,
                     tongue_light: np.ndarray, tongue_cover: np.ndarray, grain: np.ndarray,
                     lower: np.ndarray, upper: np.ndarray, light: np.ndarray,
                     corner: np.ndarray, dim: float, alpha: np.ndarray) -> np.ndarray:
    """MouthPainter.paint's colour steps as numpy wrote them before the kernel."""
    cavity, throat, tongue, teeth, gum, shade_lower, shade_rgb, shade_dim = colours
    deep = deep[..., None]
    colour = cavity * (1.0 - deep) + throat * deep
    tongue_rgb = tongue * tongue_light[..., None]
    colour = colour + (tongue_rgb - colour) * tongue_cover[..., None]
    colour = colour * grain[..., None]

    def teeth_rgb(fields: np.ndarray) -> np.ndarray:
        shade = fields[0][..., None]
        rgb = teeth * shade + cavity * (WARM_SHADE * (1.0 - shade))
        if len(fields) == 4:
            rgb = rgb + (255.0 - rgb) * fields[3][..., None]
        return rgb + (gum - rgb) * fields[1][..., None]

    lower_rgb = teeth_rgb(lower) * LOWER_DIM + shade_lower
    colour = colour + (lower_rgb - colour) * lower[2][..., None]
    colour = colour + (teeth_rgb(upper) - colour) * upper[2][..., None]
    light = light[..., None]
    colour = colour * light + shade_rgb * (1.0 - light)
    corner = corner[..., None]
    colour = colour * corner + throat * (1.0 - corner)
    colour = colour * dim + shade_dim
    before = roi.astype(np.float32)
    return np.clip(before + (colour - before) * alpha[..., None], 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", range(4))
def test_compose_matches_the_numpy_formulas_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = 37, 83

    def field32(lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
        return rng.uniform(lo, hi, (h, w)).astype(np.float32)

    colours = rng.uniform(0.0, 255.0, (8, 3)).astype(np.float32)
    lower = np.stack([rng.uniform(0.5, 1.0, (h, w)), rng.uniform(0, 1, (h, w)),
                      rng.uniform(0, 1, (h, w))])
    upper = np.stack([rng.uniform(0.5, 1.0, (h, w)), rng.uniform(0, 1, (h, w)),
                      rng.uniform(0, 1, (h, w)), rng.uniform(0, 0.12, (h, w))])
    # exact 0 and 1 weights occur in real frames (outside the arch, full coverage)
    lower[2, :5] = 0.0
    upper[2, -5:] = 1.0
    args = (colours, field32(), field32(0.6, 1.2), field32(), field32(0.8, 1.2), lower, upper,
            rng.uniform(0.4, 1.0, (h, w)), field32(0.4, 1.0), float(rng.uniform(0.5, 1.0)),
            field32())
    image = rng.integers(0, 256, (h + 10, w + 10, 3), dtype=np.uint8)
    expected = image.copy()
    expected[4:4 + h, 6:6 + w] = _numpy_reference(image[4:4 + h, 6:6 + w], *args)
    compose(image[4:4 + h, 6:6 + w], *args, WARM_SHADE, LOWER_DIM)  # a view, as paint passes
    np.testing.assert_array_equal(image, expected)
