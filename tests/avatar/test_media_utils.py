"""The shared audio and track helpers (avatar/media_utils.py): corpus WAVs and
resampling a motion track in time."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from avatar.audio_features import SAMPLE_RATE
from avatar.media_utils import read_wav, resample_track, write_wav
from avatar.motion import MOTION_DIM, MotionTrack


def test_resample_track_is_linear_in_time() -> None:
    t30 = np.arange(60) / 30.0
    data = np.zeros((60, MOTION_DIM), np.float32)
    data[:, 0] = t30 * 10.0  # yaw ramps 10 deg/s
    found = np.ones(60, bool)
    found[30] = False
    out = resample_track(MotionTrack(data, fps=30.0, found=found), 50)
    t25 = np.arange(50) / 25.0
    ok = out.found
    assert np.allclose(out.data[ok, 0], t25[ok] * 10.0, atol=0.2)
    assert not out.found.all()  # the missing source frame stays missing


def test_wav_round_trip_is_16_bit_exact(tmp_path: Path) -> None:
    pcm = np.sin(np.linspace(0.0, 200.0, SAMPLE_RATE)).astype(np.float32) * 0.5
    pcm[:10] = 2.0  # out of range: clipped, not wrapped
    path = tmp_path / "a.wav"
    write_wav(path, pcm)
    back = read_wav(path)
    assert back.dtype == np.float32 and len(back) == len(pcm)
    assert np.allclose(back, np.clip(pcm, -1.0, 1.0), atol=1.0 / 16384)


def test_read_wav_refuses_another_rate(tmp_path: Path) -> None:
    path = tmp_path / "48k.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(48_000)
        wav.writeframes(np.zeros(480, "<i2").tobytes())
    with pytest.raises(ValueError, match="16-bit mono"):
        read_wav(path)
