"""The mouth interior's per-pixel work as numpy: the reference the compiled pass is
measured against (bench/face/mouth_pass.py, bench/face/mouth_realism.py --numpy-mouth,
tests/avatar/test_mouth_compose.py).

Why a copy: the painter's fields (depth, tongue, teeth, grain, light) were numpy
calls and only the colour mixing was compiled; the one compiled pass that replaced
them (avatar/render/mouth_compose.py) is not bit-identical (numba's exp, float64
fields), so its quality is measured against this path frame by frame. This is
`MouthPainter.paint` and its helpers as they were before the pass, with the colour
mixing written as the numpy formulas the old compiled mix reproduced bit for bit.
Its prep up to the opening's box and mask is the painter's own
(`MouthPainter._opening`), so the two differ only in their per-pixel work (the old
prep smoothed the lips in a loop, not with a cached map: some 20 us more a frame).
`paint_numpy(painter, ...)` paints with a `MouthPainter`'s own state (and stands in
for `MouthPainter.paint` itself under `bench/face/mouth_realism.py --numpy-mouth`).
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar.render import mouth as m
from avatar.render import mouth_fields as mf


def _local(frame_pts: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    o = frame_pts[0] - off
    axes = np.stack([frame_pts[1] - frame_pts[0], frame_pts[2] - frame_pts[0]], axis=1) / 0.1
    inverse = np.linalg.inv(axes)
    return o, inverse, float(np.linalg.norm(axes[:, 0]))


def _unit_down(local: tuple[np.ndarray, np.ndarray, float]) -> np.ndarray:
    axes = np.linalg.inv(local[1])
    down = axes[:, 1]
    return down / max(float(np.linalg.norm(down)), 1e-9)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _uv(local: tuple[np.ndarray, np.ndarray, float], xs: np.ndarray,
        ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    o, inv, _ = local
    dx, dy = xs - np.float32(o[0]), ys - np.float32(o[1])
    inv32 = inv.astype(np.float32)
    return inv32[0, 0] * dx + inv32[0, 1] * dy, inv32[1, 0] * dx + inv32[1, 1] * dy


def teeth_fields(u: np.ndarray, v: np.ndarray, edge_pts: np.ndarray, ppu: float,
           upper: bool) -> np.ndarray:
    """(shade, gum cover, coverage[, glint]) of one arch, (3 or 4, h, w) float64."""
    bu = np.maximum.accumulate(edge_pts[:, 0])
    bv = edge_pts[:, 1]
    k = np.clip(np.searchsorted(bu, u), 1, len(bu) - 1)
    left, right = bu[k - 1], bu[k]
    width = np.maximum(right - left, 1e-4)
    t = (u - left) / width * 2.0 - 1.0
    rank = (np.abs(k - (len(bu) - 1) / 2.0) - 0.5).astype(np.intp)
    shorter = (mf.UPPER_SHORTER if upper else mf.LOWER_SHORTER)[rank]
    sign = 1.0 if upper else -1.0
    corner = np.abs(t) ** mf.TOOTH_TIP_POWER[rank]
    edge = np.interp(u, bu, bv) - sign * (shorter + mf.CORNER_ROUND * width * corner)
    inside = (edge - v) * sign
    crown = mf.CROWN_UPPER if upper else mf.CROWN_LOWER
    soft = 1.0 + 0.5 * m._clamp((90.0 - ppu) / 40.0, 0.0, 1.0)
    cover = _smoothstep(inside * ppu / soft + 0.5)
    cover = cover * ((u > bu[0]) & (u < bu[-1]))
    gum = _smoothstep((inside - crown) * ppu + 0.5)
    d_px = np.minimum(u - left, right - u) * ppu
    sigma = np.maximum(mf.GAP_MIN_PX * soft, mf.GAP_WIDTH * width * ppu)
    shade = 1.0 - mf.GAP_DARK * np.exp(-((d_px / sigma) ** 2))
    shade = shade * (1.0 - mf.TOOTH_ROUND * t * t)
    shade = shade * (1.0 - 0.25 * _smoothstep((np.abs(u) - 0.12) / 0.3))
    translucent = 1.0 - 0.1 * np.exp(-np.maximum(inside, 0.0) / mf.EDGE_TRANSLUCENT)
    height = np.clip(inside / crown, 0.0, 1.0)
    neck = 1.0 - mf.CERVICAL_DARK * _smoothstep((height - 0.45) / 0.55)
    shade = shade * translucent * neck
    if not upper:
        return np.stack((shade, gum, cover))
    glint = mf.TEETH_GLINT * np.exp(-((t / 0.3) ** 2 + ((height - 0.5) / 0.22) ** 2)) \
        * (rank <= 1)
    return np.stack((shade, gum, cover, glint))


def compose_numpy(roi: np.ndarray, colours: np.ndarray, deep: np.ndarray,
                  tongue_light: np.ndarray, tongue_cover: np.ndarray, grain: np.ndarray,
                  lower: np.ndarray, upper: np.ndarray, light: np.ndarray,
                  corner: np.ndarray, dim: float, alpha: np.ndarray) -> np.ndarray:
    """The colour layers and the blend, as numpy: the painted (h, w, 3) uint8 box."""
    cavity, throat, tongue, teeth, gum, shade_lower, shade_rgb, shade_dim = colours
    deep = deep[..., None]
    colour = cavity * (1.0 - deep) + throat * deep
    tongue_rgb = tongue * tongue_light[..., None]
    colour = colour + (tongue_rgb - colour) * tongue_cover[..., None]
    colour = colour * grain[..., None]

    def teeth_rgb(fields: np.ndarray) -> np.ndarray:
        shade = fields[0][..., None]
        rgb = teeth * shade + cavity * (m.WARM_SHADE * (1.0 - shade))
        if len(fields) == 4:
            rgb = rgb + (255.0 - rgb) * fields[3][..., None]
        return rgb + (gum - rgb) * fields[1][..., None]

    lower_rgb = teeth_rgb(lower) * m.LOWER_DIM + shade_lower
    colour = colour + (lower_rgb - colour) * lower[2][..., None]
    colour = colour + (teeth_rgb(upper) - colour) * upper[2][..., None]
    light = light[..., None]
    colour = colour * light + shade_rgb * (1.0 - light)
    corner = corner[..., None]
    colour = colour * corner + throat * (1.0 - corner)
    colour = colour * dim + shade_dim
    before = roi.astype(np.float32)
    return np.clip(before + (colour - before) * alpha[..., None], 0, 255).astype(np.uint8)


def paint_numpy(painter: m.MouthPainter, image: np.ndarray, xy: np.ndarray,
                anchors: np.ndarray, rounding: float = 0.0) -> None:
    """`painter.paint` as the numpy fields painted it (same arguments, in place)."""
    lips = painter._opening(image.shape, xy, anchors)
    if lips is None:
        return
    off, mask, upper_s = lips.off, lips.mask, lips.upper_s
    bh, bw = mask.shape
    anchors = np.asarray(anchors, np.float64)
    skull = _local(anchors[:3], off)
    jaw = _local(anchors[-3:], off)
    ppu = skull[2]
    xs = np.arange(bw, dtype=np.float32)[None, :]
    ys = np.arange(bh, dtype=np.float32)[:, None]
    u, v = _uv(skull, xs, ys)
    uj, vj = _uv(jaw, xs, ys)
    up_pts = painter._to_uv(skull, anchors[m.UPPER_ANCHORS] - off)
    lo_pts = painter._to_uv(jaw, anchors[m.LOWER_ANCHORS] - off)
    lip_up_uv = painter._to_uv(skull, upper_s - off)
    dist = lips.dist
    height_px = max(float(dist.max()), 1.0)
    pal = painter.palette
    half = max(float(np.ptp(lip_up_uv[:, 0])) / 2.0, 1e-3)
    centre_u = float(lip_up_uv[:, 0].min()) + half
    side = np.abs(u - centre_u) / half
    open_units = lips.height / ppu
    wide = m._smoothstep_scalar((open_units - 0.08) / 0.15)
    deep_from = m.DEEP_FROM * (1.0 - wide) + m.DEEP_FROM_WIDE * wide
    deep = (0.55 * _smoothstep((dist / height_px - deep_from) / (1.0 - deep_from))
            + 0.45 * _smoothstep((side - 0.3) / 0.6))
    drop = max(float((anchors[-3] - anchors[0]) @ _unit_down(skull)), 0.0) / ppu
    lower_edge_v = float(np.interp(0.0, lo_pts[:, 0], lo_pts[:, 1]))
    half_w = mf.TONGUE_HALF_WIDTH
    top = (lower_edge_v - (0.03 + 0.4 * drop) + 0.12 * (uj / half_w) ** 2
           + 0.1 * (uj / half_w) ** 6)
    edges = _smoothstep((half_w - np.abs(uj)) * ppu / 3.0)
    tongue_a = _smoothstep((vj - top) * ppu / 2.0 + 0.5) * edges
    groove = 1.0 - 0.16 * np.exp(-((uj * ppu) / max(1.5, 0.035 * ppu)) ** 2) \
        * (1.0 - _smoothstep((vj - top - 0.03) / 0.1))
    glint = 0.18 * np.exp(-((uj / 0.12) ** 2 + ((vj - top - 0.05) / 0.035) ** 2))
    back = 0.72 + 0.28 * _smoothstep((vj - top) / 0.07)
    tongue_light = back * groove + glint
    size = m._TEXTURE.shape[0]
    grain = cv2.remap(m._TEXTURE, np.mod(u * mf.TEXTURE_CELLS, size).astype(np.float32),
                      np.mod(v * mf.TEXTURE_CELLS, size).astype(np.float32),
                      cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    grain = 1.0 + m.TEXTURE_AMP * grain * (1.0 - 0.6 * deep)
    width = float(np.linalg.norm(lips.upper_lip[-1] - lips.upper_lip[0]))
    gather = 1.0 - m._clamp((width / max(painter.rest_width, 1e-3) - m.GATHER_FROM)
                            / m.GATHER_OVER, 0.0, 1.0)
    shown = 1.0 - max(gather, m.ROUNDED_HIDES * m._smoothstep_scalar(
        (rounding - m.HIDE_FROM) / (1.0 - m.HIDE_FROM)))
    lower = teeth_fields(uj, vj, lo_pts, ppu, upper=False)
    lower[2] *= shown
    upper = teeth_fields(u, v, up_pts, ppu, upper=True)
    upper[2] *= shown
    order = np.argsort(lip_up_uv[:, 0])
    lip_v = np.interp(u, lip_up_uv[order, 0], lip_up_uv[order, 1])
    below = np.maximum(v - lip_v, 0.0)
    light = 1.0 - mf.SHADOW_UNDER_LIP * np.exp(-below / mf.SHADOW_FALLOFF)
    band = max(m.BAND_MIN_PX, m.BAND_WIDTH * ppu)
    light = light * (1.0 - mf.BAND_DARK * np.exp(-((dist / band) ** 2)))
    shade_rgb = pal.shade + (pal.throat - pal.shade) * (m.WIDE_SHADE_THROAT * wide)
    light = light * (0.85 + 0.15 * m._smoothstep_scalar(open_units / 0.12))
    corner = 1.0 - mf.CORNER_DARK * _smoothstep((side - 0.5) / 0.5)
    forward = max(m._clamp(rounding, 0.0, 1.0), gather)
    dim = 1.0 - m.ROUNDED_DIM * forward
    colours = np.stack([pal.cavity, pal.throat, pal.tongue, pal.teeth, pal.gum,
                        pal.shade * (1.0 - m.LOWER_DIM), shade_rgb, shade_rgb * (1.0 - dim)])
    alpha = mask.astype(np.float32) * (lips.fade / 255.0)
    image[lips.box] = compose_numpy(image[lips.box], colours, deep, tongue_light, tongue_a,
                                    grain, lower, upper, light, corner, dim, alpha)


__all__ = ["compose_numpy", "paint_numpy", "teeth_fields"]
