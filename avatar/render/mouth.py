"""The inside of the mouth, painted into the opening between the warped inner lips.

Why a painted layer: a closed-mouth portrait has no pixels of the inside of the
mouth, and stretching the thin line between the lips looks like a smear that
the landmarker does not read as an open mouth.

What is painted, back to front (the anchors are the layered rigs of
Live2D and the rigid teeth of GaussianAvatars' FLAME `add_teeth`):

- cavity: dark, darker deep inside (away from the lip edge) and toward the throat;
- tongue: a mound riding on the jaw behind the lower teeth, with a centre groove
  and a highlight, higher in the opening as the mouth opens wider;
- lower teeth: rigid to the jaw (they move with the jaw actuators, not with the
  lower lip), narrower and dimmer than the upper ones;
- upper teeth: rigid to the skull (head pose only), set back behind the lips,
  so the lips cover and uncover them: a raised upper lip shows more teeth, a
  narrow rounded mouth shows only the central ones;
- light: a shadow under the upper lip, darkening toward the corners and the back,
  a dark band along the inner lip edge, the whole interior dimmer when the lips
  push forward (pucker, funnel) or the mouth is barely open.

Each tooth is drawn on its own: the arch is a parabola in the face frame (unit =
inter-ocular distance), tooth boundaries at the widths of real teeth seen from
the front (`UPPER_TEETH`, `LOWER_TEETH`); per pixel the painter finds the tooth,
darkens softly toward its boundaries (a gap of at least `GAP_MIN_PX`, so at 256
px it is shading, not a 1 px line), rounds its corners at the edge and makes
the edge a little translucent.

Colours come from the portrait, once (`MouthPalette.sample`): teeth, tongue,
cavity and gum are made from the lips' own colour (their brightness in
proportion to the lips' and their red / yellow from the lips' Lab a* b*), so a
black-and-white photo gets grey teeth and a dim photo a dim mouth.

Everything is vectorised numpy/OpenCV on the opening's bounding box; no loop
over pixels or teeth.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar.render.mesh import (
    LIPS_LOWER_INNER,
    LIPS_LOWER_OUTER,
    LIPS_UPPER_INNER,
    LIPS_UPPER_OUTER,
    MOUTH_CORNER_L,
    MOUTH_CORNER_R,
)
from avatar.render.mouth_compose import compose

SUBPIXEL_SHIFT = 3  # draw polygons with 1/8-pixel vertex precision
MIN_OPENING_PX = 0.8  # below this the lips touch: nothing to draw

# Teeth seen from the front, in inter-ocular distances (IOD ~ 63 mm): the
# boundaries from the midline out, after the arch turns each tooth away
# (central incisor 8.5 mm, lateral 6.5, canine 7.5, premolars 7 each at 25-70
# degrees). Lower: incisors 5.4 / 5.9 mm, canine 6.9, premolars 7.
UPPER_TEETH = np.array([0.0, 0.135, 0.229, 0.313, 0.368, 0.403, 0.44])
LOWER_TEETH = np.array([0.0, 0.086, 0.173, 0.257, 0.321, 0.368, 0.42])
# how much shorter each tooth is than the central incisors (IOD), from the midline
# out: laterals are ~1 mm shorter, the canine's tip reaches down again
UPPER_SHORTER = np.array([0.0, 0.016, 0.006, 0.014, 0.02, 0.025])
LOWER_SHORTER = np.array([0.0, 0.004, 0.006, 0.014, 0.02, 0.025])
TOOTH_TIP_POWER = np.array([4.0, 3.0, 1.5, 2.0, 2.0, 2.0])  # edge corner shape by rank
# Depth: the arch follows the curve of the portrait's own inner lips (a parabola
# fitted to their landmark depths), set back behind them. The mesh's depth is a
# warp's, turned about a pivot at the face oval's depth (renderer.py), not the
# neck: teeth as deep as real ones (premolars 2.5 cm behind the incisors) would sit
# behind that pivot and move against the lips on a turn.
TEETH_BEHIND_LIPS = 0.05  # upper incisors' front, behind the inner lips (IOD)
LOWER_BEHIND_UPPER = 0.03  # overjet
UPPER_EDGE_BELOW_LIPS = 0.08  # upper incisal edge below the resting lip line
LOWER_EDGE_BELOW_LIPS = 0.02  # lower incisal edge (behind the upper teeth at rest)
SMILE_ARC = 0.12  # the incisal edges rise toward the back: v -= SMILE_ARC * u^2
CROWN_UPPER, CROWN_LOWER = 0.17, 0.14  # visible crown heights; gum beyond
CORNER_ROUND = 0.22  # tooth corner rounding at the edge, share of the tooth's width
GAP_DARK = 0.3  # darkening at a boundary between teeth: a thin, crisp line ...
GAP_WIDTH = 0.05  # ... this share of the tooth's width ...
GAP_MIN_PX = 1.0  # ... but never narrower than this (px)
CERVICAL_DARK = 0.1  # teeth this much duller toward the gum
TEETH_GLINT = 0.12  # a wet highlight on the upper incisors (share of the way to white)
TOOTH_ROUND = 0.04  # each tooth a little darker toward its sides (more: a picket fence)
EDGE_TRANSLUCENT = 0.018  # IOD above the incisal edge that is translucent
LOWER_DIM = 0.78  # lower teeth are in the lower lip's shadow
TONGUE_HALF_WIDTH = 0.34
SHADOW_UNDER_LIP = 0.25  # darkening just under the upper lip's edge ...
SHADOW_FALLOFF = 0.035  # ... falling off over this many IOD
BAND_DARK = 0.35  # the dark band along the inner lip edge ...
BAND_WIDTH = 0.014  # ... this wide (IOD), at least BAND_MIN_PX
BAND_MIN_PX = 1.0
CORNER_DARK = 0.6  # darkening at the mouth corners
ROUNDED_DIM = 0.45
# Teeth fade into the shade as the inner mouth narrows below GATHER_FROM + GATHER_OVER
# of its resting width, gone at GATHER_FROM (the lips are pushed out in front of them).
GATHER_FROM, GATHER_OVER = 0.6, 0.2
WARM_SHADE = 0.7  # shaded teeth take this share of the cavity's colour  # interior dimming when the lips push forward (pucker + funnel amp 1)

# Colours as (luma over the lips' luma, share of the lips' Lab a*, share of their b*):
# fitted to real talking mouths (docs/renderer.md); teeth get extra yellow.
TEETH_TONE = (1.5, 0.4, 0.6)
TEETH_YELLOW = 0.2
TEETH_SKIN_FLOOR = 0.9  # teeth luma at least this share of the skin's (dark lipstick)
TONGUE_TONE = (0.9, 1.1, 1.0)
CAVITY_TONE = (0.7, 1.5, 1.1)
THROAT_TONE = (0.05, 2.0, 1.2)
DEEP_FROM = 0.3  # the throat starts this share of the half-height in from the lips ...
DEEP_FROM_WIDE = 0.0  # ... and this share when the mouth is wide open
WIDE_SHADE_THROAT = 0.4  # share of the throat's colour in the shade of a wide-open mouth
TEXTURE_AMP = 0.08  # the grain's contrast (share of the colour)
TEXTURE_CELLS = 100.0  # grain cells per IOD
SHADE_TONE = (0.15, 0.8, 0.5)  # (L, a*, b* of the lips') the lips' shadow darkens toward
GUM_TONE = (0.9, 1.0, 0.8)
# A photo showing its teeth (an open smile) gives its own teeth colour: when its
# opening at rest holds this many pixels whose brightest 30 % are this much
# brighter than the lips.
PHOTO_TEETH_MIN_PX = 40
PHOTO_TEETH_OVER_LIPS = 1.25
PHOTO_TEETH_DIM = 0.9

# the three frame points and the teeth anchor points the renderer poses each frame
_N_UPPER, _N_LOWER = 2 * len(UPPER_TEETH) - 1, 2 * len(LOWER_TEETH) - 1
#: Rows of `MouthPainter.anchors`: the skull's frame points, the upper arch's edge at
#: each tooth boundary, the lower arch's, and the jaw's frame points (last three).
UPPER_ANCHORS = slice(3, 3 + _N_UPPER)
LOWER_ANCHORS = slice(3 + _N_UPPER, 3 + _N_UPPER + _N_LOWER)
#: ... then the inner lips where the portrait has them (upper, then lower): posed with
#: the head alone they give the lip gap a head pose makes by itself (a chin-up
#: foreshortens and parts the lips of a photo), which is not an opening to paint
_N_LIPS = len(LIPS_UPPER_INNER) + len(LIPS_LOWER_INNER)
REST_LIPS = slice(3 + _N_UPPER + _N_LOWER, 3 + _N_UPPER + _N_LOWER + _N_LIPS)
JAW_LANDMARK = 18  # below the lower lip, above the chin: moves with the jaw only
SKIN_LANDMARKS = (200, 206, 426)  # chin, cheeks beside the mouth: where skin is sampled


def _chaikin(points: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Corner-cutting subdivision of an open polyline (ends kept): a rounder lip line."""
    for _ in range(rounds):
        a, b = points[:-1], points[1:]
        cut = np.empty((2 * len(a), 2), points.dtype)
        cut[0::2] = 0.75 * a + 0.25 * b
        cut[1::2] = 0.25 * a + 0.75 * b
        points = np.vstack([points[:1], cut, points[-1:]])
    return points


