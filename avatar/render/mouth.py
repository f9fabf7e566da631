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
darkens softly toward its boundaries (a gap of at least `mouth_fields.GAP_MIN_PX`,
so at 256 px it is shading, not a 1 px line), rounds its corners at the edge and
makes the edge a little translucent (the per-pixel shapes: mouth_fields.py).

Colours come from the portrait, once (`MouthPalette.sample`): teeth, tongue,
cavity and gum are made from the lips' own colour (their brightness in
proportion to the lips' and their red / yellow from the lips' Lab a* b*), so a
black-and-white photo gets grey teeth and a dim photo a dim mouth.

Per frame the painter poses its frames, arches and lip line in Python; the
per-pixel work (every field, the colours, the blend) is one compiled pass over the
opening's bounding box that releases the GIL (avatar/render/mouth_compose.py, its
fields in avatar/render/mouth_fields.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

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
from avatar.render.mouth_compose import MouthFrame, paint_interior

SUBPIXEL_SHIFT = 3  # draw polygons with 1/8-pixel vertex precision
# The opening's mask and its distance to the lips' edge are made at this many times the
# frame's resolution and averaged down: an edge's coverage and the dark band along it
# follow the smooth lip line, not the pixel grid's steps (at 1x the band, drawn from a
# binary mask's distance, was a stair-stepped dark rim at 512 px).
SUPERSAMPLE = 3
MIN_OPENING_PX = 0.8  # below this the lips touch: nothing to draw

# Teeth seen from the front, in inter-ocular distances (IOD ~ 63 mm): the
# boundaries from the midline out, after the arch turns each tooth away
# (central incisor 8.5 mm, lateral 6.5, canine 7.5, premolars 7 each at 25-70
# degrees). Lower: incisors 5.4 / 5.9 mm, canine 6.9, premolars 7.
UPPER_TEETH = np.array([0.0, 0.135, 0.229, 0.313, 0.368, 0.403, 0.44])
LOWER_TEETH = np.array([0.0, 0.086, 0.173, 0.257, 0.321, 0.368, 0.42])
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
LOWER_DIM = 0.78  # lower teeth are in the lower lip's shadow
BAND_WIDTH = 0.014  # the dark band along the inner lip edge: this wide (IOD), at least ...
BAND_MIN_PX = 1.0  # ... this many px
ROUNDED_DIM = 0.45  # interior dimming when the lips push forward (pucker + funnel amp 1)
# share of the teeth the lips pushed forward hide, from no rounding below HIDE_FROM
# (pucker + funnel amplitude; the calibration mixes a little into any opening) up to
# ROUNDED_HIDES at 1
ROUNDED_HIDES, HIDE_FROM = 0.8, 0.25
# Lips turned out (`MouthPainter.evert`) show their wet inner red: the lips take this
# share of the way to EVERT_TONE (L, a*, b* of the lips' Lab colour) at full rounding.
EVERT_TONE = (0.85, 1.35, 1.1)
EVERT_TINT = 0.55
# The tint's edge is feathered by this share of the inter-ocular distance (0.8 px at 512 px
# on a face 105 px between the eyes): a fixed part of the face, so a frame drawn at any
# size shows the same tint (a fixed 0.8 px was twice as soft at 512 as at 1024).
EVERT_FEATHER_IOD = 0.8 / 105.0
# Teeth fade into the shade as the inner mouth narrows below GATHER_FROM + GATHER_OVER
# of its resting width, gone at GATHER_FROM (the lips are pushed out in front of them).
GATHER_FROM, GATHER_OVER = 0.6, 0.2
WARM_SHADE = 0.7  # shaded teeth take this share of the cavity's colour

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


@lru_cache(maxsize=8)
def _chaikin_map(n: int, rounds: int) -> np.ndarray:
    """The (m, n) linear map `_chaikin` applies to n points (read-only)."""
    points = np.eye(n)
    for _ in range(rounds):
        a, b = points[:-1], points[1:]
        cut = np.empty((2 * len(a), n))
        cut[0::2] = 0.75 * a + 0.25 * b
        cut[1::2] = 0.25 * a + 0.75 * b
        points = np.vstack([points[:1], cut, points[-1:]])
    points.flags.writeable = False
    return points


