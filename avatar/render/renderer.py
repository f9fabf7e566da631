"""PortraitRenderer: a motion frame (avatar/motion.py) -> an RGB frame of the portrait.

How a frame is made (all on one CPU thread, ~10 ms at 512 px):

1. expression: commanded blendshapes, relative to the portrait's reference
   motion, become actuator amplitudes (avatar/render/calibration.py) and move
   the mesh vertices along hand-designed displacement fields
   (avatar/render/expression.py);
2. pose: the change of head rotation from the reference, at the commanded
   angle, rotates the face mesh in 3-D (landmark depth, stretched: DEPTH_SCALE_X
   and _Y) about a pivot inside the head; head and hair rings turn with it (the
   hair ring less below the nose), the background ring and image border stay
   still (avatar/render/mesh.py), then translation and scale are applied;
3. warp: the moved mesh is rasterised back to front into an inverse map
   (smoothed along the head's outline) and the portrait's foreground layer
   (premultiplied RGBA) is resampled with `cv2.remap`;
4. compose: the warped foreground goes over the still background plate
   (avatar/render/layers.py), so a turn reveals background instead of dragging it;
5. the eyelids and the mouth interior are painted in (avatar/render/eyes.py,
   avatar/render/mouth.py): the teeth are posed with the head (the upper arch)
   and the jaw (the lower arch), set back behind the lips, which clip them.

Gaze (eyeLook*) is applied before all this, to the portrait itself: each iris
is moved inside its eye opening (avatar/render/eyes.py, GazePainter), so the
warp carries the new gaze through every pose and expression.

The renderer never uses torch and sets no global thread state; callers that
need strictly one thread call `cv2.setNumThreads(1)`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import warnings
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from avatar.motion import MOTION_DIM, angles_to_rotation, column_index
from avatar.render.calibration import Calibration, cap_rounding, load_calibration
from avatar.render.expression import ACTUATORS, ActuatorBasis
from avatar.render.eyes import EyelidPainter, GazePainter
from avatar.render.layers import (
    PLATES,
    PortraitLayers,
    compose,
    layers_over,
    person_matte,
    quick_plate,
)
from avatar.render.mesh import (
    CHIN,
    FACE_OVAL,
    KIND_FIXED,
    KIND_HAIR,
    MOUTH_CORNER_L,
    MOUTH_CORNER_R,
    N_LANDMARKS,
    NOSE_TIP,
    BackwardMapper,
    build_mesh,
)
from avatar.render.mirror import MirrorFill
from avatar.render.mouth import MouthPainter
from avatar.render.rounding import rounding_blockers

if TYPE_CHECKING:
    from avatar.portrait import Portrait

_YAW, _PITCH, _ROLL = column_index("yaw"), column_index("pitch"), column_index("roll")
_TX, _TY, _SCALE = column_index("tx"), column_index("ty"), column_index("scale")
_FLIP = np.diag([1.0, -1.0, -1.0])  # camera space (y up, z to viewer) <-> image (y down, z away)
MAX_ANGLE_DEG = 35.0  # rendered rotation cap: beyond it a one-photo warp falls apart
MAX_SHIFT = 0.25  # tx/ty change, fraction of the image
SCALE_RANGE = (0.7, 1.4)
# The landmarker's z is flatter than a head from cheek to ear: rotating its
# landmarks by the commanded yaw reads back at ~0.6-0.75x (measured on three
# portraits at +-10 / +-20 deg), which is why yaw used to be rendered at
# 1.6-1.9x. Stretching the depth by DEPTH_SCALE_X where it moves points
# sideways (yaw) makes a turn rendered at the commanded angle read back at
# ~1.0x; the far side foreshortens and the near side widens as on a real
# head, instead of both stretching like a flat card turned too far. Up and down
# (pitch) the landmark depth is about right (pitch read ~1.0-1.2x with it,
# and 1.2-1.4x with the stretch), so the vertical image axis keeps it:
# docs/renderer.md, "Turns with depth".
DEPTH_SCALE_X = 1.5
DEPTH_SCALE_Y = 1.25
# How much of the head's motion the hair ring (collar, shoulders) loses below
# the face: 1 - SHOULDER_LAG of it at the chin, fading in from the nose down,
# so a turn or a roll twists the neck but leaves the torso nearly still. The
# head ring (ears, jaw line, neck) follows fully: made to lag too, it was
# overtaken by the jaw on a turn and the folded band showed as a saw-tooth.
SHOULDER_LAG = 0.75
# A photo turned further than this is triangulated as if it faced the camera
# (build_mesh's `layout`): its far side is squeezed, and a Delaunay
# triangulation of the squeezed points folded into spikes when turned back
# (docs/renderer.md, "Mirrored fill"). Frontal photos keep the triangulation
# the calibration was fitted with.
LAYOUT_MIN_YAW_DEG = 8.0
#: output pixels per cell of the inverse map's grid, by render size: a 128 x 128 grid
#: at both. Exact inside each triangle (the map is affine there), bilinear across
#: their edges, exact around folds (BackwardMapper). Against a grid twice as fine,
#: the landmarker's read-back, pose error and background drift move less than the
#: measures' own spread, and less than 256 px itself moves them from 512: at 256 px
#: 2 against 1 (render 4.3 -> 3.2 ms a frame), at 512 px 4 against 2 (5.3 -> 4.6 ms;
#: docs/LIVE_AVATAR.md).
MAP_STEP_PX: dict[int, int] = {256: 2, 512: 4}


_log = logging.getLogger(__name__)
_SAID: set[tuple[str, str]] = set()
_SAID_LOCK = threading.Lock()


def _say_once(image: np.ndarray, message: str, *args: object) -> None:
    """Log `message` once per picture (a session builds a renderer per size and worker)."""
    key = (hashlib.sha1(np.ascontiguousarray(image[::8, ::8]).tobytes()).hexdigest(), message)
    with _SAID_LOCK:
        if key in _SAID:
            return
        _SAID.add(key)
    _log.warning(message, *args)


@dataclass(frozen=True)
class _Canvas:
    """What a frame reads, swapped as one when the good plate arrives."""

    source: np.ndarray  # (S, S, 4) premultiplied RGBA, or (S, S, 3) without layers
    layers: PortraitLayers | None
    gaze: GazePainter


class PortraitRenderer:
    """Animates one portrait; `render(motion)` returns (size, size, 3) uint8 RGB.

    `motion` is an absolute (58,) frame in the portrait's measurement frame:
    rendering `portrait.reference_motion` returns (almost exactly) the portrait.

    `calibration` is the table to render with, chosen by the caller: the
    portrait's own (`calibration_for(portrait)`, avatar/render/portrait_calibration.py)
    once one has been fitted, or None for the shipped table. The renderer does not
    look it up itself: the fitter that makes those tables renders with this class,
    so the dependency goes one way.

    `map_step`: output pixels per cell of the inverse map's grid (None: the size's
    own, `MAP_STEP_PX`).
    """

    def __init__(self, portrait: Portrait, size: int = 512,
                 calibration: Calibration | None = None, layered: bool = True,
                 mirror_fill: bool = True, map_step: int | None = None) -> None:
        if size not in (256, 512, 1024):  # 1024: a 2x reference for the benches
            raise ValueError(f"render size must be 256 or 512 (or 1024), got {size}")
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
        #: why this portrait's lips are not rounded on funnel and pucker (empty: they are)
        self.rounding_blockers = rounding_blockers(self.image, landmarks * scale)
        if self.rounding_blockers:
            _say_once(self.image, "this portrait's lips are not rounded on 'oo' (%s): "
                      "they keep the flat mouth", "; ".join(self.rounding_blockers))
        basis = ActuatorBasis(self.mesh, rounding=not self.rounding_blockers)
        self.frame = basis.frame
        self._basis = basis.build().reshape(len(ACTUATORS), -1)  # (K, N*2)
        self.calibration = calibration if calibration is not None else load_calibration()
        verts = self.mesh.vertices
        self._xy0 = verts[:, :2].astype(np.float32)
        iod = self.frame.iod
        self._moves = self._move_weights()
        # Pivot: between the ears at nose height (the depth of the face oval):
        # measured, a deeper pivot makes the landmarker read less yaw, not more.
        oval_depth = float(np.median(verts[:478, 2]))
        self._z0 = verts[:, 2].astype(np.float32)
        self._z_rel = (self._z0 - oval_depth)[:, None]
        # per image axis (x, y, depth): how much the depth is stretched where it
        # feeds that axis under a rotation (DEPTH_SCALE_X, DEPTH_SCALE_Y)
        self._depth_gain = np.array([DEPTH_SCALE_X, DEPTH_SCALE_Y, DEPTH_SCALE_X],
                                    np.float32) - 1.0
        pivot_xy = self.frame.origin + self.frame.ey * (0.55 * iod)
        self._pivot = np.array([pivot_xy[0], pivot_xy[1], oval_depth], np.float32)
        self._ref_rotation = angles_to_rotation(
            float(self.reference[_YAW]), float(self.reference[_PITCH]),
            float(self.reference[_ROLL]))
        if mirror_fill and abs(float(self.reference[_YAW])) > LAYOUT_MIN_YAW_DEG:
            # a head turned in its photo: triangulate it as if it faced the camera
            # (build_mesh's `layout`); the vertices and everything above are unchanged
            self.mesh = build_mesh(landmarks * scale, size, layout=self._frontal_layout())
        map_step = MAP_STEP_PX.get(size, 8) if map_step is None else map_step
        if map_step not in (1, 2, 4, 8):
            raise ValueError(f"map_step must be 1, 2, 4 or 8 output pixels, got {map_step}")
        #: output pixels per cell of the inverse map's grid
        self.map_step = map_step
        self._mapper = BackwardMapper(self.mesh, grid_step=map_step)
        # skin the photo sees nearly edge-on, textured from the other cheek
        # (avatar/render/mirror.py): a photo with its head turned no longer tears
        # into streaks when turned back. +0.7 ms a frame; the landmarker's pose
        # read-back moves by up to 0.7 deg either way on the two portraits it
        # changes, mean error down (docs/renderer.md, "Mirrored fill")
        self._mirror = MirrorFill(self.mesh, self._mapper) if mirror_fill else None
        # the mouth interior (avatar/render/mouth.py): teeth posed with the skull and
        # the jaw, colours from the portrait's lips
        self.mouth = MouthPainter(self.image, self._xy0, self._z0, self.frame.origin,
                                  self.frame.ex, self.frame.ey, iod,
                                  self._basis.reshape(len(ACTUATORS), -1, 2))
        self._rounding = [ACTUATORS.index("mouthPucker"), ACTUATORS.index("mouthFunnel")]
        # share of the mouth's width (corner to corner) one unit of pucker / funnel takes away
        fields = self._basis.reshape(len(ACTUATORS), -1, 2)
        width = self._xy0[MOUTH_CORNER_L] - self._xy0[MOUTH_CORNER_R]
        unit = width / max(float(np.linalg.norm(width)), 1e-6)
        self._narrowing = np.array([
            -float((fields[k, MOUTH_CORNER_L] - fields[k, MOUTH_CORNER_R]) @ unit)
            / max(float(np.linalg.norm(width)), 1e-6) for k in self._rounding])
        jaw = ACTUATORS.index("jawOpen")
        self._jaw_narrowing = -float((fields[jaw, MOUTH_CORNER_L] - fields[jaw, MOUTH_CORNER_R])
                                     @ unit) / max(float(np.linalg.norm(width)), 1e-6)
        self._eyelids = EyelidPainter(self.image, self._xy0, self.mesh.eye_copy_of, iod)
        # Layers (avatar/render/layers.py): the warp moves a matted person over a
        # still, inpainted background plate; without them the whole photo is warped.
        # A quick Telea plate now; the shift-map plate from a background thread.
        self.plate_ready = threading.Event()
        if layered:
            matte, hole = person_matte(self.image, self._face_hull(), self._movable())
            self._canvas = self._make_canvas(
                layers_over(self.image, matte, hole, quick_plate(self.image, hole)))
            PLATES.request(self.image, hole).add_done_callback(
                lambda done: self._take_plate(done, matte, hole))
        else:
            self._canvas = self._make_canvas(None)
            self.plate_ready.set()
        # a black-and-white photo stays black and white: the painted mouth interior
        # (cavity, teeth, tongue) has colours, which showed red on a grey face
        spread = np.ptp(self.image.astype(np.int16), axis=2)
        self._grey = bool(np.percentile(spread, 99) <= 6)

    def set_calibration(self, calibration: Calibration) -> None:
        """Use `calibration` from the next frame on (a portrait's own table that landed
        while it was shown: avatar/live/calibrator.py). One attribute swap, and
        `vertices` reads the table once per frame, so a frame never mixes two."""
        self.calibration = calibration

    def amplitudes(self, motion: np.ndarray) -> np.ndarray:
        """Actuator amplitudes (K,) for a motion frame (calibrated: avatar/render/calibration.py),
        with lip rounding capped to this face's natural range (`cap_rounding`)."""
        amps = self.calibration.amplitudes(motion, self.reference, self._narrowing)
        return cap_rounding(amps, self._narrowing, self._jaw_narrowing)

    def vertices(self, motion: np.ndarray,
                 amps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Moved vertex positions (N, 2) and depths (N,) for a motion frame.

        `amps` overrides the calibrated actuator amplitudes (calibration sweeps).
        """
        if amps is None:
            amps = self.amplitudes(motion)
        disp = (amps @ self._basis).reshape(-1, 2)
        pose = self._pose(motion)
        moved = self._posed(self._xy0 + disp, self._z0, self._z_rel, pose)
        w = self._moves[:, None]
        out = moved * w + np.concatenate([self._xy0, self._z0[:, None]], axis=1) * (1 - w)
        return out[:, :2], out[:, 2]

    def _pose(self, motion: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """The head's rotation relative to the reference (image axes), scale and shift."""
        cal, ref = self.calibration, self.reference
        # float arithmetic, as np.clip's float64 did it, without its per-call overhead
        yaw, pitch, roll = (
            float(ref[col]) + min(max(cal.pose_change(axis, float(motion[col] - ref[col])),
                                      -MAX_ANGLE_DEG), MAX_ANGLE_DEG)
            for axis, col in enumerate((_YAW, _PITCH, _ROLL)))
        target = angles_to_rotation(float(yaw), float(pitch), float(roll))
        delta = (_FLIP @ (target @ self._ref_rotation.T) @ _FLIP).astype(np.float32)
        # np.clip's arithmetic (in the motion's dtype) without its per-call overhead
        scale = float(np.minimum(np.maximum(
            motion[_SCALE] / max(self.reference[_SCALE], 1e-3), SCALE_RANGE[0]), SCALE_RANGE[1]))
        shift = np.minimum(np.maximum(motion[[_TX, _TY]] - self.reference[[_TX, _TY]],
                                      -MAX_SHIFT), MAX_SHIFT)
        return delta, scale, shift

    def _posed(self, xy: np.ndarray, z: np.ndarray, z_rel: np.ndarray,
               pose: tuple[np.ndarray, float, np.ndarray]) -> np.ndarray:
        """(N, 3) points at `xy` (N, 2), depth `z` turned, scaled and shifted by `pose`;
        `z_rel` (N, 1) is their depth from the face oval's, which the turn stretches."""
        delta, scale, shift = pose
        pts = np.concatenate([xy, z[:, None]], axis=1) - self._pivot
        rotated = pts @ delta.T + z_rel * (self._depth_gain * delta[:, 2])
        moved = rotated * scale + self._pivot
        moved[:, :2] += shift * self.size
        return moved

    def mouth_anchors(self, motion: np.ndarray, amps: np.ndarray | None = None) -> np.ndarray:
        """(M, 2) the mouth painter's teeth anchors posed for a motion frame: the skull's
        (upper teeth, head pose only) and the jaw's (lower teeth, also the jaw actuators)."""
        if amps is None:
            amps = self.amplitudes(motion)
        xy, z = self.mouth.anchors(amps)
        z_rel = (z - self._pivot[2])[:, None]
        return self._posed(xy, z, z_rel, self._pose(motion))[:, :2]

    def render(self, motion: np.ndarray) -> np.ndarray:
        """One (size, size, 3) uint8 RGB frame for an absolute (58,) motion frame."""
        motion = np.asarray(motion, np.float32)
        if motion.shape != (MOTION_DIM,):
            raise ValueError(f"motion frame must be ({MOTION_DIM},), got {motion.shape}")
        if not np.all(np.isfinite(motion)):
            raise ValueError("motion frame contains NaN or infinite values")
        canvas = self._canvas
        canvas.gaze.paint(canvas.source[..., :3], motion, self.reference)
        amps = self.amplitudes(motion)
        return self._draw(*self.vertices(motion, amps), canvas, motion, amps)

    def render_amplitudes(self, amps: np.ndarray, motion: np.ndarray) -> np.ndarray:
        """Render raw actuator amplitudes (K,) at the pose of `motion` (for calibration)."""
        amps = np.asarray(amps, np.float32)
        if amps.shape != (len(ACTUATORS),):
            raise ValueError(f"amplitudes must be ({len(ACTUATORS)},), got {amps.shape}")
        canvas = self._canvas
        motion = np.asarray(motion, np.float32)
        canvas.gaze.paint(canvas.source[..., :3], motion, self.reference)
        return self._draw(*self.vertices(motion, amps), canvas, motion, amps)

    @property
    def layers(self) -> PortraitLayers | None:
        """The layers frames are composed from now (None: the one-sheet warp)."""
        return self._canvas.layers

    @property
    def gaze(self) -> GazePainter:
        """The gaze painter frames use now (its eye boxes bound what gaze can change)."""
        return self._canvas.gaze

    def wait_for_plate(self, timeout: float | None = None) -> bool:
        """Block until the shift-map plate is in use (benches, tests); False on timeout."""
        return self.plate_ready.wait(timeout)

    def _make_canvas(self, layers: PortraitLayers | None) -> _Canvas:
        """A working copy of the source (gaze paints into it) with its gaze painter."""
        source = (layers.source if layers is not None else self.image).copy()
        # gaze moves the irises in the working copy of the portrait that the warp reads
        gaze = GazePainter(np.ascontiguousarray(source[..., :3]), self._xy0)
        return _Canvas(source=source, layers=layers, gaze=gaze)

    def _take_plate(self, done: Future[np.ndarray], matte: np.ndarray,
                    hole: np.ndarray) -> None:
        """Swap in the shift-map plate (runs on the plate thread, or at once if cached)."""
        error = done.exception()
        if error is not None:  # keep the quick plate: a failed inpaint must not stop frames
            warnings.warn(f"portrait plate inpainting failed, keeping the quick plate: {error!r}",
                          RuntimeWarning, stacklevel=1)
            self.plate_ready.set()
            return
        plate = done.result()
        self._canvas = self._make_canvas(layers_over(self.image, matte, hole, plate))
        self.plate_ready.set()

    def _draw(self, xy: np.ndarray, z: np.ndarray, canvas: _Canvas, motion: np.ndarray,
              amps: np.ndarray) -> np.ndarray:
        """Warp the portrait to moved vertices and paint eyelids and mouth interior."""
        map_x, map_y = self._mapper(xy, z)
        # fixed-point maps are what remap computes from float ones anyway (the same
        # pixels), and converting first then remapping is ~10 % cheaper at 512 px
        map_xy, map_frac = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)
        frame = cv2.remap(canvas.source, map_xy, map_frac, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
        if self._mirror is not None:
            self._mirror.blend(frame, canvas.source, xy)
        if canvas.layers is not None:
            frame = compose(frame, canvas.layers.plate)
        self._eyelids.paint(frame, xy)
        rounding = min(max(float(amps[self._rounding].sum()), 0.0), 1.0)
        if not self.rounding_blockers:  # lips turned out show their wet red
            self.mouth.evert(frame, xy, rounding)
        self.mouth.paint(frame, xy, self.mouth_anchors(motion, amps), rounding)
        if self._grey:
            frame = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        return frame

    def _frontal_layout(self) -> np.ndarray:
        """(478, 2) the landmarks with the photo's yaw turned away (pitch and roll kept),
        as `vertices` turns them: where to triangulate a head turned in its photo."""
        ref = self.reference
        target = angles_to_rotation(0.0, float(ref[_PITCH]), float(ref[_ROLL]))
        delta = (_FLIP @ (target @ self._ref_rotation.T) @ _FLIP).astype(np.float32)
        pts = self.mesh.vertices - self._pivot
        moved = pts @ delta.T + self._z_rel * (self._depth_gain * delta[:, 2]) + self._pivot
        return moved[:N_LANDMARKS, :2]

    def _move_weights(self) -> np.ndarray:
        """(N,) share of the head's motion each vertex follows (0 = background, 1 = face).

        Face, eye and head-ring vertices follow fully, the fixed ring and border
        not at all; hair-ring vertices less the further they lie below the nose
        (SHOULDER_LAG), so the shoulders lag behind the head.
        """
        kind = self.mesh.kind
        weights = (kind != KIND_FIXED).astype(np.float32)
        down = (self._xy0 - self.frame.origin) @ self.frame.ey
        nose, chin = float(down[NOSE_TIP]), float(down[CHIN])
        below = np.clip((down - nose) / max(chin - nose, 1.0), 0.0, 1.0)
        weights[kind == KIND_HAIR] -= SHOULDER_LAG * below[kind == KIND_HAIR]
        return weights

    def _face_hull(self) -> np.ndarray:
        """(S, S) bool: the face oval's hull, which is the person whatever the segmenter says."""
        mask = np.zeros((self.size, self.size), np.uint8)
        hull = cv2.convexHull(np.round(self._xy0[list(FACE_OVAL)]).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1)
        return mask.astype(bool)

    def _movable(self) -> np.ndarray:
        """(S, S) bool: pixels a pose can move (triangles with a vertex that is not fixed)."""
        mesh = self.mesh
        mask = np.zeros((self.size, self.size), np.uint8)
        moving = (mesh.kind != KIND_FIXED)[mesh.triangles].any(axis=1)
        for tri in mesh.triangles[moving]:
            cv2.fillConvexPoly(mask, np.round(self._xy0[tri]).astype(np.int32), 1)
        return mask.astype(bool)