def _poly(points: np.ndarray, offset: np.ndarray) -> np.ndarray:
    return np.round((points - offset) * (1 << SUBPIXEL_SHIFT)).astype(np.int32)


def _clamp(x: float, lo: float, hi: float) -> float:
    """`float(np.clip(x, lo, hi))` for a float: a frame clamps a dozen scalars, and
    np.clip's per-call overhead was more than the work."""
    return min(max(float(x), lo), hi)


def _smoothstep_scalar(x: float) -> float:
    """`_smoothstep` of one float, in the same double arithmetic."""
    x = _clamp(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _surface_texture(size: int = 64, seed: int = 35) -> np.ndarray:
    """A fixed, tileable field of soft grain (mean 0, std 1): the mouth's wet,
    uneven surfaces are not flat paint. Seeded, so every session looks the same."""
    white = np.random.default_rng(seed).standard_normal((size, size)).astype(np.float32)
    # blurred as a 3x3 tiling and cut from the middle: the field wraps without a seam
    grain = cv2.GaussianBlur(np.tile(white, (3, 3)), (0, 0), 0.8)[size:2 * size, size:2 * size]
    return ((grain - grain.mean()) / max(float(grain.std()), 1e-6)).astype(np.float32)


_TEXTURE = _surface_texture()


def inner_lip_gap(xy: np.ndarray) -> np.ndarray:
    """Distance (px) between each upper inner-lip point and its lower partner."""
    return np.linalg.norm(xy[list(LIPS_LOWER_INNER)] - xy[list(LIPS_UPPER_INNER)], axis=1)


_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """Lab (L 0-100, a*, b*) of RGB colours (..., 3) in 0-255."""
    px = (np.asarray(rgb, np.float32).reshape(-1, 1, 3) / 255.0).astype(np.float32)
    return cv2.cvtColor(px, cv2.COLOR_RGB2Lab).reshape(np.shape(rgb))


def _toned(lips_rgb: np.ndarray, tone: tuple[float, float, float],
           yellow: float = 0.0) -> np.ndarray:
    """An RGB colour with `tone` = (luma ratio, a* share, b* share) of the lips' colour."""
    luma_ratio, a_share, b_share = tone
    lab = _lab(lips_rgb)
    chroma = float(np.hypot(lab[1], lab[2]))
    out_lab = np.array([lab[0], a_share * lab[1], b_share * lab[2] + yellow * chroma],
                       np.float32)
    rgb = cv2.cvtColor(out_lab.reshape(1, 1, 3), cv2.COLOR_Lab2RGB).reshape(3) * 255.0
    rgb = np.maximum(rgb, 0.0)
    target = luma_ratio * float(lips_rgb @ _LUMA)
    rgb = rgb * (target / max(float(rgb @ _LUMA), 1e-3))
    if rgb.max() > 255.0:  # keep the hue: scale down rather than clip one channel
        rgb = rgb * (255.0 / rgb.max())
    return rgb.astype(np.float32)


def _lab_toned(lips_rgb: np.ndarray, tone: tuple[float, float, float]) -> np.ndarray:
    """An RGB colour with `tone` = (L ratio, a* share, b* share) of the lips' Lab colour.

    Unlike `_toned` the chroma is set after the lightness, so a dark shade keeps the
    share of the lips' redness asked for (as far as the RGB gamut allows) on light
    and dark lips alike: scaling an RGB colour down to that darkness keeps 0.1-0.5.
    """
    l_ratio, a_share, b_share = tone
    lab = _lab(lips_rgb)
    out_lab = np.array([l_ratio * lab[0], a_share * lab[1], b_share * lab[2]], np.float32)
    # a dark, saturated Lab colour can lie outside RGB: OpenCV clips it per channel,
    # which leaves the darkest red RGB has at that lightness
    rgb = cv2.cvtColor(out_lab.reshape(1, 1, 3), cv2.COLOR_Lab2RGB).reshape(3)
    return (np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.float32)


@dataclass(frozen=True)
class MouthPalette:
    """The mouth's colours (RGB, 0-255 float32), made once from the portrait's lips."""

    lips: np.ndarray
    teeth: np.ndarray
    tongue: np.ndarray
    cavity: np.ndarray
    throat: np.ndarray
    shade: np.ndarray
    gum: np.ndarray

    @classmethod
    def from_lips(cls, lips_rgb: np.ndarray, skin_rgb: np.ndarray | None = None,
                  teeth_rgb: np.ndarray | None = None) -> MouthPalette:
        """Every colour from the lips' median colour (grey lips give a grey mouth).

        The teeth are at least TEETH_SKIN_FLOOR as bright as the skin (`skin_rgb`)
        around the mouth; a photo that shows its own teeth (`teeth_rgb`) gives them
        their colour, a little dimmed (they are lit; the painted ones sit in the mouth).
        """
        lips = np.asarray(lips_rgb, np.float32)
        teeth = _toned(lips, TEETH_TONE, TEETH_YELLOW)
        if skin_rgb is not None:
            floor = TEETH_SKIN_FLOOR * float(np.asarray(skin_rgb, np.float32) @ _LUMA)
            luma = float(teeth @ _LUMA)
            if luma < floor:
                teeth = np.minimum(teeth * (floor / max(luma, 1e-3)), 255.0).astype(np.float32)
        if teeth_rgb is not None:  # the photo's own teeth: half their hue, their brightness
            photo = np.asarray(teeth_rgb, np.float32)
            luma = max(PHOTO_TEETH_DIM * float(photo @ _LUMA), float(teeth @ _LUMA))
            mixed = 0.5 * photo / max(float(photo @ _LUMA), 1e-3) \
                + 0.5 * teeth / max(float(teeth @ _LUMA), 1e-3)
            teeth = np.minimum(mixed * luma, 255.0).astype(np.float32)
        return cls(lips=lips, teeth=teeth,
                   tongue=_toned(lips, TONGUE_TONE), cavity=_toned(lips, CAVITY_TONE),
                   throat=_toned(lips, THROAT_TONE), shade=_lab_toned(lips, SHADE_TONE),
                   gum=_toned(lips, GUM_TONE))

    @classmethod
    def sample(cls, image: np.ndarray, landmarks: np.ndarray) -> MouthPalette:
        """Sample the lips of `image` (H, W, 3 RGB) between the outer and inner lip lines."""
        h, w = image.shape[:2]
        lm = np.asarray(landmarks, np.float64)[:, :2]
        outer = np.vstack([lm[list(LIPS_UPPER_OUTER)], lm[list(LIPS_LOWER_OUTER[-2:0:-1])]])
        inner = np.vstack([lm[list(LIPS_UPPER_INNER)], lm[list(LIPS_LOWER_INNER[-2:0:-1])]])
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [np.round(outer).astype(np.int32)], 1)
        cv2.fillPoly(mask, [np.round(inner).astype(np.int32)], 0)
        lips = cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)
        if lips.sum() < 8:  # a tiny face: the lip landmarks' own pixels
            ys = np.clip(np.round(outer[:, 1]).astype(int), 0, h - 1)
            xs = np.clip(np.round(outer[:, 0]).astype(int), 0, w - 1)
            pixels = image[ys, xs]
        else:
            pixels = image[lips]
        # skin: small discs on the chin and the cheeks beside the mouth
        skin = np.zeros((h, w), np.uint8)
        radius = max(1, int(round(0.06 * float(np.linalg.norm(lm[263] - lm[33])))))
        for index in SKIN_LANDMARKS:
            cv2.circle(skin, tuple(int(v) for v in np.round(lm[index])), radius, 1, -1)
        skin_pixels = image[skin.astype(bool)].reshape(-1, 3).astype(np.float32)
        lips_rgb = np.median(pixels.reshape(-1, 3).astype(np.float32), axis=0)
        # teeth the photo shows between its parted lips (a smile with teeth)
        opening = np.zeros((h, w), np.uint8)
        cv2.fillPoly(opening, [np.round(inner).astype(np.int32)], 1)
        shown = image[cv2.erode(opening, np.ones((3, 3), np.uint8)).astype(bool)]
        teeth_rgb = None
        if len(shown) >= PHOTO_TEETH_MIN_PX:
            luma = shown.astype(np.float32) @ _LUMA
            bright = shown[luma >= np.percentile(luma, 70)].astype(np.float32)
            if float(np.median(bright @ _LUMA)) > PHOTO_TEETH_OVER_LIPS * float(lips_rgb @ _LUMA):
                teeth_rgb = np.median(bright, axis=0)
        return cls.from_lips(lips_rgb,
                             np.median(skin_pixels, axis=0) if len(skin_pixels) else None,
                             teeth_rgb)


