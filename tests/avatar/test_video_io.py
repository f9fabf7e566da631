"""PyAV video I/O: what is written is read back with its timing, size and sound."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from avatar.errors import NotAVideoError
from avatar.video_io import VideoWriter, pick_video_codec, probe_video, read_audio, read_video
from tests.avatar.conftest import DriverClip


def _dominant_hz(samples: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1.0 / sample_rate)[int(np.argmax(spectrum))])


def test_h264_is_available() -> None:
    assert pick_video_codec() == "libx264"


def test_round_trip_keeps_frames_fps_and_audio(driver_clip: DriverClip) -> None:
    info = probe_video(driver_clip.path)
    assert (info.width, info.height) == (driver_clip.size, driver_clip.size)
    assert info.fps == pytest.approx(driver_clip.fps)
    assert info.has_audio
    frames, fps, audio = read_video(driver_clip.path)
    decoded = list(frames)
    assert len(decoded) == driver_clip.frames
    assert fps == pytest.approx(driver_clip.fps)
    assert decoded[0].shape == (driver_clip.size, driver_clip.size, 3)
    assert decoded[0].dtype == np.uint8
    # blank frames stay blank (lossy codec: close, not equal)
    assert abs(float(decoded[13].mean()) - 30.0) < 3.0
    assert audio is not None
    samples, sample_rate = audio
    assert sample_rate == driver_clip.sample_rate
    assert samples.dtype == np.float32 and samples.ndim == 1
    # AAC adds priming/padding: length within ~2 AAC frames of the video duration
    assert abs(len(samples) / sample_rate - driver_clip.frames / driver_clip.fps) < 0.15
    assert _dominant_hz(samples, sample_rate) == pytest.approx(driver_clip.tone_hz, abs=5.0)
    assert 0.2 < np.abs(samples).max() < 0.4


def test_video_without_audio(tmp_path: Path) -> None:
    path = tmp_path / "silent.mkv"
    with VideoWriter(path, 30.0, (64, 48)) as writer:
        for value in range(0, 250, 25):
            writer.write(np.full((48, 64, 3), value, np.uint8))
    frames, fps, audio = read_video(path)
    decoded = list(frames)
    assert audio is None and read_audio(path) is None
    assert fps == pytest.approx(30.0)
    assert len(decoded) == 10
    assert [round(float(f.mean()) / 25) for f in decoded] == list(range(10))


def test_writer_rejects_wrong_frames(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "x.mp4", 25.0, 64) as writer:
        with pytest.raises(ValueError, match="64, 64, 3"):
            writer.write(np.zeros((32, 32, 3), np.uint8))
        with pytest.raises(ValueError, match="uint8"):
            writer.write(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "odd.mp4", 25.0, 63)


def test_unreadable_inputs_raise_clear_errors(tmp_path: Path, text_file: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        read_video(tmp_path / "missing.mp4")
    with pytest.raises(NotAVideoError, match="not a readable video|cannot decode"):
        read_video(text_file)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg CLI (Debian ffmpeg)")
def test_phone_rotation_is_applied(driver_clip: DriverClip, tmp_path: Path) -> None:
    """A display-matrix rotation (phone portrait video) yields upright frames."""
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-i", str(driver_clip.path), "-c", "copy",
         "-metadata:s:v:0", "rotate=90", str(rotated)],
        check=True,
    )
    info = probe_video(rotated)
    assert info.rotation == 90
    plain = next(read_video(driver_clip.path, audio=False)[0])
    upright = next(read_video(rotated, audio=False)[0])
    # same pixels turned a quarter counter-clockwise, as ffmpeg's own autorotate shows them
    np.testing.assert_array_equal(upright, np.rot90(plain, 1))
