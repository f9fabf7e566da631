"""A pipecat output transport that plays to memory, and a pipeline around a face.

`MemoryOutputTransport` is pipecat's own output path (`BaseOutputTransport` and its
MediaSender: audio chunking, the live video queue, the bot-speaking state) ending
in lists instead of a device: audio is written at real-time pace, as a sound card
or a WebRTC track takes it, so what it records is what a pipecat transport would
play and when. The tests of `AvatarForcingVideoService` and bench/live/video_service.py
drive the service through it, as a pipecat developer's app would.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    MetricsFrame,
    OutputAudioRawFrame,
    OutputImageRawFrame,
    StartFrame,
    TextFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker, ProcessorUnusablePolicy
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import TransportParams
from pipecat.utils.text.base_text_aggregator import TextType
from pipecat.workers.runner import WorkerRunner

try:
    from pipelines.wire.frames import FRAME_INDEX_METADATA
except ModuleNotFoundError:  # copied beside an app that has the wheel: our packages' names there
    from avatar_forcing.pipelines.wire.frames import FRAME_INDEX_METADATA  # type: ignore[no-redef]

#: lip-sync slots (s): one frame of the face
SLOT_SECS = 0.04


@dataclass
class Played:
    """What the transport played, each item with the monotonic time it was written."""

    audio: list[tuple[float, bytes]] = field(default_factory=list)
    images: list[tuple[float, OutputImageRawFrame]] = field(default_factory=list)
    #: (time, (width, height)) of each image as the face drew it, before the transport
    #: scales it to its own size (pipecat resizes any image of another size)
    drawn: list[tuple[float, tuple[int, int]]] = field(default_factory=list)
    #: (time, bytes) of each audio frame as the face pushed it, before the transport
    #: queues it: against `audio`, how long the transport held it (`audio_held_secs`)
    pushed_audio: list[tuple[float, int]] = field(default_factory=list)
    #: the face frame each pushed audio frame belongs to (its `FRAME_INDEX_METADATA`;
    #: None: not stamped), in step with `pushed_audio`
    pushed_frames: list[int | None] = field(default_factory=list)
    #: the rate the transport played its (mono) audio at (Hz; 0: none played yet)
    out_rate: int = 0


class MemoryOutputTransport(BaseOutputTransport):
    """pipecat's output path ending in memory; audio takes as long as it plays."""

    def __init__(self, params: TransportParams, played: Played) -> None:
        super().__init__(params)
        self.played = played
        self._audio_clock = 0.0

    async def start(self, frame: StartFrame) -> None:
        """Ready as soon as started (no device to open)."""
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        """Queue the chunk on a device clock that never drifts, recording when it starts
        to play; return once no more than one chunk waits (a sound card's buffer).

        A writer that comes late finds the device idle (an underrun: it played
        silence), and the chunk starts now; one that comes early waits its turn."""
        duration = len(frame.audio) / 2 / frame.sample_rate
        self._audio_clock = max(self._audio_clock, time.monotonic())
        self.played.out_rate = frame.sample_rate
        self.played.audio.append((self._audio_clock, frame.audio))
        self._audio_clock += duration
        await asyncio.sleep(max(0.0, self._audio_clock - duration - time.monotonic()))
        return True

    async def write_video_frame(self, frame: OutputImageRawFrame) -> bool:
        """Record the image."""
        self.played.images.append((time.monotonic(), frame))
        return True