def _arch(bounds: np.ndarray, edge_v: float, depth: float, curve: float) -> np.ndarray:
    """(2n-1, 3) face-unit (u, v, depth) points on an arch's edge at the tooth
    boundaries; depth = `depth` + `curve` u^2."""
    u = np.concatenate([-bounds[:0:-1], bounds])
    v = edge_v - SMILE_ARC * u * u
    return np.stack([u, v, depth + curve * u * u], axis=1)


class MouthPainter:
    """Paints the mouth interior of one portrait's frames (see the module docstring).

    Built once per portrait from its warp-mesh rest positions `xy0` (N, 2),
    depths `z0` (N,), face frame, and the actuator basis (K, N, 2) (the jaw
    actuators' displacement of `JAW_LANDMARK` moves the lower teeth). Each frame
    the renderer poses `anchors(amps)` with the head pose (avatar/render/renderer.py)
    and calls `paint`.
    """

    def __init__(self, image: np.ndarray, xy0: np.ndarray, z0: np.ndarray,
                 origin: np.ndarray, ex: np.ndarray, ey: np.ndarray, iod: float,
                 basis: np.ndarray) -> None:
        self.iod = float(iod)
        self.palette = MouthPalette.sample(image, xy0[:478])
        self.rest_gap = inner_lip_gap(xy0)
        self.rest_width = float(np.linalg.norm(xy0[LIPS_UPPER_INNER[-1]] - xy0[LIPS_UPPER_INNER[0]]))
        up, lo = xy0[13].astype(np.float64), xy0[14].astype(np.float64)
        centre = (xy0[MOUTH_CORNER_L] + xy0[MOUTH_CORNER_R]).astype(np.float64) / 2.0
        ex, ey = np.asarray(ex, np.float64), np.asarray(ey, np.float64)
        # the mouth's own frame: origin on the resting lip line at the mouth's centre
        stomion = (up + lo) / 2.0
        self._origin = centre + ey * float((stomion - centre) @ ey)
        self._ex, self._ey = ex, ey
        # the inner lips' depth across the mouth: z = lip_depth + curve u^2 (face units)
        inner = list(LIPS_UPPER_INNER) + list(LIPS_LOWER_INNER[1:-1])
        lip_u = (xy0[inner].astype(np.float64) - self._origin) @ ex / self.iod
        lip_z = z0[inner].astype(np.float64) / self.iod
        design = np.stack([np.ones_like(lip_u), lip_u * lip_u], axis=1)
        (lip_depth, curve), *_ = np.linalg.lstsq(design, lip_z, rcond=None)
        lip_depth, curve = float(lip_depth) * self.iod, float(np.clip(curve, 0.0, 3.0))
        teeth_depth = TEETH_BEHIND_LIPS * self.iod
        upper = _arch(UPPER_TEETH, UPPER_EDGE_BELOW_LIPS, 0.0, curve)
        lower = _arch(LOWER_TEETH, LOWER_EDGE_BELOW_LIPS, LOWER_BEHIND_UPPER, curve)
        frame_pts = np.array([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.1, 0.0]])
        uvd = np.vstack([frame_pts, upper, lower])  # (3 + 2 * arch points, 3)
        xy = self._origin + (uvd[:, :1] * ex + uvd[:, 1:2] * ey) * self.iod
        z = lip_depth + teeth_depth + uvd[:, 2] * self.iod
        lips = list(LIPS_UPPER_INNER) + list(LIPS_LOWER_INNER)
        self._anchor_xy = np.vstack([xy, xy0[lips]]).astype(np.float32)
        self._anchor_z = np.concatenate([z, z0[lips]]).astype(np.float32)
        # lower-arch anchors (and a copy of the frame, last) follow the jaw
        self._jaw = np.zeros(len(self._anchor_xy) + 3, bool)
        self._jaw[LOWER_ANCHORS] = True
        self._jaw[-3:] = True
        self._anchor_xy = np.vstack([self._anchor_xy, self._anchor_xy[:3]])
        self._anchor_z = np.concatenate([self._anchor_z, self._anchor_z[:3]])
        self._jaw_field = np.asarray(basis, np.float32)[:, JAW_LANDMARK, :]  # (K, 2)
        self._upper_bounds = UPPER_TEETH
        self._lower_bounds = LOWER_TEETH

    # ------------------------------------------------------------------ per frame
    def anchors(self, amps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rest positions (M, 2) and depths (M,) of the anchors for these amplitudes,
        before the head pose: the lower arch moved by the jaw actuators."""
        xy = self._anchor_xy.copy()
        xy[self._jaw] += np.asarray(amps, np.float32) @ self._jaw_field
        return xy, self._anchor_z

    def paint(self, image: np.ndarray, xy: np.ndarray, anchors: np.ndarray,
              rounding: float = 0.0) -> None:
        """Paint the interior inside the inner-lip opening of `image` (RGB), in place.

        `xy` are the warped (N, 2) vertex positions whose first 478 rows are the
        landmarks, `anchors` the posed (M, 2) `anchors`, `rounding` the lips'
        push forward (pucker + funnel amplitude, 0-1): the interior dims.
        """
        upper_lip = xy[list(LIPS_UPPER_INNER)].astype(np.float64)
        lower_lip = xy[list(LIPS_LOWER_INNER)].astype(np.float64)
        rest = np.asarray(anchors, np.float64)[REST_LIPS]
        rest_gap = np.linalg.norm(rest[len(LIPS_UPPER_INNER):] - rest[:len(LIPS_UPPER_INNER)],
                                  axis=1)
        opening = np.linalg.norm(lower_lip - upper_lip, axis=1) - np.maximum(self.rest_gap,
                                                                           rest_gap)
        if opening.max() < MIN_OPENING_PX:
            return
        fade = _clamp((opening.max() - MIN_OPENING_PX) / 3.0, 0.0, 1.0)
        upper_s, lower_s = _chaikin(upper_lip), _chaikin(lower_lip)
        outline = np.vstack([upper_s, lower_s[-2:0:-1]])
        h, w = image.shape[:2]
        x0 = max(int(np.floor(outline[:, 0].min())) - 2, 0)
        y0 = max(int(np.floor(outline[:, 1].min())) - 2, 0)
        x1 = min(int(np.ceil(outline[:, 0].max())) + 3, w)
        y1 = min(int(np.ceil(outline[:, 1].max())) + 3, h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        off = np.array([x0, y0], np.float64)
        bh, bw = y1 - y0, x1 - x0
        mask = np.zeros((bh, bw), np.uint8)
        cv2.fillPoly(mask, [_poly(outline, off)], 255, cv2.LINE_AA, SUBPIXEL_SHIFT)

        # Local face coordinates (u right, v down, IOD units) of every pixel, from
        # the posed frame points: the skull's for the upper teeth, the jaw's for the lower.
        anchors = np.asarray(anchors, np.float64)
        skull = self._local(anchors[:3], off)
        jaw = self._local(anchors[-3:], off)
        ppu = skull[2]  # pixels per face unit
        xs = np.arange(bw, dtype=np.float32)[None, :]
        ys = np.arange(bh, dtype=np.float32)[:, None]
        u, v = self._uv(skull, xs, ys)
        uj, vj = self._uv(jaw, xs, ys)
        up_pts = self._to_uv(skull, anchors[UPPER_ANCHORS] - off)
        lo_pts = self._to_uv(jaw, anchors[LOWER_ANCHORS] - off)
        lip_up_uv = self._to_uv(skull, upper_s - off)

        dist = cv2.distanceTransform((mask > 127).astype(np.uint8), cv2.DIST_L2, 3)
        height_px = max(float(dist.max()), 1.0)  # half the opening's height, about
        pal = self.palette

        # cavity: lit near the lips, the throat deep inside
        half = max(float(np.ptp(lip_up_uv[:, 0])) / 2.0, 1e-3)
        centre_u = float(lip_up_uv[:, 0].min()) + half
        side = np.abs(u - centre_u) / half  # 0 at the centre, 1 at the corners
        # a wide mouth shows more of the dark back: the throat starts nearer the lips
        open_units = float(opening.max()) / ppu  # the opening's height, face units
        wide = _smoothstep_scalar((open_units - 0.08) / 0.15)
        deep_from = DEEP_FROM * (1.0 - wide) + DEEP_FROM_WIDE * wide
        deep = (0.55 * _smoothstep((dist / height_px - deep_from) / (1.0 - deep_from))
                + 0.45 * _smoothstep((side - 0.3) / 0.6))

        # tongue: a mound on the jaw behind the lower teeth, higher as the jaw drops
        drop = max(float((anchors[-3] - anchors[0]) @ self._unit_down(skull)), 0.0) / ppu
        lower_edge_v = float(np.interp(0.0, lo_pts[:, 0], lo_pts[:, 1]))
        top = (lower_edge_v - (0.03 + 0.4 * drop) + 0.12 * (uj / TONGUE_HALF_WIDTH) ** 2
               + 0.1 * (uj / TONGUE_HALF_WIDTH) ** 6)
        edges = _smoothstep((TONGUE_HALF_WIDTH - np.abs(uj)) * ppu / 3.0)
        tongue_a = _smoothstep((vj - top) * ppu / 2.0 + 0.5) * edges
        groove = 1.0 - 0.16 * np.exp(-((uj * ppu) / max(1.5, 0.035 * ppu)) ** 2) \
            * (1.0 - _smoothstep((vj - top - 0.03) / 0.1))
        glint = 0.18 * np.exp(-((uj / 0.12) ** 2 + ((vj - top - 0.05) / 0.035) ** 2))
        back = 0.72 + 0.28 * _smoothstep((vj - top) / 0.07)
        tongue_light = back * groove + glint

        # grain on the soft tissue, fixed to the skull (moves with the head, never
        # shimmers): a wet, uneven inside is not flat paint; the teeth stay smooth
        size = _TEXTURE.shape[0]
        grain = cv2.remap(_TEXTURE, np.mod(u * TEXTURE_CELLS, size).astype(np.float32),
                          np.mod(v * TEXTURE_CELLS, size).astype(np.float32),
                          cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        grain = 1.0 + TEXTURE_AMP * grain * (1.0 - 0.6 * deep)

        # lower teeth (jaw), then upper teeth (skull) in front of them; when the lips
        # gather (the inner mouth narrows) they push forward and the teeth sink into
        # the shade behind them: an "oo" is a dark hole
        width = float(np.linalg.norm(upper_lip[-1] - upper_lip[0]))
        gather = 1.0 - _clamp((width / max(self.rest_width, 1e-3) - GATHER_FROM) / GATHER_OVER,
                              0.0, 1.0)
        shown = 1.0 - gather
        lower = self._teeth(uj, vj, lo_pts, ppu, upper=False)
        lower[2] *= shown
        upper = self._teeth(u, v, up_pts, ppu, upper=True)
        upper[2] *= shown

        # light: shadow under the upper lip, dark corners, dark inner-lip band
        order = np.argsort(lip_up_uv[:, 0])
        lip_v = np.interp(u, lip_up_uv[order, 0], lip_up_uv[order, 1])
        below = np.maximum(v - lip_v, 0.0)
        light = 1.0 - SHADOW_UNDER_LIP * np.exp(-below / SHADOW_FALLOFF)
        band = max(BAND_MIN_PX, BAND_WIDTH * ppu)
        light = light * (1.0 - BAND_DARK * np.exp(-((dist / band) ** 2)))
        # a narrow opening lets in less light; a wide one shows the dark back, so its
        # shade leans to the throat
        shade_rgb = pal.shade + (pal.throat - pal.shade) * (WIDE_SHADE_THROAT * wide)
        light = light * (0.85 + 0.15 * _smoothstep_scalar(open_units / 0.12))
        # shadows go toward a dark red, not to black: a mouth's shade is red;
        # the corners are deep and dark (the landmarker, like an eye, finds the
        # mouth's corners by them)
        corner = 1.0 - CORNER_DARK * _smoothstep((side - 0.5) / 0.5)
        # lips pushed forward hide the light: an "oo" is a dark (red) hole
        forward = max(_clamp(rounding, 0.0, 1.0), gather)
        dim = 1.0 - ROUNDED_DIM * forward
        colours = np.stack([pal.cavity, pal.throat, pal.tongue, pal.teeth, pal.gum,
                            pal.shade * (1.0 - LOWER_DIM), shade_rgb,
                            shade_rgb * (1.0 - dim)])
        alpha = mask.astype(np.float32) * (fade / 255.0)
        # every colour layer and the blend into the frame in one compiled pass
        # (avatar/render/mouth_compose.py)
        compose(image[y0:y1, x0:x1], colours, deep, tongue_light, tongue_a, grain, lower,
                upper, light, corner, dim, alpha, WARM_SHADE, LOWER_DIM)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _local(frame_pts: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(origin in ROI px, inverse 2x2 map px -> face units, px per unit) of posed frame
        points (origin, origin + 0.1 u, origin + 0.1 v)."""
        o = frame_pts[0] - off
        axes = np.stack([frame_pts[1] - frame_pts[0], frame_pts[2] - frame_pts[0]], axis=1) / 0.1
        inverse = np.linalg.inv(axes)
        return o, inverse, float(np.linalg.norm(axes[:, 0]))

    @staticmethod
    def _uv(local: tuple[np.ndarray, np.ndarray, float], xs: np.ndarray,
            ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        o, inv, _ = local
        dx, dy = xs - np.float32(o[0]), ys - np.float32(o[1])
        inv32 = inv.astype(np.float32)
        return inv32[0, 0] * dx + inv32[0, 1] * dy, inv32[1, 0] * dx + inv32[1, 1] * dy

    @staticmethod
    def _to_uv(local: tuple[np.ndarray, np.ndarray, float], pts: np.ndarray) -> np.ndarray:
        o, inv, _ = local
        return (np.asarray(pts, np.float64) - o) @ inv.T

    @staticmethod
    def _unit_down(local: tuple[np.ndarray, np.ndarray, float]) -> np.ndarray:
        """Image direction of +v (down the face), unit length."""
        axes = np.linalg.inv(local[1])
        down = axes[:, 1]
        return down / max(float(np.linalg.norm(down)), 1e-9)

    def _teeth(self, u: np.ndarray, v: np.ndarray, edge_pts: np.ndarray, ppu: float,
               upper: bool) -> np.ndarray:
        """The fields (float64) one arch of individual teeth is coloured by: its shade,
        gum cover and coverage (3, h, w), and for the upper arch its glint (4, h, w).

        Fields, not colours: `mouth_compose.compose` mixes the colours per pixel
        (the (h, w, 3) colour steps were the painter's costliest calls)."""
        bu = np.maximum.accumulate(edge_pts[:, 0])  # a strong turn may fold the far side
        bv = edge_pts[:, 1]
        k = np.clip(np.searchsorted(bu, u), 1, len(bu) - 1)
        left, right = bu[k - 1], bu[k]
        width = np.maximum(right - left, 1e-4)
        t = (u - left) / width * 2.0 - 1.0  # -1 .. 1 across the tooth
        rank = (np.abs(k - (len(bu) - 1) / 2.0) - 0.5).astype(np.intp)  # 0: central incisor
        shorter = (UPPER_SHORTER if upper else LOWER_SHORTER)[rank]
        sign = 1.0 if upper else -1.0  # upper teeth hang down to their edge, lower rise
        # corners rounded at the edge; the canine (rank 2) comes to a point
        corner = np.abs(t) ** TOOTH_TIP_POWER[rank]
        edge = np.interp(u, bu, bv) - sign * (shorter + CORNER_ROUND * width * corner)
        inside = (edge - v) * sign  # > 0 on the tooth, in face units
        crown = CROWN_UPPER if upper else CROWN_LOWER
        # edges 1 px soft at 512, 1.5 px at 256: a small mouth shows no hard 1 px notches
        soft = 1.0 + 0.5 * _clamp((90.0 - ppu) / 40.0, 0.0, 1.0)
        cover = _smoothstep(inside * ppu / soft + 0.5)
        in_arch = (u > bu[0]) & (u < bu[-1])
        cover = cover * in_arch
        gum = _smoothstep((inside - crown) * ppu + 0.5)
        # gaps: soft darkening toward the boundaries, at least GAP_MIN_PX wide (x1.5 at 256)
        d_px = np.minimum(u - left, right - u) * ppu
        sigma = np.maximum(GAP_MIN_PX * soft, GAP_WIDTH * width * ppu)  # wider when small
        shade = 1.0 - GAP_DARK * np.exp(-((d_px / sigma) ** 2))
        shade = shade * (1.0 - TOOTH_ROUND * t * t)  # each tooth rounder: darker at its sides
        # the back teeth turn away and sit deeper in the mouth
        shade = shade * (1.0 - 0.25 * _smoothstep((np.abs(u) - 0.12) / 0.3))
        translucent = 1.0 - 0.1 * np.exp(-np.maximum(inside, 0.0) / EDGE_TRANSLUCENT)
        # enamel: duller toward the gum (the neck of a tooth is thinner enamel over
        # yellower dentine); shaded toward the cavity's warm colour rather than to grey
        # (in the mouth the teeth are lit by light bounced off the red inside)
        height = np.clip(inside / crown, 0.0, 1.0)  # 0 at the edge, 1 at the gum
        neck = 1.0 - CERVICAL_DARK * _smoothstep((height - 0.45) / 0.55)
        shade = shade * translucent * neck
        gum_and_cover = (shade, gum, cover)
        if not upper:
            return np.stack(gum_and_cover)
        # a wet highlight on the front teeth's middle third
        glint = TEETH_GLINT * np.exp(-((t / 0.3) ** 2 + ((height - 0.5) / 0.22) ** 2)) \
            * (rank <= 1)
        return np.stack((*gum_and_cover, glint))
