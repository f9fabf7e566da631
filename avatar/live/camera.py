"""The user's camera -> user motion, one JPEG at a time (for a live session).

The analyser runs in the session's worker thread; the caller keeps at most one
frame waiting (the newest) and skips the rest, so a client sending 25 fps to a
server that analyses 10 never builds a queue. Motion is smoothed causally and
a frame without a face is reported as None, never as a zero (neutral) face.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar.errors import BadCameraFrameError
from avatar.face_analysis import CausalSmoother, FaceAnalyzer

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


class CameraMotion:
    """Measures the user's face in camera frames (not thread-safe: one worker)."""

    def __init__(self, smoothing: float = 0.3) -> None:
        self._analyzer = FaceAnalyzer(mode="video", num_faces=1)
        self._smoother = CausalSmoother(smoothing)
        self._last_ms = -1
        self.analysed = 0
        self.faces = 0

    def analyze_jpeg(self, data: bytes, timestamp_ms: int) -> np.ndarray | None:
        """Motion (58,) of the largest face in the frame, or None when there is none.

        Raises:
            BadCameraFrameError: the bytes are not a decodable image.
        """
        rgb = decode_jpeg(data)
        return self.analyze_rgb(rgb, timestamp_ms)

    def analyze_rgb(self, rgb: np.ndarray, timestamp_ms: int) -> np.ndarray | None:
        """As `analyze_jpeg`, for an already decoded RGB frame."""
        timestamp_ms = max(int(timestamp_ms), self._last_ms + 1)  # mediapipe needs increasing
        self._last_ms = timestamp_ms
        found = self._analyzer.analyze(rgb, timestamp_ms)
        self.analysed += 1
        if found is None:
            return self._smoother(None)
        self.faces += 1
        return self._smoother(found.motion)

    def close(self) -> None:
        """Free the landmarker (safe twice)."""
        self._analyzer.close()
