"""The mouth interior's per-pixel fields, compiled (numba): teeth, tongue, grain, light.

Why compiled: a face worker paints several sessions' frames in threads, and fields
computed as numpy calls hold the GIL. These scalar functions are called per pixel by
the one compiled pass (`avatar/render/mouth_compose.py`), which releases it.

Each field is the formula `MouthPainter` (avatar/render/mouth.py) documents, in float64
for one pixel: how much of a tooth covers it and how that tooth is shaded, how much
tongue and how it is lit, the grain of the soft tissue, the light under the lips.
numba's exp is not numpy's SIMD exp to the last bit, so pixels may differ from a numpy
version by a level; tests/avatar/test_mouth_compose.py holds them to that.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# how much shorter each tooth is than the central incisors (IOD), from the midline
# out: laterals are ~1 mm shorter, the canine's tip reaches down again
UPPER_SHORTER = np.array([0.0, 0.016, 0.006, 0.014, 0.02, 0.025])
LOWER_SHORTER = np.array([0.0, 0.004, 0.006, 0.014, 0.02, 0.025])
TOOTH_TIP_POWER = np.array([4.0, 3.0, 1.5, 2.0, 2.0, 2.0])  # edge corner shape by rank
CROWN_UPPER, CROWN_LOWER = 0.17, 0.14  # visible crown heights; gum beyond
CORNER_ROUND = 0.22  # tooth corner rounding at the edge, share of the tooth's width
GAP_DARK = 0.3  # darkening at a boundary between teeth: a thin, crisp line ...
GAP_WIDTH = 0.05  # ... this share of the tooth's width ...
GAP_MIN_PX = 1.0  # ... but never narrower than this (px)
CERVICAL_DARK = 0.1  # teeth this much duller toward the gum
TEETH_GLINT = 0.12  # a wet highlight on the upper incisors (share of the way to white)
TOOTH_ROUND = 0.04  # each tooth a little darker toward its sides (more: a picket fence)
EDGE_TRANSLUCENT = 0.018  # IOD above the incisal edge that is translucent
TONGUE_HALF_WIDTH = 0.34
SHADOW_UNDER_LIP = 0.25  # darkening just under the upper lip's edge ...
SHADOW_FALLOFF = 0.035  # ... falling off over this many IOD
BAND_DARK = 0.35  # the dark band along the inner lip edge (its width: the caller's)
CORNER_DARK = 0.6  # darkening at the mouth corners
TEXTURE_CELLS = 100.0  # grain cells per IOD
_TAB = 32  # cv2.remap's bilinear weights are in 1/32 steps (INTER_TAB_SIZE)


@njit(cache=True, nogil=True)
def smoothstep(x: float) -> float:
    """Hermite step of `x` clamped to 0-1."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


@njit(cache=True, nogil=True)
def interp(x: float, xp: np.ndarray, fp: np.ndarray) -> float:
    """`np.interp` of one value: linear in non-decreasing `xp`, held at the ends."""
    n = len(xp)
    if x < xp[0]:
        return fp[0]
    if x >= xp[n - 1]:
        return fp[n - 1]
    lo, hi = 0, n - 1  # xp[lo] <= x < xp[hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if xp[mid] <= x:
            lo = mid
        else:
            hi = mid
    return fp[lo] + (fp[hi] - fp[lo]) * (x - xp[lo]) / (xp[hi] - xp[lo])


