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

from avatar.motion import column_index
from avatar.render.eye_compose import blend_iris
from avatar.render.mesh import (
    EYE_L_LOWER,
    EYE_L_UPPER,
    EYE_R_LOWER,
    EYE_R_UPPER,
    IRIS_L,
    IRIS_R,
)

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


#: Iris travel per unit of eyeLook* change, as a fraction of the eye's width.
#: Horizontal: fitted so re-measured eyeLook* follows the command (slope ~0.9).
#: Vertical: the opening is shallow and real vertical gaze moves the lids more
#: than the iris; moving the iris further hid it under a lid (a white-eyed
#: stare), so it moves a little and at most `GAZE_MAX_DY` of its radius.
GAZE_GAIN_X = 0.30
GAZE_GAIN_Y = 0.10
GAZE_MAX_DY = 0.45
_MIN_SHIFT_PX = 0.25  # below this the iris stays put and the eye is the portrait's own


class GazePainter:
    """Moves each iris inside its eye opening for eyeLook*, in the portrait itself.

    Why in the source image, before the warp: the eye then follows every head
    turn, expression and blink the warp applies, for free. Once per portrait
    each eye gets a "sclera plate" (the eye with its iris inpainted away) and an
    iris sprite (the visible iris, alpha-clipped by the lids); a frame pastes the
    sprite, shifted, over the plate and clips it to the opening again, so an iris
    never slides over the lids. Zero gaze change leaves the portrait untouched.
    """

    def __init__(self, image: np.ndarray, xy: np.ndarray) -> None:
        self.image = image
        self.eyes: list[dict] = []
        h, w = image.shape[:2]
        # (lids, iris, columns (in, out, up, down), +x direction of "in")
        sides = ((EYE_R_UPPER, EYE_R_LOWER, IRIS_R, "Right", 1.0),
                 (EYE_L_UPPER, EYE_L_LOWER, IRIS_L, "Left", -1.0))
        for upper, lower, iris, side, in_sign in sides:
            contour = np.vstack([xy[list(upper)], xy[list(lower)][::-1]]).astype(np.float32)
            width = float(np.linalg.norm(xy[upper[0]] - xy[upper[-1]]))
            centre = xy[iris[0]].astype(np.float32)
            radius = float(np.mean(np.linalg.norm(xy[list(iris[1:])] - centre, axis=1)))
            margin = int(np.ceil(0.5 * width)) + 2
            x0 = max(int(contour[:, 0].min()) - margin, 0)
            y0 = max(int(contour[:, 1].min()) - margin, 0)
            x1 = min(int(contour[:, 0].max()) + margin + 1, w)
            y1 = min(int(contour[:, 1].max()) + margin + 1, h)
            if x1 - x0 < 4 or y1 - y0 < 4 or radius < 1.0:
                continue
            off = np.array([x0, y0], np.float32)
            opening = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.fillPoly(opening, [np.round((contour - off) * (1 << SHIFT)).astype(np.int32)],
                         255, cv2.LINE_AA, SHIFT)
            disk = np.zeros_like(opening)
            cv2.circle(disk, tuple(np.round((centre - off) * (1 << SHIFT)).astype(int)),
                       int(round(radius * 1.08 * (1 << SHIFT))), 255, -1, cv2.LINE_AA, SHIFT)
            roi = image[y0:y1, x0:x1]
            hole = cv2.dilate(cv2.bitwise_and(disk, opening), np.ones((3, 3), np.uint8))
            sclera = cv2.inpaint(np.ascontiguousarray(roi), hole, 3, cv2.INPAINT_TELEA)
            open_alpha = cv2.GaussianBlur(opening, (0, 0), 0.7).astype(np.float32) / 255.0
            iris_alpha = cv2.GaussianBlur(disk, (0, 0), 0.6).astype(np.float32) / 255.0 * open_alpha
            self.eyes.append({
                "box": (x0, y0, x1, y1), "width": width, "radius": radius,
                "roi": roi.astype(np.float32), "sclera": sclera.astype(np.float32),
                "open": open_alpha[..., None], "iris_alpha": iris_alpha,
                "cols": tuple(column_index(f"eyeLook{d}{side}") for d in ("In", "Out", "Up", "Down")),
                "in_sign": in_sign,
            })

    def offsets(self, motion: np.ndarray, reference: np.ndarray) -> list[tuple[float, float]]:
        """Iris shift (dx, dy) in pixels per eye for `motion` against the portrait's own gaze."""
        out = []
        for eye in self.eyes:
            d_in, d_out, d_up, d_down = (float(motion[c] - reference[c]) for c in eye["cols"])
            dx = eye["in_sign"] * (d_in - d_out) * GAZE_GAIN_X * eye["width"]
            limit = GAZE_MAX_DY * eye["radius"]
            # np.clip of floats, as floats
            dy = float(min(max((d_down - d_up) * GAZE_GAIN_Y * eye["width"], -limit), limit))
            out.append((dx, dy))
        return out

    def paint(self, target: np.ndarray, motion: np.ndarray, reference: np.ndarray) -> None:
        """Write each eye of `target` (a copy of the portrait) with its iris moved."""
        for eye, (dx, dy) in zip(self.eyes, self.offsets(motion, reference), strict=True):
            x0, y0, x1, y1 = eye["box"]
            shift = max(abs(dx), abs(dy))
            if shift < _MIN_SHIFT_PX:
                target[y0:y1, x0:x1] = self.image[y0:y1, x0:x1]
                continue
            shape = (x1 - x0, y1 - y0)
            move = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
            sprite = cv2.warpAffine(eye["roi"], move, shape, flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
            alpha = cv2.warpAffine(eye["iris_alpha"], move, shape, flags=cv2.INTER_LINEAR)
            # the iris over the sclera plate, clipped by the lids; outside the opening
            # the portrait stays exactly itself; below a pixel of travel the moved eye
            # fades in, so gaze noise never flickers at the threshold (compiled:
            # avatar/render/eye_compose.py, the numpy formulas in its docstring)
            blend_iris(target[y0:y1, x0:x1], eye["roi"], eye["sclera"], sprite, alpha,
                       eye["open"], np.float32(min(1.0, shift)))
