"""Read and write video (with audio) through PyAV, so any container ffmpeg knows works.

Why PyAV and not OpenCV: OpenCV's VideoCapture drops audio and its writer depends
on whatever codecs the wheel was built with; PyAV bundles ffmpeg (libx264 and
AAC included), decodes audio next to video and muxes both with shared timing.

Audio is handed around as mono float32 in [-1, 1] plus its sample rate: that is
what the face and speech code downstream consume, and it avoids planar/packed
layout questions leaking out of this module.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import av
import numpy as np

from avatar.errors import NotAVideoError

FALLBACK_FPS = 25.0
PREFERRED_VIDEO_CODECS: tuple[str, ...] = ("libx264", "mpeg4")
AUDIO_CODEC = "aac"


@dataclass(frozen=True)
class VideoInfo:
    """What a container holds, read from its headers (frame_count may be 0 if unknown)."""

    fps: float
    frame_count: int
    width: int
    height: int
    has_audio: bool
    duration_s: float
    rotation: int = 0  # display rotation applied to decoded frames (deg, counter-clockwise)


def _open(path: str | Path) -> Any:
    """Open a container for reading, turning ffmpeg errors into clear ones."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        raise NotAVideoError(f"{path} is not a readable video: {error}") from error


def _stream_fps(stream: Any) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate and float(rate) > 0 else FALLBACK_FPS


def probe_video(path: str | Path) -> VideoInfo:
    """Header information of a video file, without decoding frames."""
    with _open(path) as container:
        if not container.streams.video:
            raise NotAVideoError(f"{path} has no video stream")
        stream = container.streams.video[0]
        fps = _stream_fps(stream)
        duration_s = 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration_s = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration_s = container.duration / av.time_base
        frame_count = int(stream.frames or round(duration_s * fps))
        width, height = stream.codec_context.width, stream.codec_context.height
        rotation = 0
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError:
            first = None  # reported by read_video, which decodes for real
        if first is not None:
            rotation = _quarter_turns(first) * 90
            if rotation % 180:
                width, height = height, width
        return VideoInfo(
            fps=fps, frame_count=frame_count, width=width, height=height,
            has_audio=bool(container.streams.audio), duration_s=duration_s,
            rotation=rotation,
        )


def _quarter_turns(frame: Any) -> int:
    """Counter-clockwise quarter turns that display the frame upright.

    Phones store portrait video landscape with a display-matrix rotation that
    players apply; a face analysed unrotated lies on its side and is missed.
    PyAV exposes the angle as `frame.rotation` (counter-clockwise degrees).
    """
    angle = getattr(frame, "rotation", 0) or 0
    return int(round(float(angle) / 90.0)) % 4