class DrawnSizes(FrameProcessor):
    """Before the transport: the size each image was drawn at (the transport scales it),
    and when each audio frame was pushed."""

    def __init__(self, played: Played) -> None:
        super().__init__()
        self.played = played

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Note an image's size and an audio frame's time; pass everything on."""
        await super().process_frame(frame, direction)
        if isinstance(frame, OutputImageRawFrame):
            self.played.drawn.append((time.monotonic(), tuple(frame.size)))  # type: ignore[arg-type]
        elif isinstance(frame, OutputAudioRawFrame) and direction == FrameDirection.DOWNSTREAM:
            self.played.pushed_audio.append((time.monotonic(), len(frame.audio)))
            self.played.pushed_frames.append(frame.metadata.get(FRAME_INDEX_METADATA))
        await self.push_frame(frame, direction)


class BotStateRecorder(FrameProcessor):
    """After the transport: the bot-speaking frames it pushes, the metrics and text
    frames that reached the end of the pipeline, and the images it released behind
    their audio, with their times."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[float, str]] = []
        self.metrics: list[tuple[float, MetricsFrame]] = []
        self.texts: list[tuple[float, TextFrame]] = []
        #: images the transport released behind their audio (`sync_with_audio`), when it
        #: made each its current picture: its video task redraws the current picture at
        #: its frame rate, so an image replaced within one of its frames is never written
        self.released: list[tuple[float, OutputImageRawFrame]] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Note bot started / stopped speaking, metrics and text; pass everything on."""
        await super().process_frame(frame, direction)
        if isinstance(frame, BotStartedSpeakingFrame | BotStoppedSpeakingFrame):
            self.events.append((time.monotonic(), type(frame).__name__))
        elif isinstance(frame, MetricsFrame):
            self.metrics.append((time.monotonic(), frame))
        elif isinstance(frame, TextFrame):
            self.texts.append((time.monotonic(), frame))
        elif isinstance(frame, OutputImageRawFrame) and direction == FrameDirection.DOWNSTREAM:
            self.released.append((time.monotonic(), frame))
        await self.push_frame(frame, direction)


@dataclass
class FaceRun:
    """A running pipeline `[face, DrawnSizes, MemoryOutputTransport, BotStateRecorder]`."""

    face: FrameProcessor
    worker: PipelineWorker
    played: Played
    bot: BotStateRecorder
    runner_task: asyncio.Task[None]
    #: the ErrorFrames that reached the pipeline worker (its `on_pipeline_error`)
    errors: list[ErrorFrame] = field(default_factory=list)

    async def send(self, *frames: Frame) -> None:
        """Queue frames at the pipeline's start (as the processors before the face would)."""
        await self.worker.queue_frames(list(frames))

    async def speak(self, pcm: np.ndarray, rate: int, chunk_secs: float = 0.1,
                    text: str | None = None) -> None:
        """A TTS reply: started, int16 audio in chunks as a TTS service streams it, its
        words (a TTSTextFrame, as pipecat's TTS services push them), stopped."""
        step = int(rate * chunk_secs)
        words = [TTSTextFrame(text, text_type=TextType.SENTENCE)] if text else []
        await self.send(TTSStartedFrame(), *(
            TTSAudioRawFrame(audio=pcm[i:i + step].tobytes(), sample_rate=rate, num_channels=1)
            for i in range(0, len(pcm), step)), *words, TTSStoppedFrame())

    async def end(self, timeout_secs: float = 30.0) -> None:
        """End the pipeline gracefully and wait for it."""
        await self.worker.queue_frame(EndFrame())
        await asyncio.wait_for(self.runner_task, timeout_secs)


async def start_face_run(face: FrameProcessor, *, out_rate: int, size: int,
                         first_image_timeout_secs: float = 60.0,
                         wait_for_image: bool = True, video_live: bool = True,
                         video_framerate: int = 25, enable_metrics: bool = False,
                         unusable_policy: ProcessorUnusablePolicy = (
                             ProcessorUnusablePolicy.CONTINUE)) -> FaceRun:
    """Run `face` in front of a memory transport at `out_rate` Hz and `size` px; returns
    once the first image was played (the face builds its session on StartFrame), or
    at once with `wait_for_image=False` (an app that speaks as soon as it starts).
    `video_live=False`: the transport redraws its current image at `video_framerate`
    (the face's images then travel with the audio: `images_sync_with_audio`).
    `enable_metrics` and `unusable_policy`: pipecat's, as an app sets them."""
    played = Played()
    transport = MemoryOutputTransport(TransportParams(
        audio_out_enabled=True, audio_out_sample_rate=out_rate,
        video_out_enabled=True, video_out_is_live=video_live,
        video_out_width=size, video_out_height=size, video_out_framerate=video_framerate),
        played)
    bot = BotStateRecorder()
    worker = PipelineWorker(Pipeline([face, DrawnSizes(played), transport, bot]),
                            params=PipelineParams(audio_out_sample_rate=out_rate,
                                                  enable_metrics=enable_metrics),
                            enable_rtvi=False, idle_timeout_secs=None,
                            processor_unusable_policy=unusable_policy)
    errors: list[ErrorFrame] = []

    @worker.event_handler("on_pipeline_error")
    async def on_error(worker: PipelineWorker, frame: ErrorFrame) -> None:
        errors.append(frame)

    runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
    await runner.add_workers(worker)
    task = asyncio.create_task(runner.run())
    deadline = time.monotonic() + first_image_timeout_secs
    while wait_for_image and not played.images:
        if task.done():
            raise RuntimeError(f"the pipeline ended before its first image: {task}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no image within {first_image_timeout_secs:g} s of the start")
        await asyncio.sleep(0.05)
    return FaceRun(face, worker, played, bot, task, errors)


