"""The mouth interior as it was painted before issue 35: the cost baseline of
bench/face/mouth_realism.py (`added_ms_512`).

Why a copy: the issue's cost goal is "+2 ms a frame over today's renderer", and
the machine is shared, so the two mouths are timed in one run, frame by frame in
alternation. This is avatar/render/mouth.py's `draw_mouth` at 79d64f2, verbatim
but for this docstring and `LegacyMouth`, which plugs it into a renderer in
place of its `mouth` painter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from avatar.render.mesh import LIPS_LOWER_INNER, LIPS_UPPER_INNER

if TYPE_CHECKING:
    from avatar.render import PortraitRenderer

CAVITY_RGB = np.array([84, 26, 26], np.float32)  # deep red-brown, not black: looks lit
THROAT_RGB = np.array([40, 10, 10], np.float32)
TEETH_RGB = np.array([232, 214, 178], np.float32)  # ivory in shadow, not paper white
TONGUE_RGB = np.array([176, 84, 80], np.float32)
SUBPIXEL_SHIFT = 3  # draw polygons with 1/8-pixel vertex precision
MIN_OPENING_PX = 0.8  # below this the lips touch: nothing to draw
TEETH_HIDE_BELOW = 0.7  # mouth width / rest width under which the teeth are hidden


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


def inner_lip_gap(xy: np.ndarray) -> np.ndarray:
    """Distance (px) between each upper inner-lip point and its lower partner."""
    return np.linalg.norm(xy[list(LIPS_LOWER_INNER)] - xy[list(LIPS_UPPER_INNER)], axis=1)


def draw_mouth(image: np.ndarray, xy: np.ndarray, iod_px: float,
               rest_gap: np.ndarray | None = None, rest_width: float | None = None) -> None:
    """Paint cavity, teeth and tongue inside the inner-lip opening of `image`, in place.

    `xy` are the warped (N, 2) vertex positions whose first 478 rows are the
    landmarks; `iod_px` sets the teeth size (inter-ocular distance in pixels).
    `rest_gap` is the portrait's own inner-lip gap: only the opening beyond it
    is painted, the portrait's real lip line is kept. `rest_width` (corner to
    corner, px) hides the teeth when the lips gather (pucker, funnel: an "oo"
    shows a dark hole, the teeth sit behind the pushed-out lips).
    """
    upper = xy[list(LIPS_UPPER_INNER)]
    lower = xy[list(LIPS_LOWER_INNER)]
    gap = np.linalg.norm(lower - upper, axis=1)
    opening = gap - (rest_gap if rest_gap is not None else 0.0)
    if opening.max() < MIN_OPENING_PX:
        return
    fade = float(np.clip((opening.max() - MIN_OPENING_PX) / 3.0, 0.0, 1.0))
    outline = np.vstack([_chaikin(upper), _chaikin(lower)[-2:0:-1]])
    h, w = image.shape[:2]
    x0 = max(int(np.floor(outline[:, 0].min())) - 4, 0)
    y0 = max(int(np.floor(outline[:, 1].min())) - 4, 0)
    x1 = min(int(np.ceil(outline[:, 0].max())) + 5, w)
    y1 = min(int(np.ceil(outline[:, 1].max())) + 5, h)
    if x1 <= x0 or y1 <= y0:
        return
    off = np.array([x0, y0], np.float32)
    bw, bh = x1 - x0, y1 - y0
    mask = np.zeros((bh, bw), np.uint8)
    cv2.fillPoly(mask, [_poly(outline, off)], 255, cv2.LINE_AA, SUBPIXEL_SHIFT)

    # Cavity: darker towards the throat (the middle of the opening).
    layer = np.empty((bh, bw, 3), np.float32)
    layer[:] = CAVITY_RGB
    center = (upper[len(upper) // 2] + lower[len(lower) // 2]) / 2.0 - off
    axes = (max(1, int(0.3 * np.ptp(outline[:, 0]))), max(1, int(0.35 * gap.max())))
    throat = np.zeros((bh, bw), np.uint8)
    cv2.ellipse(throat, (int(center[0]), int(center[1])), axes, 0, 0, 360, 255, -1)
    throat_f = cv2.GaussianBlur(throat, (0, 0), max(1.0, 0.25 * gap.max()))[..., None] / 255.0
    layer = layer * (1 - throat_f) + THROAT_RGB * throat_f

    # Teeth and tongue hang off the smoothed lip lines. Direction from each
    # upper-lip point to its lower partner (works at any head pose).
    width = float(np.linalg.norm(upper[-1] - upper[0]))
    upper, lower = _chaikin(upper), _chaikin(lower)
    gap = np.linalg.norm(lower - upper, axis=1)
    direction = (lower - upper) / np.maximum(gap[:, None], 1e-3)
    n = len(upper)
    span = np.linspace(-1.0, 1.0, n)
    visible = np.clip(1.0 - (span / 0.75) ** 2, 0.0, 1.0) ** 0.5  # teeth stop before corners
    if rest_width:
        narrow = (width / rest_width - TEETH_HIDE_BELOW) / 0.15
        visible = visible * float(np.clip(narrow, 0.0, 1.0))

    def band(edge: np.ndarray, height: np.ndarray, sign: float, target: np.ndarray) -> bool:
        """Fill the strip between a lip line and its offset where it has height.

        Zero-height stretches are left out: an anti-aliased polygon of zero
        area still draws its outline, which would rim the mouth in tooth colour.
        """
        keep = np.flatnonzero(height > 0.3)
        if len(keep) < 2:
            return False
        part = edge[keep[0]:keep[-1] + 1]
        moved = part + sign * direction[keep[0]:keep[-1] + 1] * height[keep[0]:keep[-1] + 1,
                                                                       None]
        cv2.fillPoly(target, [_poly(np.vstack([part, moved[::-1]]), off)], 255, cv2.LINE_AA,
                     SUBPIXEL_SHIFT)
        return True

    # Tongue: a low mound on the jaw side, only once the mouth is well open.
    if gap.max() > 0.12 * iod_px:
        tmask = np.zeros((bh, bw), np.uint8)
        if band(lower, 0.45 * gap * visible, -1.0, tmask):
            tf = cv2.GaussianBlur(tmask, (0, 0), 1.2)[..., None] / 255.0 * 0.8
            layer = layer * (1 - tf) + TONGUE_RGB * tf

    teeth = np.zeros((bh, bw), np.uint8)
    band(upper, np.minimum(0.09 * iod_px, 0.55 * gap) * visible, 1.0, teeth)
    lower_h = np.clip(gap - 0.2 * iod_px, 0.0, 0.05 * iod_px) * visible * (np.abs(span) < 0.6)
    band(lower, lower_h, -1.0, teeth)
    # Teeth get darker towards the corners and under the lip (shadow).
    shade = np.interp(np.arange(bw) + x0, [outline[:, 0].min(), center[0] + x0,
                                           outline[:, 0].max()], [0.7, 1.0, 0.7])
    tf = cv2.GaussianBlur(teeth, (0, 0), 0.7)[..., None].astype(np.float32) / 255.0
    layer = layer * (1 - tf) + (TEETH_RGB * shade[None, :, None]) * tf

    # Composite inside the (slightly soft-edged) opening.
    # Grow the opening a little over the inner lip edge: the stretched strip of
    # the closed-lip line (often a pale highlight) would otherwise rim the mouth.
    grow = max(1, int(round(0.015 * iod_px)))
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                      (2 * grow + 1, 2 * grow + 1)))
    alpha = cv2.GaussianBlur(mask, (3, 3), 0)[..., None].astype(np.float32) * (fade / 255.0)
    roi = image[y0:y1, x0:x1].astype(np.float32)
    image[y0:y1, x0:x1] = (roi * (1 - alpha) + layer * alpha).astype(np.uint8)


class LegacyMouth:
    """A renderer's mouth painter that paints the pre-issue-35 mouth."""

    def __init__(self, renderer: PortraitRenderer) -> None:
        xy0 = renderer.mesh.vertices[:, :2].astype(np.float32)
        self.iod = renderer.frame.iod
        self.rest_gap = inner_lip_gap(xy0)
        self.rest_width = float(np.linalg.norm(xy0[308] - xy0[78]))

    def evert(self, image: np.ndarray, xy: np.ndarray, amount: float) -> None:
        """The old mouth did not tint lips turned out: nothing."""

    def anchors(self, amps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """No teeth anchors (the old mouth hung its teeth from the lips): one dummy point."""
        return np.zeros((1, 2), np.float32), np.zeros(1, np.float32)

    def paint(self, image: np.ndarray, xy: np.ndarray, anchors: np.ndarray,
              rounding: float = 0.0) -> None:
        """Paint into `image` in place (`anchors`, `rounding` unused: the old mouth read
        only the inner lips)."""
        draw_mouth(image, xy, self.iod, self.rest_gap, self.rest_width)
