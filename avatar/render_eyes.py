"""Closing eyelids: smooth lid skin and a lash line over the part of the eye a lid covers.

Why paint on top of the warp: stretching the skin just above the upper lid
down over the eye also stretches the lid crease and wrinkles, which the
landmarker keeps reading as a half-open eye (measured: a lid warped fully
shut read back as eyeBlink ~0.2). A closed eye is a smooth convex lid with
one dark lash curve, so that is what is painted, with its alpha following how
much of the eye the lid now covers.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar.render_mesh import EYE_L_LOWER, EYE_L_UPPER, EYE_R_LOWER, EYE_R_UPPER

LASH_RGB = np.array([48, 30, 26], np.float32)
SHIFT = 3  # 1/8 pixel vertex precision


class EyelidPainter:
    """Knows each eye's lid-skin colour and which mesh vertices outline the eye."""

    def __init__(self, image: np.ndarray, xy: np.ndarray, eye_copy_of: np.ndarray,
                 iod_px: float) -> None:
        copy_index = {int(lmk): 478 + k for k, lmk in enumerate(eye_copy_of)}
        self.eyes = []
        for upper, lower in ((EYE_R_UPPER, EYE_R_LOWER), (EYE_L_UPPER, EYE_L_LOWER)):
            upper_copies = [copy_index[i] for i in upper]
            # Lid colour: median of a band of skin above the upper lid.
            band = xy[list(upper)] - np.array([0.0, 0.12 * iod_px])
            pts = np.round(band).astype(int)
            h, w = image.shape[:2]
            pts[:, 0] = np.clip(pts[:, 0], 0, w - 1)
            pts[:, 1] = np.clip(pts[:, 1], 0, h - 1)
            colour = np.median(image[pts[:, 1], pts[:, 0]].astype(np.float32), axis=0)
            rest_gap = float(np.max(xy[list(lower), 1]) - np.min(xy[list(upper), 1]))
            self.eyes.append((list(upper), upper_copies, list(lower), colour, rest_gap))
        self.iod = iod_px

    def paint(self, frame: np.ndarray, xy: np.ndarray) -> None:
        """Paint the covered part of each eye, in place, for warped vertices `xy`."""
        h, w = frame.shape[:2]
        for upper, upper_copies, lower, colour, rest_gap in self.eyes:
            lid = xy[upper]
            top = xy[upper_copies]
            drop = float(np.max(lid[:, 1] - top[:, 1]))
            closure = drop / max(rest_gap, 1e-3)
            if closure < 0.15:
                continue
            region = np.vstack([top, lid[::-1]])
            x0 = max(int(region[:, 0].min()) - 3, 0)
            y0 = max(int(region[:, 1].min()) - 3, 0)
            x1 = min(int(region[:, 0].max()) + 4, w)
            y1 = min(int(xy[lower, 1].max()) + 4, h)
            if x1 <= x0 or y1 <= y0:
                continue
            off = np.array([x0, y0], np.float32)
            mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
            poly = np.round((region - off) * (1 << SHIFT)).astype(np.int32)
            cv2.fillPoly(mask, [poly], 255, cv2.LINE_AA, SHIFT)
            strength = float(np.clip((closure - 0.15) / 0.6, 0.0, 1.0))
            alpha = cv2.GaussianBlur(mask, (0, 0), 1.0)[..., None] / 255.0 * 0.9 * strength
            roi = frame[y0:y1, x0:x1].astype(np.float32)
            # Keep some of the warped texture's shading, take the colour of the lid.
            mean = roi.mean(axis=2, keepdims=True)
            lid_skin = colour * (0.85 + 0.15 * mean / max(float(colour.mean()), 1.0))
            roi = roi * (1 - alpha) + lid_skin * alpha
            lash = np.zeros_like(mask)
            thick = max(1, int(round(0.025 * self.iod)))
            cv2.polylines(lash, [np.round((lid - off) * (1 << SHIFT)).astype(np.int32)],
                          False, 255, thick, cv2.LINE_AA, SHIFT)
            la = cv2.GaussianBlur(lash, (0, 0), 0.8)[..., None] / 255.0 * strength
            roi = roi * (1 - la) + LASH_RGB * la
            frame[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)
