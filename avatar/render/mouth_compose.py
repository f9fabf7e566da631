"""The mouth interior's colour layers, composited in one compiled pass (numba).

Why compiled: `MouthPainter.paint` (avatar/render/mouth.py) layers cavity, tongue,
grain, lower and upper teeth, light, dark corners and dimming on the opening's box,
then blends it into the frame. As numpy, each of the ~45 steps on the (h, w, 3)
colour block was its own call with a 3-long inner loop (a palette colour broadcast
over every pixel): 5-18 us a call on a box of ~2,000 pixels, about half of the
painter's 1.1 ms a frame at 512 px. The per-pixel fields those layers are weighted
by (how deep, how much tongue, how much tooth, the light) stay numpy, where the
transcendental functions are (numpy's SIMD exp differs from numba's in the last
bit); this loop only mixes colours with them.

Pixels are identical to the numpy formulas it replaces (tests/avatar/test_mouth_compose.py
compares them on random inputs; whole frames: docs/LIVE_AVATAR.md): every step
is the same IEEE operation in the same order and precision as numpy computed it,
float32 where numpy's operands were float32 (the soft-tissue layers), float64 from
the teeth on (their fields are float64, so numpy promoted the colour there), and a
float32 product where numpy multiplied a float32 palette colour by a float32 field
before adding it to the float64 colour. No fastmath: nothing is fused or reordered.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: palette rows of `compose`'s `colours` (each an RGB float32 triple)
CAVITY, THROAT, TONGUE, TEETH, GUM, SHADE_LOWER, SHADE, SHADE_DIM = range(8)


@njit(cache=True, nogil=True)
def _teeth_colour(teeth: float, cavity: float, gum: float, warm: float, shade: float,
                  glint: float, gum_cover: float) -> float:
    """One channel of a tooth (float64): enamel shaded toward the cavity's warm colour
    (`warm` of it), lifted toward white by the glint, turning into gum past the crown."""
    rgb = teeth * shade + cavity * (warm * (1.0 - shade))
    rgb = rgb + (255.0 - rgb) * glint
    return rgb + (gum - rgb) * gum_cover


@njit(cache=True, nogil=True)
def compose(roi: np.ndarray, colours: np.ndarray, deep: np.ndarray, tongue_light: np.ndarray,
            tongue_cover: np.ndarray, grain: np.ndarray, lower: np.ndarray,
            upper: np.ndarray, light: np.ndarray, corner: np.ndarray, dim: float,
            alpha: np.ndarray, warm: float, lower_dim: float) -> None:
    """Paint the mouth interior into `roi` (h, w, 3) uint8, in place.

    `colours` (8, 3) float32: the palette rows named above (SHADE_LOWER and
    SHADE_DIM already multiplied by their weights, in float32, as numpy did).
    Fields (h, w): `deep`, `tongue_light`, `tongue_cover`, `grain` (the grain's
    factor), `corner`, `alpha` float32; `light` float64; `lower` (3, h, w) float64:
    the lower teeth's shade, gum cover and coverage (already times `shown`);
    `upper` (4, h, w) float64: the same and the glint. `dim` is the rounding's dimming,
    `warm` the teeth's share of the cavity colour in their shade, `lower_dim` the lower
    teeth's brightness (mouth.py's WARM_SHADE, LOWER_DIM).
    """
    one = np.float32(1.0)
    height, width = deep.shape
    for y in range(height):
        for x in range(width):
            d = deep[y, x]
            d_rest = one - d
            t_light, t_cover, g = tongue_light[y, x], tongue_cover[y, x], grain[y, x]
            c_corner = corner[y, x]
            corner_rest = one - c_corner
            lit = light[y, x]
            a = np.float64(alpha[y, x])
            for c in range(3):
                # soft tissue, float32: cavity to throat, tongue, grain
                cavity = colours[CAVITY, c]
                throat = colours[THROAT, c]
                soft = cavity * d_rest + throat * d
                tongue = colours[TONGUE, c] * t_light
                soft = (soft + (tongue - soft) * t_cover) * g
                # teeth, float64 from here: lower (dimmed toward the shade), upper
                teeth, gum = np.float64(colours[TEETH, c]), np.float64(colours[GUM, c])
                tooth = _teeth_colour(teeth, np.float64(cavity), gum, warm, lower[0, y, x],
                                      0.0, lower[1, y, x])
                tooth = tooth * lower_dim + np.float64(colours[SHADE_LOWER, c])
                colour = np.float64(soft)
                colour = colour + (tooth - colour) * lower[2, y, x]
                tooth = _teeth_colour(teeth, np.float64(cavity), gum, warm, upper[0, y, x],
                                      upper[3, y, x], upper[1, y, x])
                colour = colour + (tooth - colour) * upper[2, y, x]
                # light, dark corners (toward the throat, a float32 product), dimming
                colour = colour * lit + np.float64(colours[SHADE, c]) * (1.0 - lit)
                colour = colour * np.float64(c_corner) + np.float64(throat * corner_rest)
                colour = colour * dim + np.float64(colours[SHADE_DIM, c])
                before = np.float64(np.float32(roi[y, x, c]))
                out = before + (colour - before) * a
                roi[y, x, c] = np.uint8(min(max(out, 0.0), 255.0))


def compile_now() -> None:
    """Compile (or load from numba's disk cache) `compose` on a tiny box, as
    avatar/render/raster.py's `compile_now` does for the raster (it calls this)."""
    field32 = np.zeros((2, 2), np.float32)
    compose(np.zeros((2, 2, 3), np.uint8), np.zeros((8, 3), np.float32), field32, field32,
            field32, field32, np.zeros((3, 2, 2)), np.zeros((4, 2, 2)), np.zeros((2, 2)),
            field32, 1.0, field32, 0.7, 0.78)


__all__ = ["CAVITY", "GUM", "SHADE", "SHADE_DIM", "SHADE_LOWER", "TEETH", "THROAT", "TONGUE",
           "compile_now", "compose"]
