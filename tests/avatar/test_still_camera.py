"""Still camera frames skip the landmarker (avatar/live/still_camera.py, issue 48): what
counts as nothing new, and that the motion handed over stays the measured one."""

from __future__ import annotations

import cv2
import numpy as np

from avatar.live.camera import CameraMotion
from avatar.live.still_camera import StillCamera
from tests.avatar.conftest import scripted_frame


def _camera_frame(portrait_rgb: np.ndarray) -> np.ndarray:
    """The portrait as a 320x240 camera frame (the SDKs' width)."""
    square = scripted_frame(portrait_rgb, 240, 0.0, 0.0)
    return np.ascontiguousarray(cv2.copyMakeBorder(square, 0, 0, 40, 40, cv2.BORDER_REPLICATE))


def test_the_same_picture_is_skipped_until_the_longest_gap(portrait_rgb: np.ndarray) -> None:
    frame = _camera_frame(portrait_rgb)
    still = StillCamera(threshold=3.0, max_gap_ms=500)
    assert not still.unchanged(frame, 0)  # the first frame is always analysed
    assert still.unchanged(frame.copy(), 100)
    assert still.unchanged(frame.copy(), 400)
    assert not still.unchanged(frame.copy(), 500)  # analysed again, whatever it shows
    assert still.unchanged(frame.copy(), 600)
    still.reset()
    assert not still.unchanged(frame.copy(), 700)


def test_sensor_noise_is_nothing_new_but_a_mouth_opening_is(portrait_rgb: np.ndarray) -> None:
    """+-4 grey levels of noise everywhere stays under the threshold; a dark patch the
    size of an opening mouth (about 2 % of the picture) crosses it."""
    frame = _camera_frame(portrait_rgb)
    still = StillCamera(threshold=3.0, max_gap_ms=10_000)
    assert not still.unchanged(frame, 0)
    noise = np.random.default_rng(0).integers(-4, 5, frame.shape)
    noisy = np.clip(frame.astype(int) + noise, 0, 255).astype(np.uint8)
    assert still.unchanged(noisy, 100)
    mouth = frame.copy()
    mouth[150:170, 140:180] = mouth[150:170, 140:180] // 3
    assert not still.unchanged(mouth, 200)


def test_a_slow_drift_adds_up_against_the_last_analysed_frame(portrait_rgb: np.ndarray) -> None:
    """A change of one grey level a frame never crosses the threshold between two
    neighbours, but it is measured against the last ANALYSED frame, so it does."""
    frame = _camera_frame(portrait_rgb).astype(int)
    still = StillCamera(threshold=3.0, max_gap_ms=10_000)
    assert not still.unchanged(frame.astype(np.uint8), 0)
    verdicts = []
    for step in range(1, 9):
        drifted = frame.copy()
        drifted[100:160, 120:200] += 2 * step  # a region brightening, 2 levels a frame
        verdicts.append(still.unchanged(np.clip(drifted, 0, 255).astype(np.uint8), step * 100))
    assert verdicts[0] and not all(verdicts)


def test_skipped_frames_hand_over_the_last_measured_motion(portrait_rgb: np.ndarray) -> None:
    """The real landmarker: a repeated frame is not analysed again and gives the same
    motion; a different picture is analysed; without skipping every frame is."""
    frame = _camera_frame(portrait_rgb)
    turned = _camera_frame(np.ascontiguousarray(portrait_rgb[:, ::-1]))  # the face mirrored
    camera = CameraMotion(smoothing=0.0)
    plain = CameraMotion(smoothing=0.0, skip_still=False)
    try:
        first = camera.analyze_rgb(frame, 0)
        again = camera.analyze_rgb(frame.copy(), 40)
        assert first is not None and again is not None
        assert np.array_equal(first, again)
        assert (camera.analysed, camera.skipped) == (1, 1)
        assert camera.analyze_rgb(turned, 80) is not None
        assert camera.analysed == 2
        for stamp in (0, 40, 80):
            plain.analyze_rgb(frame, stamp)
        assert (plain.analysed, plain.skipped) == (3, 0)
    finally:
        camera.close()
        plain.close()