def _chaikin(points: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Corner-cutting subdivision of an open polyline (ends kept): a rounder lip line.
    Linear in the points, so one product with a cached map (few calls under the GIL)."""
    return _chaikin_map(len(points), rounds) @ points


def _poly(points: np.ndarray, offset: np.ndarray) -> np.ndarray:
    return np.round((points - offset) * (1 << SUBPIXEL_SHIFT)).astype(np.int32)


def _coverage(outline: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 coverage 0-255, float32 px from the edge) of the polygon `outline` (box px)
    in a box of `shape`, each made at SUPERSAMPLE x and averaged down (INTER_AREA)."""
    h, w = shape
    k = SUPERSAMPLE
    fine = np.zeros((h * k, w * k), np.uint8)
    # a box pixel i spans k fine pixels whose centres average to i: x_fine = k x + (k - 1) / 2
    cv2.fillPoly(fine, [_poly(outline * k + (k - 1) / 2.0, np.zeros(2))], 255, cv2.LINE_AA,
                 SUBPIXEL_SHIFT)
    dist = cv2.distanceTransform((fine > 127).astype(np.uint8), cv2.DIST_L2, 3)
    mask = cv2.resize(fine, (w, h), interpolation=cv2.INTER_AREA)
    dist = cv2.resize(dist, (w, h), interpolation=cv2.INTER_AREA) * (1.0 / k)
    return mask, dist


def _clamp(x: float, lo: float, hi: float) -> float:
    """`float(np.clip(x, lo, hi))` for a float: a frame clamps a dozen scalars, and
    np.clip's per-call overhead was more than the work."""
    return min(max(float(x), lo), hi)


def _smoothstep_scalar(x: float) -> float:
    """Hermite step of one float clamped to 0-1."""
    x = _clamp(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _f64(values: np.ndarray) -> np.ndarray:
    """Contiguous float64: the compiled pass's one array type (no recompiles)."""
    return np.ascontiguousarray(values, np.float64)


def _frame_map(local: tuple[np.ndarray, np.ndarray, float]) -> np.ndarray:
    """A posed face frame (`MouthPainter._local`) as the compiled pass reads it:
    origin x, y, then the 2x2 map px -> face units row by row."""
    o, inverse, _ = local
    return _f64(np.concatenate([o, inverse.ravel()]))


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


@dataclass(frozen=True)
class LipOpening:
    """One frame's opening between the inner lips: what the per-pixel work paints into."""

    upper_lip: np.ndarray  # (n, 2) px, the warped inner upper lip
    upper_s: np.ndarray  # ... smoothed (`_chaikin`)
    height: float  # px, the widest opening beyond the rest gap
    fade: float  # the interior's opacity: 0 at MIN_OPENING_PX, 1 from 3 px wider
    box: tuple[slice, slice]  # rows, columns: the opening's box in the image
    off: np.ndarray  # (x0, y0), float64
    mask: np.ndarray  # (y1 - y0, x1 - x0) uint8: 255 inside the smoothed lips
    dist: np.ndarray  # (y1 - y0, x1 - x0) float32: px from the lips' edge (0 outside)


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
        lips_rgb = np.maximum(self.palette.lips, 1.0)
        #: per channel, what the wet inner red of a turned-out lip is over the lips' colour
        self._evert_gain = (_lab_toned(lips_rgb, EVERT_TONE) / lips_rgb - 1.0).astype(np.float32)

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
        lips = self._opening(image.shape, xy, anchors)
        if lips is None:
            return
        off, mask, upper_s = lips.off, lips.mask, lips.upper_s
        # Local face coordinates (u right, v down, IOD units), from the posed frame
        # points: the skull's for the upper teeth, the jaw's for the lower.
        anchors = np.asarray(anchors, np.float64)
        skull = self._local(anchors[:3], off)
        jaw = self._local(anchors[-3:], off)
        ppu = skull[2]  # pixels per face unit
        up_pts = self._to_uv(skull, anchors[UPPER_ANCHORS] - off)
        lo_pts = self._to_uv(jaw, anchors[LOWER_ANCHORS] - off)
        lip_up_uv = self._to_uv(skull, upper_s - off)

        dist = lips.dist
        pal = self.palette
        # the lips' centre and half width, for the distance to the corners
        half = max(float(np.ptp(lip_up_uv[:, 0])) / 2.0, 1e-3)
        # a wide mouth shows more of the dark back: the throat starts nearer the lips
        open_units = lips.height / ppu  # the opening's height, face units
        wide = _smoothstep_scalar((open_units - 0.08) / 0.15)
        # the tongue: a mound on the jaw behind the lower teeth, higher as the jaw drops
        drop = max(float((anchors[-3] - anchors[0]) @ self._unit_down(anchors[:3])), 0.0) / ppu
        lower_edge_v = float(np.interp(0.0, lo_pts[:, 0], lo_pts[:, 1]))
        # when the lips gather (the inner mouth narrows) they push forward and the
        # teeth sink into the shade behind them: an "oo" is a dark hole
        width = float(np.linalg.norm(lips.upper_lip[-1] - lips.upper_lip[0]))
        gather = 1.0 - _clamp((width / max(self.rest_width, 1e-3) - GATHER_FROM) / GATHER_OVER,
                              0.0, 1.0)
        # a wide opening shows the dark back, so its shade leans to the throat; shadows
        # go toward a dark red, not to black: a mouth's shade is red
        shade_rgb = pal.shade + (pal.throat - pal.shade) * (WIDE_SHADE_THROAT * wide)
        # lips pushed forward hide the light: an "oo" is a dark (red) hole
        dim = 1.0 - ROUNDED_DIM * max(_clamp(rounding, 0.0, 1.0), gather)
        colours = np.stack([pal.cavity, pal.throat, pal.tongue, pal.teeth, pal.gum,
                            pal.shade * (1.0 - LOWER_DIM), shade_rgb,
                            shade_rgb * (1.0 - dim)]).astype(np.float64)
        order = np.argsort(lip_up_uv[:, 0])
        frame = MouthFrame(
            skull=_frame_map(skull), jaw=_frame_map(jaw), ppu=ppu,
            height_px=max(float(dist.max()), 1.0), centre_u=float(lip_up_uv[:, 0].min()) + half,
            half=half, deep_from=DEEP_FROM * (1.0 - wide) + DEEP_FROM_WIDE * wide,
            tongue_top=lower_edge_v - (0.03 + 0.4 * drop),
            shown=1.0 - max(gather, ROUNDED_HIDES * _smoothstep_scalar(
                (rounding - HIDE_FROM) / (1.0 - HIDE_FROM))),
            upper_u=np.maximum.accumulate(up_pts[:, 0]), upper_v=_f64(up_pts[:, 1]),
            lower_u=np.maximum.accumulate(lo_pts[:, 0]), lower_v=_f64(lo_pts[:, 1]),
            lip_u=_f64(lip_up_uv[order, 0]), lip_v=_f64(lip_up_uv[order, 1]),
            band=max(BAND_MIN_PX, BAND_WIDTH * ppu),
            open_light=0.85 + 0.15 * _smoothstep_scalar(open_units / 0.12),
            colours=colours, dim=dim, alpha=lips.fade, grain_amp=float(TEXTURE_AMP),
            warm=WARM_SHADE, lower_dim=LOWER_DIM)
        # every field, colour and the blend into the frame: one compiled pass
        # without the GIL (avatar/render/mouth_compose.py)
        paint_interior(image[lips.box], mask, dist, _TEXTURE, frame)

    def evert(self, image: np.ndarray, xy: np.ndarray, amount: float) -> None:
        """Tint the lips of `image` (RGB, in place) toward the wet red of lips turned out,
        `amount` (0-1) of EVERT_TINT, between the warped outer and inner lip lines of `xy`
        (anti-aliased, feathered by `EVERT_FEATHER_IOD` of the face): the texture stays,
        the colour shifts."""
        if amount <= 0.01:
            return
        outer = np.vstack([xy[list(LIPS_UPPER_OUTER)], xy[list(LIPS_LOWER_OUTER[-2:0:-1])]])
        inner = np.vstack([xy[list(LIPS_UPPER_INNER)], xy[list(LIPS_LOWER_INNER[-2:0:-1])]])
        h, w = image.shape[:2]
        x0 = max(int(np.floor(outer[:, 0].min())) - 3, 0)
        y0 = max(int(np.floor(outer[:, 1].min())) - 3, 0)
        x1 = min(int(np.ceil(outer[:, 0].max())) + 4, w)
        y1 = min(int(np.ceil(outer[:, 1].max())) + 4, h)
        if x1 - x0 < 3 or y1 - y0 < 3:
            return
        off = np.array([x0, y0], np.float64)
        ring = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(ring, [_poly(outer, off)], 255, cv2.LINE_AA, SUBPIXEL_SHIFT)
        cv2.fillPoly(ring, [_poly(inner, off)], 0, cv2.LINE_AA, SUBPIXEL_SHIFT)
        weight = cv2.GaussianBlur(ring, (0, 0), EVERT_FEATHER_IOD * self.iod).astype(np.float32) \
            * (EVERT_TINT * min(float(amount), 1.0) / 255.0)
        roi = image[y0:y1, x0:x1]
        gain = 1.0 + weight[..., None] * self._evert_gain
        roi[...] = np.clip(roi.astype(np.float32) * gain, 0.0, 255.0).astype(np.uint8)

    # ------------------------------------------------------------------ helpers
    def _opening(self, shape: tuple[int, ...], xy: np.ndarray,
                 anchors: np.ndarray) -> LipOpening | None:
        """The inner lips' opening beyond their rest gap in an image of `shape` (None: they
        touch); the numpy reference shares it (benchkit/face/numpy_mouth.py)."""
        upper_lip = xy[list(LIPS_UPPER_INNER)].astype(np.float64)
        lower_lip = xy[list(LIPS_LOWER_INNER)].astype(np.float64)
        # where the lips press past each other (a gathered mouth closing at its
        # corners) there is no opening: the lower lip is held at the upper one, or the
        # crossed polygon would paint dark slits out to the corners
        across = upper_lip[-1] - upper_lip[0]
        down = np.array([-across[1], across[0]]) / max(float(np.hypot(*across)), 1e-9)
        past = np.minimum((lower_lip - upper_lip) @ down, 0.0)
        lower_lip = lower_lip - past[:, None] * down
        rest = np.asarray(anchors, np.float64)[REST_LIPS]
        rest_gap = np.linalg.norm(rest[len(LIPS_UPPER_INNER):] - rest[:len(LIPS_UPPER_INNER)],
                                  axis=1)
        opening = np.linalg.norm(lower_lip - upper_lip, axis=1) - np.maximum(self.rest_gap, rest_gap)
        if opening.max() < MIN_OPENING_PX:
            return None
        fade = _clamp((opening.max() - MIN_OPENING_PX) / 3.0, 0.0, 1.0)
        upper_s, lower_s = _chaikin(upper_lip), _chaikin(lower_lip)
        outline = np.vstack([upper_s, lower_s[-2:0:-1]])
        x0 = max(int(np.floor(outline[:, 0].min())) - 2, 0)
        y0 = max(int(np.floor(outline[:, 1].min())) - 2, 0)
        x1 = min(int(np.ceil(outline[:, 0].max())) + 3, shape[1])
        y1 = min(int(np.ceil(outline[:, 1].max())) + 3, shape[0])
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        off = np.array([x0, y0], np.float64)
        mask, dist = _coverage(outline - off, (y1 - y0, x1 - x0))
        return LipOpening(upper_lip, upper_s, float(opening.max()), fade,
                          (slice(y0, y1), slice(x0, x1)), off, mask, dist)

    @staticmethod
    def _local(frame_pts: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(origin in ROI px, inverse 2x2 map px -> face units, px per unit) of posed frame
        points (origin, origin + 0.1 u, origin + 0.1 v); float arithmetic, not numpy
        calls (a frame's prep holds the GIL)."""
        (x0, y0), (x1, y1), (x2, y2) = np.asarray(frame_pts, np.float64).tolist()
        ux, uy, vx, vy = (x1 - x0) / 0.1, (y1 - y0) / 0.1, (x2 - x0) / 0.1, (y2 - y0) / 0.1
        det = ux * vy - vx * uy
        inverse = np.array([[vy / det, -vx / det], [-uy / det, ux / det]])
        origin = np.array([x0 - float(off[0]), y0 - float(off[1])])
        return origin, inverse, math.hypot(ux, uy)

    @staticmethod
    def _to_uv(local: tuple[np.ndarray, np.ndarray, float], pts: np.ndarray) -> np.ndarray:
        o, inv, _ = local
        return (np.asarray(pts, np.float64) - o) @ inv.T

    @staticmethod
    def _unit_down(frame_pts: np.ndarray) -> np.ndarray:
        """Image direction of +v (down the face) of posed frame points, unit length."""
        (x0, y0), _, (x2, y2) = np.asarray(frame_pts, np.float64).tolist()
        length = max(math.hypot(x2 - x0, y2 - y0), 1e-9)
        return np.array([(x2 - x0) / length, (y2 - y0) / length])
