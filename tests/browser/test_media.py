"""The fake camera (Y4M) and microphone (WAV) files for Chromium, checked on real data."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from avatar.live.assets import encode_jpeg
from avatar.live.camera import CameraMotion
from pipelines.speech.models import SpeechModels
from tests.browser.media import (
    MIC_TAIL_SECONDS,
    ping_pong,
    read_y4m,
    speak,
    write_fake_camera_y4m,
    write_fake_mic_wav,
)


def test_ping_pong_never_jumps() -> None:
    assert ping_pong(9, 4) == [0, 1, 2, 3, 2, 1, 0, 1, 2]
    assert ping_pong(3, 1) == [0, 0, 0]


def test_fake_camera_y4m_is_a_webcam_with_a_face(tmp_path: Path) -> None:
    fps, seconds = 15, 4.0  # 60 frames: 45 rendered, then played backwards
    path = write_fake_camera_y4m(tmp_path / "camera.y4m", seconds, fps=fps)
    frames_expected = 60

    frame_bytes = 640 * 480 * 3 // 2
    header = path.read_bytes()[:64].split(b"\n")[0]
    assert header == b"YUV4MPEG2 W640 H480 F15:1 Ip A1:1 C420jpeg"
    assert path.stat().st_size == len(header) + 1 + frames_expected * (6 + frame_bytes)

    tags, frames = read_y4m(path)
    assert (tags["W"], tags["H"], tags["F"]) == ("640", "480", "15:1")
    assert len(frames) == frames_expected
    assert all(frame.shape == (480, 640, 3) for frame in frames)
    assert np.array_equal(frames[46], frames[42])  # ping-pong: ..., 43, 44, 43, 42, ...
    assert not np.array_equal(frames[0], frames[10])  # it moves

    with av.open(str(path)) as container:  # what ffmpeg (and Chromium's parser) reads
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(decoded) == frames_expected
    assert decoded[0].shape == (480, 640, 3)
    assert np.abs(decoded[20].astype(int) - frames[20].astype(int)).mean() < 3.0

    # as the kiosk would send it: 320 px JPEGs at quality 80, to the server's analyser
    camera = CameraMotion()
    try:
        found = []
        for index in range(0, frames_expected, 4):
            small = cv2.resize(frames[index], (320, 240), interpolation=cv2.INTER_AREA)
            found.append(camera.analyze_jpeg(encode_jpeg(small, 80), index * 1000 // fps))
    finally:
        camera.close()
    assert all(motion is not None for motion in found)
    yaw = np.array([motion[0] for motion in found if motion is not None])
    assert np.ptp(yaw) > 5.0  # the head turns


@pytest.fixture(scope="module")
def speech_models() -> SpeechModels:
    """Bundled whisper + piper (only piper is used here)."""
    return SpeechModels.bundled()


def rms(samples: np.ndarray) -> float:
    """Root mean square of int16 samples (0 for none)."""
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0


def test_fake_mic_wav_has_speech_where_the_timeline_says(tmp_path: Path,
                                                         speech_models: SpeechModels) -> None:
    hello = speak(speech_models, "Hello, where is the library?")
    thanks = speak(speech_models, "Thank you.")
    assert len(hello) % 2 == 0 and len(hello) > 16_000  # 16 kHz PCM16, over half a second
    rate = 48_000
    segments: list[tuple[float, bytes | None]] = [(0.5, hello), (5.0, thanks), (6.0, None)]
    path = write_fake_mic_wav(tmp_path / "mic.wav", segments, rate=rate)

    with wave.open(str(path), "rb") as handle:
        assert (handle.getnchannels(), handle.getsampwidth(), handle.getframerate()) == (1, 2, rate)
        samples = np.frombuffer(handle.readframes(handle.getnframes()), "<i2")
    hello_s, thanks_s = len(hello) / 2 / 16_000, len(thanks) / 2 / 16_000
    end_s = max(0.5 + hello_s, 5.0 + thanks_s, 6.0)
    assert len(samples) / rate == pytest.approx(end_s + MIC_TAIL_SECONDS, abs=0.01)

    def span(start_s: float, stop_s: float) -> np.ndarray:
        return samples[int(start_s * rate):int(stop_s * rate)]

    assert rms(span(0.5, 0.5 + hello_s)) > 500  # speech
    assert rms(span(5.0, 5.0 + thanks_s)) > 500
    assert rms(span(0.0, 0.49)) < 5  # silence before, between and after
    assert rms(span(0.5 + hello_s + 0.02, 4.99)) < 5
    assert rms(span(5.0 + thanks_s + 0.02, len(samples) / rate)) < 5
    # the speech starts after the voice's 0.3 s lead-in, not before
    assert rms(span(0.5, 0.75)) < 50 < rms(span(0.8, 0.5 + hello_s))
