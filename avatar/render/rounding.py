"""Whether a portrait's lips can be rounded: turned out into a ring on an "oo".

Why a check: rounding (avatar/render/expression.py, `ActuatorBasis.lip_ring`) stretches
the photo's lips away from the mouth line, their outer edges further than their inner
ones, so more red shows. That needs lips to stretch. Where the photo has something
else there it would smear it across the mouth:

- hair over the lips (a moustache over the upper lip, a beard under the lower one):
  the band just outside the lip is much darker than the cheeks;
- a mouth open at rest with its teeth showing: the round hole would stretch the
  photo's own teeth into an O;
- something in front of the chin (a hand, a microphone): the band under the lower lip
  is far from the cheeks' colour.

Such a portrait keeps today's mouth (the flat lens: gathered, parted, not turned out),
and the renderer says so once in the log.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar.render.mesh import (
    LIPS_LOWER_INNER,
    LIPS_LOWER_OUTER,
    LIPS_UPPER_INNER,
    LIPS_UPPER_OUTER,
)

# Bands outside the lips, sampled between these landmark pairs (mediapipe's mesh): above
# the upper lip (the philtrum and beside it: lip top -> below the nose) and under the
# lower lip (lip bottom -> chin), a share of the way along each pair.
ABOVE_UPPER = ((0, 164), (37, 167), (267, 393))
BELOW_LOWER = ((17, 200), (84, 201), (314, 421))
BAND = (0.25, 0.75)  # sampled from this share of the way to this share
CHEEKS = (206, 426)  # beside the mouth: the skin the bands are compared with
HAIR_DARK = 0.6  # a band whose luma is under this share of the cheeks' is hair
OCCLUDED_DELTA_E = 40.0  # a band this far (Lab) from the cheeks is something in front
OPEN_AT_REST = 0.05  # inner lips this far apart at rest (IOD): the mouth is open ...
TEETH_MIN_PX = 40  # ... and shows teeth: this many pixels between the lips whose ...
TEETH_OVER_LIPS = 1.25  # ... brightest 30 % are this much brighter than the lips
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _band_pixels(image: np.ndarray, lm: np.ndarray, pairs: tuple[tuple[int, int], ...],
                 radius: int) -> np.ndarray:
    """The pixels of small discs along each landmark pair, between BAND's shares."""
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    for a, b in pairs:
        for t in np.linspace(BAND[0], BAND[1], 3):
            x, y = lm[a] + t * (lm[b] - lm[a])
            cv2.circle(mask, (int(round(x)), int(round(y))), radius, 1, -1)
    return image[mask.astype(bool)].reshape(-1, 3).astype(np.float32)


def _lab(pixels: np.ndarray) -> np.ndarray:
    """The median Lab colour (L 0-100) of RGB pixels (n, 3), 0-255."""
    px = (np.median(pixels, axis=0) / 255.0).astype(np.float32).reshape(1, 1, 3)
    return cv2.cvtColor(px, cv2.COLOR_RGB2Lab).reshape(3)


def _shows_teeth(image: np.ndarray, lm: np.ndarray) -> bool:
    """The photo's parted lips show teeth: their opening's brightest 30 % (eroded by a
    pixel) is TEETH_OVER_LIPS brighter than the lips (as MouthPalette finds them)."""
    h, w = image.shape[:2]
    inner = np.vstack([lm[list(LIPS_UPPER_INNER)], lm[list(LIPS_LOWER_INNER[-2:0:-1])]])
    outer = np.vstack([lm[list(LIPS_UPPER_OUTER)], lm[list(LIPS_LOWER_OUTER[-2:0:-1])]])
    opening, lips = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    cv2.fillPoly(opening, [np.round(inner).astype(np.int32)], 1)
    cv2.fillPoly(lips, [np.round(outer).astype(np.int32)], 1)
    lips[opening.astype(bool)] = 0
    shown = image[cv2.erode(opening, np.ones((3, 3), np.uint8)).astype(bool)]
    lip_px = image[lips.astype(bool)]
    if len(shown) < TEETH_MIN_PX or len(lip_px) == 0:
        return False
    luma = shown.astype(np.float32) @ _LUMA
    bright = float(np.median(luma[luma >= np.percentile(luma, 70)]))
    return bright > TEETH_OVER_LIPS * float(np.median(lip_px.astype(np.float32) @ _LUMA))


def rounding_blockers(image: np.ndarray, landmarks: np.ndarray) -> list[str]:
    """Why the lips of `image` (S, S, 3 RGB) with its (478, 2+) landmarks in pixels
    cannot be rounded (empty: they can)."""
    lm = np.asarray(landmarks, np.float64)[:, :2]
    iod = float(np.linalg.norm(lm[[263, 362]].mean(0) - lm[[33, 133]].mean(0)))
    radius = max(1, int(round(0.04 * iod)))
    cheeks = _band_pixels(image, lm, tuple((c, c) for c in CHEEKS), radius)
    if len(cheeks) == 0:
        return []
    skin = _lab(cheeks)
    reasons = []
    gap = np.linalg.norm(lm[list(LIPS_LOWER_INNER)] - lm[list(LIPS_UPPER_INNER)], axis=1)
    if float(gap.max()) > OPEN_AT_REST * iod and _shows_teeth(image, lm):
        reasons.append(f"the mouth is open at rest with its teeth showing "
                       f"({float(gap.max()) / iod:.2f} IOD)")
    for where, pairs in (("above the upper lip", ABOVE_UPPER), ("under the lower lip",
                                                                  BELOW_LOWER)):
        pixels = _band_pixels(image, lm, pairs, radius)
        if len(pixels) == 0:
            continue
        band = _lab(pixels)
        if band[0] < HAIR_DARK * skin[0]:
            reasons.append(f"hair or something dark {where} (L {band[0]:.0f} against the "
                           f"cheeks' {skin[0]:.0f})")
        elif float(np.linalg.norm(band - skin)) > OCCLUDED_DELTA_E:
            reasons.append(f"something in front of the face {where} "
                           f"(Lab distance {float(np.linalg.norm(band - skin)):.0f} from the "
                           "cheeks)")
    return reasons


__all__ = ["rounding_blockers"]