def audio_held_secs(played: Played) -> list[tuple[float, float]]:
    """(play time, seconds the transport held it) for each played chunk: from the push
    of the audio frame holding its first byte to its start on the device clock. Audio
    a transport holds while its images go straight out plays that much behind them."""
    pushed_at = np.array([t for t, _ in played.pushed_audio])
    pushed_end = np.cumsum([n for _, n in played.pushed_audio])
    held, offset = [], 0
    for t, pcm in played.audio:
        index = int(np.searchsorted(pushed_end, offset, side="right"))
        if index < len(pushed_at):
            held.append((t, t - float(pushed_at[index])))
        offset += len(pcm)
    return held


def image_offsets(played: Played, since: float = 0.0) -> list[tuple[float, float]]:
    """(show time, seconds it was shown after its own audio started playing) for each
    image played from `since` whose frame's audio was pushed (negative: the picture ran
    ahead of its voice). Each image's frame (`AvatarImageFrame.frame_index`) is found in
    the audio the face pushed (stamped per frame), its byte offset there placed on the
    transport's device clock; for a run without interruptions (the transport drops
    queued audio on one) and audio pushed at the transport's own rate."""
    start_of: dict[int, int] = {}
    offset = 0
    for (_, size), index in zip(played.pushed_audio, played.pushed_frames, strict=True):
        if index is not None:
            start_of.setdefault(index, offset)
        offset += size
    chunk_start = np.cumsum([0] + [len(pcm) for _, pcm in played.audio])
    chunk_time = np.array([t for t, _ in played.audio])
    offsets = []
    for shown, image in played.images:
        index = getattr(image, "frame_index", None)
        if shown < since or index not in start_of or start_of[index] >= chunk_start[-1]:
            continue  # before the span asked, not the face's, or its audio never played
        byte = start_of[index]
        chunk = int(np.searchsorted(chunk_start, byte, side="right")) - 1
        plays_at = chunk_time[chunk] + (byte - chunk_start[chunk]) / 2 / played.out_rate
        offsets.append((shown, shown - float(plays_at)))
    return offsets


def loud(audio: bytes, level: int = 300) -> bool:
    """True when a chunk of s16le audio holds sound (not silence or dither)."""
    return bool(np.abs(np.frombuffer(audio, np.int16)).max(initial=0) > level)


def mouth_openings(images: list[OutputImageRawFrame]) -> np.ndarray:
    """jawOpen of each RGB image, measured by the landmarker the avatar itself uses
    (NaN where it finds no face)."""
    from avatar.face_analysis import FaceAnalyzer
    from avatar.motion import BLENDSHAPE_COLUMNS

    jaw = BLENDSHAPE_COLUMNS.index("jawOpen")
    values = []
    with FaceAnalyzer(mode="image") as analyzer:
        for frame in images:
            width, height = frame.size
            rgb = np.frombuffer(frame.image, np.uint8).reshape(height, width, 3)
            found = analyzer.analyze(rgb)
            values.append(np.nan if found is None else float(found.blendshapes[jaw]))
    return np.asarray(values, np.float64)


def lip_sync(images: list[tuple[float, OutputImageRawFrame]], played: Played,
             ) -> tuple[float | None, float | None]:
    """The lag (ms, -400..+400, positive: the mouth follows the sound) at which jawOpen
    of the written images correlates best with the written audio's RMS, both in 40 ms
    slots of the transport's clock, and that correlation (None, None: too few images)."""
    if len(images) < 50:
        return None, None
    t0 = images[0][0]
    slots = int((images[-1][0] - t0) / SLOT_SECS) + 1
    jaw = np.full(slots, np.nan)
    for (t, _), value in zip(images, mouth_openings([f for _, f in images]), strict=True):
        jaw[min(slots - 1, int((t - t0) / SLOT_SECS))] = value
    rms = np.full(slots, np.nan)
    for t, pcm in played.audio:
        slot = int((t - t0) / SLOT_SECS)
        if 0 <= slot < slots:
            samples = np.frombuffer(pcm, np.int16).astype(np.float64) / 32768.0
            rms[slot] = float(np.sqrt(np.mean(samples ** 2))) if len(samples) else 0.0
    best: tuple[float, int] | None = None
    for lag in range(-10, 11):  # slots: -400..+400 ms; lag > 0: the jaw follows the sound
        a, b = (rms[:slots - lag], jaw[lag:]) if lag >= 0 else (rms[-lag:], jaw[:slots + lag])
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 30 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
            continue
        r = float(np.corrcoef(a[ok], b[ok])[0, 1])
        if best is None or r > best[0]:
            best = (r, lag)
    if best is None:
        return None, None
    return round(best[1] * SLOT_SECS * 1000.0), round(best[0], 3)
