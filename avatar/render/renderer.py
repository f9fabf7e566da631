"""PortraitRenderer: a motion frame (avatar/motion.py) -> an RGB frame of the portrait.

How a frame is made (all on one CPU thread, ~10 ms at 512 px):

1. expression: commanded blendshapes, relative to the portrait's reference
   motion, become actuator amplitudes (avatar/render/calibration.py) and move
   the mesh vertices along hand-designed displacement fields
   (avatar/render/expression.py);
2. pose: the change of head rotation from the reference rotates the face mesh
   in 3-D (landmark depth) about a pivot inside the head; head and hair rings
   turn with it, the background ring and image border stay still
   (avatar/render/mesh.py), then translation and scale are applied;
3. warp: the moved mesh is rasterised back to front into an inverse map and
   the portrait is resampled with `cv2.remap`;
4. the mouth interior (cavity, teeth, tongue) is painted into the opening
   between the inner lips (avatar/render/mouth.py).

Gaze (eyeLook*) is applied before all this, to the portrait itself: each iris
is moved inside its eye opening (avatar/render/eyes.py, GazePainter), so the
warp carries the new gaze through every pose and expression.

The renderer never uses torch and sets no global thread state; callers that
need strictly one thread call `cv2.setNumThreads(1)` (bench/render.py does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from avatar.motion import MOTION_DIM, angles_to_rotation, column_index
from avatar.render.calibration import Calibration, load_calibration
from avatar.render.expression import ACTUATORS, ActuatorBasis
from avatar.render.eyes import EyelidPainter, GazePainter
from avatar.render.mesh import KIND_FIXED, BackwardMapper, build_mesh
from avatar.render.mouth import draw_mouth, inner_lip_gap

if TYPE_CHECKING:
    from avatar.portrait import Portrait

_YAW, _PITCH, _ROLL = column_index("yaw"), column_index("pitch"), column_index("roll")
_TX, _TY, _SCALE = column_index("tx"), column_index("ty"), column_index("scale")
_FLIP = np.diag([1.0, -1.0, -1.0])  # camera space (y up, z to viewer) <-> image (y down, z away)
MAX_ANGLE_DEG = 35.0  # rendered rotation cap: beyond it a one-photo warp falls apart
MAX_SHIFT = 0.25  # tx/ty change, fraction of the image
SCALE_RANGE = (0.7, 1.4)


class PortraitRenderer:
    """Animates one portrait; `render(motion)` returns (size, size, 3) uint8 RGB.

    `motion` is an absolute (58,) frame in the portrait's measurement frame:
    rendering `portrait.reference_motion` returns (almost exactly) the portrait.
    """

    def __init__(self, portrait: Portrait, size: int = 512,
                 calibration: Calibration | None = None) -> None:
        if size not in (256, 512):
            raise ValueError(f"render size must be 256 or 512, got {size}")
        image = np.asarray(portrait.image)
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] != image.shape[1]:
            raise ValueError(f"portrait image must be square (S, S, 3), got {image.shape}")
        landmarks = np.asarray(portrait.landmarks, np.float32)
        scale = size / image.shape[0]
        if image.shape[0] != size:
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
            image = cv2.resize(image, (size, size), interpolation=interp)
        self.size = size
        self.image = np.ascontiguousarray(image, dtype=np.uint8)
        self.reference = np.asarray(portrait.reference_motion, np.float32).copy()
        if self.reference.shape != (MOTION_DIM,):
            raise ValueError(f"reference motion must be ({MOTION_DIM},), "
                             f"got {self.reference.shape}")
        self.mesh = build_mesh(landmarks * scale, size)
        self._mapper = BackwardMapper(self.mesh, grid_step=2 if size >= 512 else 1)
        basis = ActuatorBasis(self.mesh)
        self.frame = basis.frame
        self._basis = basis.build().reshape(len(ACTUATORS), -1)  # (K, N*2)
        self.calibration = calibration if calibration is not None else load_calibration()
        verts = self.mesh.vertices
        self._xy0 = verts[:, :2].astype(np.float32)
        self._z0 = verts[:, 2].astype(np.float32)
        self._moves = (self.mesh.kind != KIND_FIXED).astype(np.float32)
        iod = self.frame.iod
        # Pivot: between the ears at nose height (the depth of the face oval):
        # measured, a deeper pivot makes the landmarker read less yaw, not more.
        oval_depth = float(np.median(verts[:478, 2]))
        pivot_xy = self.frame.origin + self.frame.ey * (0.55 * iod)
        self._pivot = np.array([pivot_xy[0], pivot_xy[1], oval_depth], np.float32)
        self._rest_gap = inner_lip_gap(self._xy0)
        self._rest_width = float(np.linalg.norm(self._xy0[308] - self._xy0[78]))
        self._eyelids = EyelidPainter(self.image, self._xy0, self.mesh.eye_copy_of, iod)
        # gaze moves the irises in a working copy of the portrait, which the warp reads
        self._gaze = GazePainter(self.image, self._xy0)
        self._source = self.image.copy()
        # a black-and-white photo stays black and white: the painted mouth interior
        # (cavity, teeth, tongue) has colours, which showed red on a grey face
        spread = np.ptp(self.image.astype(np.int16), axis=2)
        self._grey = bool(np.percentile(spread, 99) <= 6)
        self._ref_rotation = angles_to_rotation(
            float(self.reference[_YAW]), float(self.reference[_PITCH]),
            float(self.reference[_ROLL]))

    def amplitudes(self, motion: np.ndarray) -> np.ndarray:
        """Actuator amplitudes (K,) for a motion frame (calibrated: avatar/render/calibration.py)."""
        return self.calibration.amplitudes(motion, self.reference)

    def vertices(self, motion: np.ndarray,
                 amps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Moved vertex positions (N, 2) and depths (N,) for a motion frame.

        `amps` overrides the calibrated actuator amplitudes (calibration sweeps).
        """
        if amps is None:
            amps = self.amplitudes(motion)
        disp = (amps @ self._basis).reshape(-1, 2)
        xy = self._xy0 + disp
        # Head rotation relative to the reference, in image axes.
        cal, ref = self.calibration, self.reference
        yaw, pitch, roll = (
            ref[col] + np.clip(cal.pose_change(axis, float(motion[col] - ref[col])),
                               -MAX_ANGLE_DEG, MAX_ANGLE_DEG)
            for axis, col in enumerate((_YAW, _PITCH, _ROLL)))
        target = angles_to_rotation(float(yaw), float(pitch), float(roll))
        delta = _FLIP @ (target @ self._ref_rotation.T) @ _FLIP
        pts = np.concatenate([xy, self._z0[:, None]], axis=1) - self._pivot
        rotated = pts @ delta.T.astype(np.float32)
        scale = float(np.clip(motion[_SCALE] / max(self.reference[_SCALE], 1e-3),
                              *SCALE_RANGE))
        shift = np.clip(motion[[_TX, _TY]] - self.reference[[_TX, _TY]], -MAX_SHIFT, MAX_SHIFT)
        moved = rotated * scale + self._pivot
        moved[:, :2] += shift * self.size
        w = self._moves[:, None]
        out = moved * w + np.concatenate([self._xy0, self._z0[:, None]], axis=1) * (1 - w)
        return out[:, :2], out[:, 2]

    def render(self, motion: np.ndarray) -> np.ndarray:
        """One (size, size, 3) uint8 RGB frame for an absolute (58,) motion frame."""
        motion = np.asarray(motion, np.float32)
        if motion.shape != (MOTION_DIM,):
            raise ValueError(f"motion frame must be ({MOTION_DIM},), got {motion.shape}")
        if not np.all(np.isfinite(motion)):
            raise ValueError("motion frame contains NaN or infinite values")
        self._gaze.paint(self._source, motion, self.reference)
        return self._draw(*self.vertices(motion))

    def render_amplitudes(self, amps: np.ndarray, motion: np.ndarray) -> np.ndarray:
        """Render raw actuator amplitudes (K,) at the pose of `motion` (for calibration)."""
        amps = np.asarray(amps, np.float32)
        if amps.shape != (len(ACTUATORS),):
            raise ValueError(f"amplitudes must be ({len(ACTUATORS)},), got {amps.shape}")
        self._gaze.paint(self._source, np.asarray(motion, np.float32), self.reference)
        return self._draw(*self.vertices(np.asarray(motion, np.float32), amps))

    def _draw(self, xy: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Warp the portrait to moved vertices and paint eyelids and mouth interior."""
        map_x, map_y = self._mapper(xy, z)
        frame = cv2.remap(self._source, map_x, map_y, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
        self._eyelids.paint(frame, xy)
        draw_mouth(frame, xy, self.frame.iod, self._rest_gap, self._rest_width)
        if self._grey:
            frame = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        return frame