@njit(cache=True, nogil=True)
def grain_at(texture: np.ndarray, gx: float, gy: float) -> float:
    """The tileable grain at texel (gx, gy), bilinear and wrapped, with cv2.remap's
    1/32-texel weights (the grain the numpy painter sampled with it)."""
    size = texture.shape[0]
    qx, qy = int(round(gx * _TAB)), int(round(gy * _TAB))
    x0, y0 = (qx // _TAB) % size, (qy // _TAB) % size
    fx, fy = (qx % _TAB) / _TAB, (qy % _TAB) / _TAB
    x1, y1 = (x0 + 1) % size, (y0 + 1) % size
    top = texture[y0, x0] * (1.0 - fx) + texture[y0, x1] * fx
    bottom = texture[y1, x0] * (1.0 - fx) + texture[y1, x1] * fx
    return top * (1.0 - fy) + bottom * fy


@njit(cache=True, nogil=True)
def tooth(u: float, v: float, bu: np.ndarray, bv: np.ndarray, ppu: float,
          upper: bool) -> tuple[float, float, float, float]:
    """(shade, gum cover, coverage, glint) of one arch of individual teeth at face
    point (u, v) (IOD units, v down).

    `bu`, `bv`: the arch's edge at the tooth boundaries (u non-decreasing: a strong
    turn may fold the far side, the caller accumulates the maximum); `ppu` pixels per
    face unit. The glint (a wet highlight on the front teeth) is the upper arch's only.
    """
    n = len(bu)
    k = 1  # the tooth: first boundary at or right of u (np.searchsorted), kept inside
    while k < n - 1 and bu[k] < u:
        k += 1
    left, right = bu[k - 1], bu[k]
    width = max(right - left, 1e-4)
    t = (u - left) / width * 2.0 - 1.0  # -1 .. 1 across the tooth
    rank = int(abs(k - (n - 1) / 2.0) - 0.5)  # 0: central incisor
    shorter = UPPER_SHORTER[rank] if upper else LOWER_SHORTER[rank]
    sign = 1.0 if upper else -1.0  # upper teeth hang down to their edge, lower rise
    # corners rounded at the edge; the canine (rank 2) comes to a point
    corner = abs(t) ** TOOTH_TIP_POWER[rank]
    edge = interp(u, bu, bv) - sign * (shorter + CORNER_ROUND * width * corner)
    inside = (edge - v) * sign  # > 0 on the tooth, in face units
    crown = CROWN_UPPER if upper else CROWN_LOWER
    # edges 1 px soft at 512, 1.5 px at 256: a small mouth shows no hard 1 px notches
    soft = 1.0 + 0.5 * min(max((90.0 - ppu) / 40.0, 0.0), 1.0)
    cover = smoothstep(inside * ppu / soft + 0.5) if bu[0] < u < bu[n - 1] else 0.0
    gum = smoothstep((inside - crown) * ppu + 0.5)
    # gaps: soft darkening toward the boundaries, at least GAP_MIN_PX wide (x1.5 at 256)
    d_px = min(u - left, right - u) * ppu
    sigma = max(GAP_MIN_PX * soft, GAP_WIDTH * width * ppu)  # wider when small
    shade = 1.0 - GAP_DARK * math.exp(-((d_px / sigma) ** 2))
    shade *= 1.0 - TOOTH_ROUND * t * t  # each tooth rounder: darker at its sides
    # the back teeth turn away and sit deeper in the mouth
    shade *= 1.0 - 0.25 * smoothstep((abs(u) - 0.12) / 0.3)
    translucent = 1.0 - 0.1 * math.exp(-max(inside, 0.0) / EDGE_TRANSLUCENT)
    # enamel: duller toward the gum (the neck of a tooth is thinner enamel over
    # yellower dentine)
    height = min(max(inside / crown, 0.0), 1.0)  # 0 at the edge, 1 at the gum
    neck = 1.0 - CERVICAL_DARK * smoothstep((height - 0.45) / 0.55)
    shade *= translucent * neck
    glint = 0.0
    if upper and rank <= 1:  # the front teeth's middle third
        glint = TEETH_GLINT * math.exp(-((t / 0.3) ** 2 + ((height - 0.5) / 0.22) ** 2))
    return shade, gum, cover, glint


@njit(cache=True, nogil=True)
def tongue(uj: float, vj: float, top_mid: float, ppu: float) -> tuple[float, float]:
    """(coverage, light) of the tongue at jaw-frame point (uj, vj): a mound whose top
    is `top_mid` at the midline and curves down to the sides, with a centre groove,
    a highlight, and its back darker."""
    w = uj / TONGUE_HALF_WIDTH
    w2 = w * w
    top = top_mid + 0.12 * w2 + 0.1 * w2 * w2 * w2
    edges = smoothstep((TONGUE_HALF_WIDTH - abs(uj)) * ppu / 3.0)
    cover = smoothstep((vj - top) * ppu / 2.0 + 0.5) * edges
    groove = 1.0 - 0.16 * math.exp(-((uj * ppu) / max(1.5, 0.035 * ppu)) ** 2) \
        * (1.0 - smoothstep((vj - top - 0.03) / 0.1))
    glint = 0.18 * math.exp(-((uj / 0.12) ** 2 + ((vj - top - 0.05) / 0.035) ** 2))
    back = 0.72 + 0.28 * smoothstep((vj - top) / 0.07)
    return cover, back * groove + glint


@njit(cache=True, nogil=True)
def light(v: float, lip_v: float, dist: float, band: float, corner_side: float) -> tuple[
        float, float]:
    """(light, corner) at a pixel `dist` px inside the opening, `v - lip_v` face units
    below the upper lip: a shadow under the lip and a dark band along the inner lip
    edge (`band` px wide); the corner factor darkens toward the corners
    (`corner_side`: 0 at the centre, 1 at a corner)."""
    below = max(v - lip_v, 0.0)
    lit = 1.0 - SHADOW_UNDER_LIP * math.exp(-below / SHADOW_FALLOFF)
    lit *= 1.0 - BAND_DARK * math.exp(-((dist / band) ** 2))
    return lit, 1.0 - CORNER_DARK * smoothstep((corner_side - 0.5) / 0.5)


__all__ = ["CROWN_LOWER", "CROWN_UPPER", "LOWER_SHORTER", "TEXTURE_CELLS", "TONGUE_HALF_WIDTH",
           "UPPER_SHORTER", "grain_at", "interp", "light", "smoothstep", "tongue", "tooth"]
