"""What the face benches feed one live face: a spoken-like reply and the user's camera.

Why here: bench/face_cost.py, bench/density.py and others drive `AvatarSession`s
with the same inputs, so a figure from one compares with a figure from another.
"""

from __future__ import annotations

import cv2
import numpy as np

#: the reply's sample rate (piper's)
RATE = 22050


def reply_tone(secs: float, rate: int = RATE) -> np.ndarray:
    """A voiced-like tone with a syllable envelope (the jaw moves with it)."""
    t = np.arange(int(secs * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 160 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
            ).astype(np.float32)


def camera_frames() -> tuple[bytes, np.ndarray]:
    """A real face as each transport hands it over: the JPEG the SDKs and the kiosk
    page send (their default width and quality), and a raw 640x480 RGB frame (a
    browser's camera over WebRTC)."""
    from benchkit.camera import camera_photo
    from sdk.images import DEFAULT_CAMERA_WIDTH, DEFAULT_JPEG_QUALITY, encode_jpeg

    photo = camera_photo(None)[0]
    jpeg = encode_jpeg(photo, width=DEFAULT_CAMERA_WIDTH, quality=DEFAULT_JPEG_QUALITY,
                       bgr=False)
    height, width = photo.shape[:2]
    side = min(height, width)
    square = photo[(height - side) // 2:(height - side) // 2 + side,
                   (width - side) // 2:(width - side) // 2 + side]
    raw = cv2.resize(cv2.copyMakeBorder(square, 0, 0, side // 6, side // 6,
                                        cv2.BORDER_REPLICATE), (640, 480))
    return jpeg, np.ascontiguousarray(raw)
