"""The user's recording: its audio track, where the speech is, its frames at 25 fps.

A converse clip is a face video with the user's voice (a "webcam recording"). Its
audio is read whole; its frames are decoded lazily and mapped onto the session's
25 fps clock, so clips at any frame rate and of any length drive the avatar.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from avatar.live.camera import ANALYSIS_WIDTH
from avatar.video_io import VideoInfo, iter_frames, probe_video, read_audio

FPS = 25
FRAME_SECS = 1.0 / FPS


@dataclass(frozen=True)
class UserClip:
    """The user's recording: its header and its whole audio track (mono float32)."""

    path: Path
    info: VideoInfo
    audio: np.ndarray
    sample_rate: int

    @property
    def duration_secs(self) -> float:
        """Video or audio, whichever lasts longer."""
        info = self.info
        video = info.frame_count / info.fps if info.frame_count else info.duration_s
        return max(video, len(self.audio) / self.sample_rate)

    def audio_frame(self, index: int) -> np.ndarray:
        """The clip's audio under output frame `index` (40 ms; silence past the end)."""
        start = round(index * self.sample_rate / FPS)
        stop = round((index + 1) * self.sample_rate / FPS)
        chunk = self.audio[start:stop]
        if len(chunk) < stop - start:
            chunk = np.concatenate([chunk, np.zeros(stop - start - len(chunk), np.float32)])
        return chunk


def load_user_clip(path: str | Path) -> UserClip:
    """Check and read a user clip: it must exist, have a video stream and an audio track.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a video (`NotAVideoError`), or no audio track / empty audio.
    """
    path = Path(path)
    info = probe_video(path)  # FileNotFoundError / NotAVideoError
    if not info.has_audio:
        raise ValueError(f"{path} has no audio track: converse needs the user's voice in "
                         "the clip (a face video recorded with its sound)")
    sound = read_audio(path)
    if sound is None or len(sound[0]) == 0:
        raise ValueError(f"the audio track of {path} holds no samples")
    audio, rate = sound
    return UserClip(path=path, info=info, audio=audio, sample_rate=rate)


def speech_span(audio: np.ndarray, sample_rate: int, *, floor_db: float = -50.0,
                range_db: float = 30.0) -> tuple[float, float] | None:
    """(start, end) seconds of the speech in `audio`, or None when it is all quiet.

    A 40 ms frame is speech when its RMS is within `range_db` of the loudest
    frame and above `floor_db` dBFS. Pauses between words fall inside the span:
    only the first and last speech frames count (one utterance per clip).
    """
    hop = max(1, sample_rate // FPS)
    frames = len(audio) // hop
    if frames == 0:
        return None
    blocks = np.asarray(audio[: frames * hop], np.float64).reshape(frames, hop)
    db = 10.0 * np.log10(np.mean(blocks**2, axis=1) + 1e-12)
    loudest = float(db.max())
    if loudest < floor_db:
        return None
    voiced = np.flatnonzero(db > max(floor_db, loudest - range_db))
    return float(voiced[0] * hop / sample_rate), float((voiced[-1] + 1) * hop / sample_rate)


def clip_frames(path: Path, fps: float,
                count: int) -> Generator[tuple[int, np.ndarray], None, None]:
    """(clip frame index, RGB) for each of `count` output frames at 25 fps.

    Output frame k shows the latest clip frame at or before k * 40 ms, so clips
    at any frame rate map onto the session's clock; past the clip's end its
    last frame stays (the camera still sees the user).
    """
    decoded = cast(Generator[np.ndarray, None, None], iter_frames(path))  # closable
    try:
        frame = next(decoded, None)
        if frame is None:
            raise ValueError(f"{path} has a video stream but no decodable frames")
        index, exhausted = 0, False
        for k in range(count):
            wanted = int(k * fps / FPS + 1e-6)
            while index < wanted and not exhausted:
                following = next(decoded, None)
                if following is None:
                    exhausted = True
                else:
                    frame, index = following, index + 1
            yield index, frame
    finally:
        decoded.close()


def for_analysis(rgb: np.ndarray) -> np.ndarray:
    """Shrink as the server does for camera frames (camera.ANALYSIS_WIDTH)."""
    if rgb.shape[1] <= ANALYSIS_WIDTH:
        return rgb
    height = max(1, round(rgb.shape[0] * ANALYSIS_WIDTH / rgb.shape[1]))
    return cv2.resize(rgb, (ANALYSIS_WIDTH, height), interpolation=cv2.INTER_AREA)

