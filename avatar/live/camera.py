"""The user's camera -> user motion, one frame (JPEG or raw pixels) at a time.

The analyser runs in the session's worker thread; the caller keeps at most one
frame waiting (the newest) and skips the rest, so a client sending 25 fps to a
server that analyses 10 never builds a queue. Motion is smoothed causally and
a frame without a face is reported as None, never as a zero (neutral) face.
A frame that shows nothing new since the last analysed one (avatar/live/still_camera.py)
reuses that one's motion instead of running the landmarker again.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar.errors import BadCameraFrameError
from avatar.face_analysis import CausalSmoother, FaceMeasurement
from avatar.live.still_camera import StillCamera
from avatar.live.visitor_tracker import VisitorTracker
from avatar.motion import column_index

#: Frames wider than this are shrunk before analysis: the landmarker finds a
#: face at 320 px as well as at 640, for a third of the cost.
ANALYSIS_WIDTH = 320


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes -> (H, W, 3) uint8 RGB; BadCameraFrameError when undecodable."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise BadCameraFrameError(f"camera frame of {len(data)} bytes is not a decodable JPEG")
    if image.shape[1] > ANALYSIS_WIDTH:
        height = max(1, round(image.shape[0] * ANALYSIS_WIDTH / image.shape[1]))
        image = cv2.resize(image, (ANALYSIS_WIDTH, height), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


#: Facing the screen, for choosing the visitor among several faces (degrees).
VISITOR_FRONTAL_DEG = 25.0
_YAW, _PITCH = column_index("yaw"), column_index("pitch")


def visitor_face(faces: list[FaceMeasurement]) -> FaceMeasurement | None:
    """The visitor among the faces of one frame: the nearest (largest) face that faces
    the screen; with none frontal, the nearest face."""
    frontal = [face for face in faces
               if abs(float(face.motion[_YAW])) <= VISITOR_FRONTAL_DEG
               and abs(float(face.motion[_PITCH])) <= VISITOR_FRONTAL_DEG]
    pool = frontal or faces
    return max(pool, key=lambda face: face.area) if pool else None


#: Raw pixel layouts a transport may hand over, as (channels, order to RGB).
_RAW_LAYOUTS: dict[str, tuple[int, tuple[int, int, int]]] = {
    "RGB": (3, (0, 1, 2)), "BGR": (3, (2, 1, 0)),
    "RGBA": (4, (0, 1, 2)), "BGRA": (4, (2, 1, 0)), "RGBX": (4, (0, 1, 2)),
}


def raw_to_rgb(data: bytes, size: tuple[int, int], layout: str | None) -> np.ndarray:
    """Raw camera pixels (`size` = (width, height), `layout` RGB/BGR/RGBA/BGRA, as
    video transports deliver them) -> (H, W, 3) uint8 RGB at most ANALYSIS_WIDTH wide.

    Raises:
        BadCameraFrameError: an unknown layout, or bytes that do not fill the size.
    """
    width, height = size
    name = (layout or "RGB").upper()
    if name not in _RAW_LAYOUTS:
        raise BadCameraFrameError(f"camera frame layout {layout!r} is not one of "
                                  f"{', '.join(_RAW_LAYOUTS)}")
    channels, order = _RAW_LAYOUTS[name]
    if width <= 0 or height <= 0 or len(data) != width * height * channels:
        raise BadCameraFrameError(f"camera frame of {len(data)} bytes does not hold "
                                  f"{width}x{height} {name} pixels")
    image = np.frombuffer(data, np.uint8).reshape(height, width, channels)[..., list(order)]
    if width > ANALYSIS_WIDTH:
        shrunk = max(1, round(height * ANALYSIS_WIDTH / width))
        return cv2.resize(image, (ANALYSIS_WIDTH, shrunk), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


class CameraMotion:
    """Measures the user's face in camera frames (not thread-safe: one worker)."""

    def __init__(self, smoothing: float = 0.3, *,
                 skip_still: bool | StillCamera = True, far_faces: bool = True) -> None:
        """`skip_still`: frames that show nothing new reuse the last analysed frame's
        motion (True: with the default thresholds; a StillCamera: with its own; False:
        the landmarker sees every frame handed over). `far_faces`: faces too small for
        the whole frame are looked for around motion (VisitorTracker's crops)."""
        self._tracker = VisitorTracker(crops=far_faces)
        self._smoother = CausalSmoother(smoothing)
        self._still = (skip_still if isinstance(skip_still, StillCamera)
                       else StillCamera() if skip_still else None)
        self._last_motion: np.ndarray | None = None  # the last analysed frame's
        self._last_ms = -1
        self.analysed = 0
        self.skipped = 0
        self.faces = 0

    def analyze_jpeg(self, data: bytes, timestamp_ms: int) -> np.ndarray | None:
        """Motion (58,) of the visitor's face (`visitor_face`), or None when there is none.

        Raises:
            BadCameraFrameError: the bytes are not a decodable image.
        """
        rgb = decode_jpeg(data)
        return self.analyze_rgb(rgb, timestamp_ms)

    def analyze_raw(self, data: bytes, size: tuple[int, int], layout: str | None,
                    timestamp_ms: int) -> np.ndarray | None:
        """As `analyze_jpeg`, for raw pixels as a video transport delivers them.

        Raises:
            BadCameraFrameError: the bytes do not hold an image of that size and layout.
        """
        return self.analyze_rgb(raw_to_rgb(data, size, layout), timestamp_ms)

    def analyze_rgb(self, rgb: np.ndarray, timestamp_ms: int) -> np.ndarray | None:
        """As `analyze_jpeg`, for an already decoded RGB frame."""
        timestamp_ms = max(int(timestamp_ms), self._last_ms + 1)  # mediapipe needs increasing
        self._last_ms = timestamp_ms
        if self._still is not None and self._still.unchanged(rgb, timestamp_ms):
            self.skipped += 1
            return self._smoother(self._last_motion)
        found = visitor_face(self._tracker.faces(rgb, timestamp_ms))
        self.analysed += 1
        self._last_motion = None if found is None else found.motion
        if found is None:
            return self._smoother(None)
        self.faces += 1
        return self._smoother(found.motion)

    def reset(self) -> None:
        """Forget the last face (a new session on a warm landmarker): the next frame is
        taken as measured, not smoothed toward the last one."""
        self._smoother(None)
        self._last_motion = None
        self._tracker.reset()
        if self._still is not None:
            self._still.reset()

    def close(self) -> None:
        """Free the landmarker (safe twice). A frame handed over afterwards is an error
        (the landmarker's), never answered from the last motion."""
        if self._still is not None:
            self._still.reset()
        self._tracker.close()
