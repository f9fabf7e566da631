"""Audio and motion-track helpers that every offline tool shares: corpus WAV files
and resampling a motion track in time.

Why a module of its own: the corpus writer, video ingest, the real-face pool,
the dataset, evaluation and the reactivity benches all read or write the same
16 kHz mono WAVs and put tracks on the 25 fps clock. Kept in the writer and in
ingest, these helpers made the corpus import itself in a circle
(writer -> dialogue -> real_faces -> ingest -> writer). This module imports only
numpy, the rate constants and MotionTrack, so any module may import it.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from avatar.audio_features import FPS, SAMPLE_RATE
from avatar.motion import MotionTrack


def write_wav(path: Path, pcm: np.ndarray) -> None:
    """float32 [-1, 1] mono 16 kHz -> 16-bit PCM wav (the corpus audio format)."""
    data = (np.clip(pcm, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(data.tobytes())


def read_wav(path: Path) -> np.ndarray:
    """16-bit mono 16 kHz wav -> float32; raises ValueError on any other format."""
    with wave.open(str(path), "rb") as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2 or wav.getframerate() != SAMPLE_RATE:
            raise ValueError(f"{path}: expected 16-bit mono {SAMPLE_RATE} Hz wav")
        raw = wav.readframes(wav.getnframes())
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


def resample_track(track: MotionTrack, n_frames: int, fps: float = FPS) -> MotionTrack:
    """Resample a track to `fps` with `n_frames` frames (linear in time within found runs).

    A frame between two frames with a face is interpolated; next to a frame
    without one it takes the nearer frame as it is, so no pose is invented
    across a gap in the face.
    """
    if len(track) == 0:
        raise ValueError("cannot resample an empty motion track")
    pos = np.arange(n_frames) * (track.fps / fps)
    lo = np.clip(np.floor(pos).astype(int), 0, len(track) - 1)
    hi = np.clip(lo + 1, 0, len(track) - 1)
    w = np.clip(pos - lo, 0.0, 1.0)  # (n,)
    both = track.found[lo] & track.found[hi]
    nearest = np.where(w < 0.5, lo, hi)
    data = np.where(both[:, None], (1 - w[:, None]) * track.data[lo] + w[:, None] * track.data[hi],
                    track.data[nearest])
    found = np.where(both, True, track.found[nearest])
    return MotionTrack(data.astype(np.float32), fps=fps, found=found.astype(bool))
