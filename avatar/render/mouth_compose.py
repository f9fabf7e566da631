"""The mouth interior, painted in one compiled pass over the opening's box (numba).

Why one compiled pass: a face worker paints several sessions' frames in threads,
and per-pixel work done as numpy calls holds the GIL, so those sessions would paint
their mouths one after another. Here each pixel of the opening gets its fields
(depth, tongue, teeth, grain, light: avatar/render/mouth_fields.py), its colour and
its blend into the frame in one loop that releases the GIL (`nogil`): threads paint
their mouths at once.

The painter prepares what is per frame (the posed face frames, the arches, the lip
line, the palette, a few scalars) as `MouthFrame` and passes the opening's mask and
distance to its edge (OpenCV, which also releases the GIL). Pixels match the numpy
formulas within a level, not bit for bit (numba's exp is not numpy's SIMD exp to the
last bit, and every field is float64 here): tests/avatar/test_mouth_compose.py.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from avatar.render.mouth_fields import (
    TEXTURE_CELLS,
    grain_at,
    interp,
    light,
    smoothstep,
    tongue,
    tooth,
)

#: palette rows of `MouthFrame.colours` (each an RGB triple)
CAVITY, THROAT, TONGUE, TEETH, GUM, SHADE_LOWER, SHADE, SHADE_DIM = range(8)


class MouthFrame(NamedTuple):
    """What `paint_interior` needs of one frame besides its pixels.

    `skull`, `jaw`: a face frame posed in the box's pixels, (origin x, origin y, then
    the 2x2 map px -> face units row by row); `ppu` pixels per face unit. The arches'
    edges at the tooth boundaries (`upper_u`, `upper_v` in the skull's frame, `lower_u`,
    `lower_v` in the jaw's; u non-decreasing), the upper lip's line (`lip_u` sorted,
    `lip_v`, skull frame). `colours` (8, 3) float64: the rows named above.
    """

    skull: np.ndarray
    jaw: np.ndarray
    ppu: float
    height_px: float  # half the opening's height, about (its largest edge distance)
    centre_u: float  # the lips' centre and half width (face units) ...
    half: float  # ... for the distance to the corners
    deep_from: float  # share of the half height from the lips where the throat starts
    tongue_top: float  # the tongue's top at the midline (jaw frame)
    shown: float  # how much of the teeth the gathered lips leave visible
    upper_u: np.ndarray
    upper_v: np.ndarray
    lower_u: np.ndarray
    lower_v: np.ndarray
    lip_u: np.ndarray
    lip_v: np.ndarray
    band: float  # the dark band along the inner lip edge, px
    open_light: float  # less light into a narrow opening
    colours: np.ndarray
    dim: float  # the rounded lips' dimming
    alpha: float  # the opening's fade-in (0-1)
    grain_amp: float  # the grain's contrast (share of the colour)
    warm: float  # the teeth's share of the cavity colour in their shade
    lower_dim: float  # the lower teeth's brightness


@njit(cache=True, nogil=True)
def _teeth_colour(teeth: float, cavity: float, gum: float, warm: float, shade: float,
                  glint: float, gum_cover: float) -> float:
    """One channel of a tooth: enamel shaded toward the cavity's warm colour (`warm`
    of it), lifted toward white by the glint, turning into gum past the crown."""
    rgb = teeth * shade + cavity * (warm * (1.0 - shade))
    rgb = rgb + (255.0 - rgb) * glint
    return rgb + (gum - rgb) * gum_cover


@njit(cache=True, nogil=True)
def paint_interior(roi: np.ndarray, mask: np.ndarray, dist: np.ndarray, texture: np.ndarray,
                   f: MouthFrame) -> None:
    """Paint the mouth interior into `roi` (h, w, 3) uint8, in place, where `mask`
    (h, w) uint8 (anti-aliased, 255 inside) covers the opening; `dist` (h, w): each
    pixel's distance (px) to the opening's edge; `texture`: the tileable grain."""
    colours = f.colours
    s, j = f.skull, f.jaw
    size = texture.shape[0]
    height, width = mask.shape
    for y in range(height):
        for x in range(width):
            m = mask[y, x]
            if m == 0:
                continue
            # face coordinates (u right, v down, IOD): skull and jaw frames
            dx, dy = x - s[0], y - s[1]
            u, v = s[2] * dx + s[3] * dy, s[4] * dx + s[5] * dy
            dx, dy = x - j[0], y - j[1]
            uj, vj = j[2] * dx + j[3] * dy, j[4] * dx + j[5] * dy
            d_px = np.float64(dist[y, x])
            # cavity: lit near the lips, the throat deep inside and toward the corners
            side = abs(u - f.centre_u) / f.half  # 0 at the centre, 1 at the corners
            deep = (0.55 * smoothstep((d_px / f.height_px - f.deep_from) / (1.0 - f.deep_from))
                    + 0.45 * smoothstep((side - 0.3) / 0.6))
            t_cover, t_light = tongue(uj, vj, f.tongue_top, f.ppu)
            gx = (u * TEXTURE_CELLS) % size
            gy = (v * TEXTURE_CELLS) % size
            grain = 1.0 + f.grain_amp * grain_at(texture, gx, gy) * (1.0 - 0.6 * deep)
            lo_shade, lo_gum, lo_cover, _ = tooth(uj, vj, f.lower_u, f.lower_v, f.ppu, False)
            up_shade, up_gum, up_cover, up_glint = tooth(u, v, f.upper_u, f.upper_v, f.ppu,
                                                         True)
            lo_cover *= f.shown
            up_cover *= f.shown
            lit, corner = light(v, interp(u, f.lip_u, f.lip_v), d_px, f.band, side)
            lit *= f.open_light
            a = m * (f.alpha / 255.0)
            for c in range(3):
                cavity, throat = colours[CAVITY, c], colours[THROAT, c]
                teeth, gum = colours[TEETH, c], colours[GUM, c]
                colour = cavity * (1.0 - deep) + throat * deep
                colour = (colour + (colours[TONGUE, c] * t_light - colour) * t_cover) * grain
                # lower teeth (dimmed toward the shade), then the upper in front
                lower = _teeth_colour(teeth, cavity, gum, f.warm, lo_shade, 0.0, lo_gum)
                lower = lower * f.lower_dim + colours[SHADE_LOWER, c]
                colour = colour + (lower - colour) * lo_cover
                upper = _teeth_colour(teeth, cavity, gum, f.warm, up_shade, up_glint, up_gum)
                colour = colour + (upper - colour) * up_cover
                # light, dark corners (toward the throat), dimming
                colour = colour * lit + colours[SHADE, c] * (1.0 - lit)
                colour = colour * corner + throat * (1.0 - corner)
                colour = colour * f.dim + colours[SHADE_DIM, c]
                before = np.float64(roi[y, x, c])
                out = before + (colour - before) * a
                roi[y, x, c] = np.uint8(min(max(out, 0.0), 255.0))


def compile_now() -> None:
    """Compile (or load from numba's disk cache) `paint_interior` on a tiny box, as
    avatar/render/raster.py's `compile_now` does for the raster (it calls this)."""
    arch = np.array([-0.2, 0.0, 0.2])
    frame = MouthFrame(
        skull=np.array([1.0, 1.0, 0.01, 0.0, 0.0, 0.01]),
        jaw=np.array([1.0, 1.0, 0.01, 0.0, 0.0, 0.01]), ppu=100.0, height_px=1.0,
        centre_u=0.0, half=0.3, deep_from=0.3, tongue_top=0.1, shown=1.0, upper_u=arch,
        upper_v=np.zeros(3), lower_u=arch, lower_v=np.zeros(3), lip_u=arch,
        lip_v=np.zeros(3), band=1.0, open_light=1.0, colours=np.full((8, 3), 100.0),
        dim=1.0, alpha=1.0, grain_amp=0.08, warm=0.7, lower_dim=0.78)
    box = np.zeros((3, 3, 3), np.uint8)[:2, :2]  # a view into the frame, as paint passes
    paint_interior(box, np.full((2, 2), 255, np.uint8),
                   np.ones((2, 2), np.float32), np.zeros((4, 4), np.float32), frame)


__all__ = ["CAVITY", "GUM", "SHADE", "SHADE_DIM", "SHADE_LOWER", "TEETH", "THROAT", "TONGUE",
           "MouthFrame", "compile_now", "paint_interior"]
