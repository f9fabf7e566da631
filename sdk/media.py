"""Media of the SDK: camera frames from a video file, WAV files in and out.

A video file is read through avatar.video_io (PyAV) on first use; WAV files
need only the standard library (and soxr to resample).
"""

from __future__ import annotations

import wave
from collections.abc import Generator
from pathlib import Path

import numpy as np

from sdk.images import encode_camera_jpeg
from sdk.protocol import Limits

#: Camera frames sent a second by default.
DEFAULT_CAMERA_FPS = 15.0


def check_camera_fps(fps: float) -> float:
    """Camera rate within what the server analyses (it skips frames beyond 25 fps)."""
    limit = Limits().max_camera_fps
    if not 0 < fps <= limit:
        raise ValueError(f"camera fps must be in (0, {limit:g}], got {fps}")
    return float(fps)


def sampled_jpegs(
    path: Path, step: float, width: int, quality: int
) -> Generator[bytes, None, None]:
    """Every `step`-th frame of a video (fractional steps spread evenly) as camera JPEGs."""
    from avatar.video_io import iter_frames

    next_index = 0.0
    for index, frame in enumerate(iter_frames(path)):
        if index + 1e-9 >= next_index:
            next_index += step
            yield encode_camera_jpeg(frame, width=width, quality=quality)


def read_wav_pcm16(path: Path, *, target_rate: int | None = None) -> tuple[bytes, int]:
    """Read a WAV as mono PCM s16le; resample to `target_rate` when given.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a PCM WAV file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"WAV file not found: {path}")
    try:
        with wave.open(str(path), "rb") as wav:
            rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as error:
        raise ValueError(f"{path} is not a PCM WAV file: {error}") from error
    if width != 2:
        raise ValueError(f"{path}: only 16-bit PCM WAV is supported (got {8 * width}-bit)")
    samples = np.frombuffer(frames, dtype=np.int16)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
    if target_rate is not None and target_rate != rate:
        import soxr

        samples = soxr.resample(samples, rate, target_rate).astype(np.int16)
        rate = target_rate
    return samples.tobytes(), rate


def write_wav_pcm16(path: Path, pcm: bytes, sample_rate: int) -> None:
    """Write mono PCM s16le as a WAV file (creating parent folders)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)
