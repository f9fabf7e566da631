"""JPEG codecs of the SDK: avatar frames to RGB, camera frames to JPEG (OpenCV, on first use)."""

from __future__ import annotations

import numpy as np

#: Camera frames: 320 px wide is plenty for face analysis and ~15 KiB as JPEG.
DEFAULT_CAMERA_WIDTH = 320
DEFAULT_JPEG_QUALITY = 75


def decode_jpeg(data: bytes) -> np.ndarray:
    """A JPEG (or PNG) as an (H, W, 3) uint8 RGB array.

    Raises:
        ValueError: the bytes are not a decodable image.
    """
    import cv2

    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"not a decodable image ({len(data)} bytes, starts {data[:4]!r})")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def encode_camera_jpeg(
    rgb: np.ndarray, *, width: int = DEFAULT_CAMERA_WIDTH, quality: int = DEFAULT_JPEG_QUALITY
) -> bytes:
    """An RGB frame resized to `width` (aspect kept) and encoded as a camera JPEG.

    Face analysis needs no more than 320-480 px of width; smaller frames keep
    the upload (and the server's decode) cheap.

    Raises:
        ValueError: not an (H, W, 3) uint8 image, or a width/quality out of range.
    """
    return encode_jpeg(rgb, width=width, quality=quality, bgr=False)


def encode_jpeg(image: np.ndarray, *, width: int, quality: int, bgr: bool) -> bytes:
    """Resize then encode; `bgr` says the channels are already in OpenCV's order."""
    import cv2

    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"a camera frame is (H, W, 3) uint8, got {array.shape} {array.dtype}")
    if not 16 <= width <= 4096:
        raise ValueError(f"camera frame width must be 16-4096 px, got {width}")
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1-100, got {quality}")
    h, w = array.shape[:2]
    if w != width:
        height = max(1, round(h * width / w))
        shrink = cv2.INTER_AREA if width < w else cv2.INTER_LINEAR
        # resize before the colour swap: fewer pixels to convert
        array = cv2.resize(array, (width, height), interpolation=shrink)
    if not bgr:
        array = array[:, :, ::-1]
    ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(array),
                               [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {array.shape} frame as JPEG")
    return encoded.tobytes()