def read_audio(path: str | Path) -> tuple[np.ndarray, int] | None:
    """The first audio stream as (mono float32 samples, sample_rate); None if silent film."""
    with _open(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        sample_rate = int(stream.codec_context.sample_rate or stream.rate)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as error:
            raise NotAVideoError(f"cannot decode the audio of {path}: {error}") from error
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        return samples.astype(np.float32, copy=False), sample_rate


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Decode the first video stream as upright (H, W, 3) uint8 RGB frames, lazily."""
    container = _open(path)
    try:
        if not container.streams.video:
            raise NotAVideoError(f"{path} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                turns = _quarter_turns(frame)
                array = frame.to_ndarray(format="rgb24")
                yield np.ascontiguousarray(np.rot90(array, turns)) if turns else array
        except av.error.FFmpegError as error:
            raise NotAVideoError(f"cannot decode the video of {path}: {error}") from error
    finally:
        container.close()


def read_video(
    path: str | Path, *, audio: bool = True
) -> tuple[Iterator[np.ndarray], float, tuple[np.ndarray, int] | None]:
    """(RGB frame iterator, fps, (mono float32 audio, sample rate) or None).

    The file is checked now: a missing file, a file that is not a video and a
    video whose first frame does not decode raise here rather than at the first
    `next`. Frames then decode lazily so long videos never sit in memory.
    """
    info = probe_video(path)
    frames = iter_frames(path)
    try:
        first = next(frames)
    except StopIteration:
        raise NotAVideoError(f"{path} has a video stream but no decodable frames") from None
    sound = read_audio(path) if audio and info.has_audio else None
    return itertools.chain([first], frames), info.fps, sound


def pick_video_codec() -> str:
    """H.264 (libx264) when PyAV's ffmpeg has it, else MPEG-4 part 2."""
    for name in PREFERRED_VIDEO_CODECS:
        try:
            av.codec.Codec(name, "w")
        except (av.error.FFmpegError, ValueError):
            continue
        return name
    raise RuntimeError(f"PyAV's ffmpeg has none of the video encoders {PREFERRED_VIDEO_CODECS}")


class VideoWriter:
    """Encode RGB frames (H.264 or MPEG-4) plus an optional mono audio track (AAC).

    Audio is given up front (a talking-head clip's sound is known before its
    frames are rendered) and muxed progressively: after each video frame, audio up
    to that frame's end time is encoded, so the muxer never buffers the whole
    track. Audio longer than the video is cut at `close`; shorter is simply shorter.
    """

    def __init__(
        self, path: str | Path, fps: float, size: int | tuple[int, int],
        audio: np.ndarray | None = None, sample_rate: int = 16_000, *, crf: int = 20,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        width, height = (size, size) if isinstance(size, int) else size
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"video size must be positive and even, got {width}x{height}")
        self.path = Path(path)
        self.fps = float(fps)
        self.width, self.height = int(width), int(height)
        self.frames_written = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container: Any = av.open(str(self.path), mode="w")
        codec = pick_video_codec()
        self.codec = codec
        rate = Fraction(self.fps).limit_denominator(1001)
        self._video: Any = cast(Any, self._container.add_stream(codec, rate=rate))
        self._video.width, self._video.height = self.width, self.height
        self._video.pix_fmt = "yuv420p"
        if codec == "libx264":
            self._video.options = {"crf": str(crf), "preset": "veryfast"}
        else:
            self._video.bit_rate = 4_000_000
        self._audio_stream: Any = None
        self._audio: np.ndarray | None = None
        self._audio_done = 0
        self.sample_rate = int(sample_rate)
        if audio is not None:
            self._audio = _as_mono_float32(audio)
            if self.sample_rate <= 0:
                raise ValueError(f"sample_rate must be positive, got {sample_rate}")
            self._audio_stream = self._container.add_stream(AUDIO_CODEC, rate=self.sample_rate)
            self._audio_stream.layout = "mono"

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame of the writer's size."""
        if self._container is None:
            raise RuntimeError(f"VideoWriter for {self.path} is closed")
        array = np.asarray(frame)
        if array.shape != (self.height, self.width, 3) or array.dtype != np.uint8:
            raise ValueError(
                f"frames must be ({self.height}, {self.width}, 3) uint8 RGB, "
                f"got {array.shape} {array.dtype}"
            )
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
        video_frame.pts = self.frames_written
        for packet in self._video.encode(video_frame):
            self._container.mux(packet)
        self.frames_written += 1
        self._write_audio_until(self.frames_written / self.fps)

    def _write_audio_until(self, seconds: float) -> None:
        if self._audio is None:
            return
        end = min(len(self._audio), int(round(seconds * self.sample_rate)))
        if end <= self._audio_done:
            return
        chunk = self._audio[self._audio_done:end].reshape(1, -1)
        audio_frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        audio_frame.sample_rate = self.sample_rate
        audio_frame.pts = self._audio_done
        audio_frame.time_base = Fraction(1, self.sample_rate)
        for packet in self._audio_stream.encode(audio_frame):
            self._container.mux(packet)
        self._audio_done = end

    def close(self) -> None:
        """Flush encoders and finish the file; safe to call twice."""
        if self._container is None:
            return
        try:
            for packet in self._video.encode(None):
                self._container.mux(packet)
            if self._audio_stream is not None:
                self._write_audio_until(self.frames_written / self.fps)
                for packet in self._audio_stream.encode(None):
                    self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _as_mono_float32(audio: np.ndarray) -> np.ndarray:
    """Mono float32 in [-1, 1] from float or int16 samples, (n,) or (n, channels)."""
    samples = np.asarray(audio)
    if samples.ndim == 2:
        samples = samples.mean(axis=1) if samples.shape[1] <= 8 else samples.mean(axis=0)
    if samples.ndim != 1:
        raise ValueError(f"audio must be (samples,) or (samples, channels), got {audio.shape}")
    if samples.dtype == np.int16:
        return (samples.astype(np.float32) / 32768.0).astype(np.float32)
    return np.clip(samples.astype(np.float32), -1.0, 1.0)
