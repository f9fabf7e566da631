"""`AvatarForcingVideoService`: the live face as a pipecat video service.

Drop it where pipecat's own video services sit (Simli, Tavus, HeyGen), between
TTS and the output transport:

    Pipeline([transport.input(), stt, user_aggregator, llm, tts,
              AvatarForcingVideoService(), transport.output(), assistant_aggregator])

It loads the generator and builds its session itself on `StartFrame` (the
bundled portrait unless `portrait=` names another), runs on the CPU, needs no
API key, and frees its session on `EndFrame` / `CancelFrame`. Like Simli it
consumes `TTSAudioRawFrame`s and never forwards them: it re-emits the audio it
animated, each 40 ms chunk right after the `OutputImageRawFrame` (RGB) of the
same 40 ms, so a transport that plays both keeps the lips on the voice.

- Always on: a block clock starts with the pipeline (never waits for the first
  TTS audio, pipecat#4832). While the avatar is quiet its audio is silence sent
  as speech-stream frames, which never make the bot "speak"; a reply's audio goes
  out as TTS audio until its TTSStoppedFrame, so `bot-started/stopped-speaking`
  follow the reply (not the idle video, not a pause between sentences).
- It listens: VAD and user-turn start/stop drive the session's listening cues
  (attention, then a nod) from the first syllable; the user's audio
  (`InputAudioRawFrame`) and camera (`InputImageRawFrame` / `UserImageRawFrame`
  from any pipecat transport with `video_in_enabled`, or our websocket's JPEG
  `UserCameraFrame`, analysed in the session's worker thread at most
  `camera_fps` a second, newest frame wins) feed the generator: it smiles back
  and meets the user's gaze. All input frames pass on unchanged.
- From the VAD's stop (the user paused) to the first reply audio, camera
  analysis pauses (at most `thinking_camera_pause_secs`): that is when ASR, the
  LLM and TTS are on the critical path of voice-to-voice. The VAD's next start
  resumes it at once. In that window one frame in `thinking_frame_stride` is
  drawn and the others repeat it.
- Text and control frames that arrive behind reply audio are held until that
  audio has been emitted, so the LLM context holds only what was played.
- Interruption is a handshake, not a flag: on `InterruptionFrame` the session
  drops its queued reply and the held frames, and a frame drawn before the
  interruption but not yet pushed goes out silent; no reply audio follows, so
  the output transport's bot-speaking state ends (`BotStoppedSpeakingFrame`) and
  stays ended until the next reply's audio. The generator keeps its KV cache
  (motion goes on). `last_played_secs` says how much of the cut reply was heard.
- `ReplyPauseFrame` (a sound over the reply, pipelines/turns/barge_in.py) silences
  the reply from the next frame and keeps the rest queued; `ReplyResumeFrame`
  plays it on.
- A reply that arrives while idle frames of the current block still wait is
  not kept waiting for the next block boundary: those idle frames are skipped.
- Pacing: frame k is pushed `lead_secs` before t0 + k * 40 ms (a bounded
  lead); when more than `rebase_secs` late the clock is rebased instead of
  racing to catch up; when late by more than a frame, rendering is skipped and
  the last image repeated (video repeats, audio never breaks).
- Adapting (with a `QualityGovernor`, avatar/live/quality.py): every frame
  reports the worker's wall time and whether it came late; once a block the
  governor may move the session's level (camera rate, render size, images
  drawn; never audio). Transports scale images to their `video_out_width` x
  `video_out_height`, so a size step never changes the track.
- Quiet by default, as a library should be: it sends no transport messages (our
  protocol's `metrics`, `video-quality` and `error` events are opt-in through
  `send_metrics` / `send_events`, which our own server turns on), and it runs no
  garbage collection or allocator trim unless `release_memory_after` asks.
  `counters` and `stats()` are always readable.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from loguru import logger
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InputImageRawFrame,
    InterruptionFrame,
    OutputTransportMessageUrgentFrame,
    SpeechOutputAudioRawFrame,
    StartFrame,
    SystemFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import (
    FrameDirection,
    FrameProcessor,
    FrameProcessorSetup,
)
from pipecat.services.ai_service import AIService
from pipecat.services.settings import ServiceSettings

from avatar.errors import AvatarError
from avatar.live import (
    AvatarAssets,
    AvatarFrame,
    AvatarSession,
    PlannedFrame,
    SessionOptions,
)
from avatar.live.assets import level_cost_ms
from avatar.live.camera import raw_to_rgb
from avatar.live.capacity import CapacityBoard
from avatar.live.face_pool import WorkerFace, with_worker_face
from avatar.live.quality import QualityChange, QualityGovernor
from avatar.memory import release_free_memory
from avatar.portrait import Portrait
from pipelines.face.rate_gate import RateGate
from pipelines.settings import AvatarSettings, section_params
from pipelines.wire.frames import (
    AvatarImageFrame,
    MediaTimedImageFrame,
    PortraitRequestFrame,
    ReplyPauseFrame,
    ReplyResumeFrame,
    UserCameraFrame,
    UserMotionFrame,
)
from pipelines.wire.webrtc_output import MediaClockOutput, find_small_webrtc_output
from sdk.protocol import ErrorCode, MetricsEvent, PortraitEvent, VideoQualityEvent, error_event

FRAME_SECS = 0.04
#: frames this late (s) stop the session's jobs from yielding the CPU while the
#: reply is thought up: the face must not freeze for the LLM's sake
BEHIND_SECS = 0.08
#: how long a stopping session waits for its worker's job in flight (a render or a
#: camera analysis, tens of ms) before it gives up closing the landmarker
WORKER_STOP_SECS = 5.0
#: after a session's `_shutdown`, when its pipeline is torn down: its cycles are collected
COLLECT_AFTER_SECS = 1.0
#: how long StartFrame waits for the face to be built before it goes on without it
#: (pipecat tears a pipeline down when StartFrame takes 20 s to reach its end; a cold
#: face pool takes 10-15 s on 2 cores). Meanwhile the voice passes through unchanged
#: and the face takes over at the next reply
START_WAIT_SECS = 3.0


@dataclass(frozen=True)
class AvatarNodeParams:
    """Pacing and analysis choices (defaults measured on a 2-core CPU)."""

    #: frames are pushed this long before their time: covers one render and a
    #: camera analysis queued in the same worker (~20 ms) plus scheduling jitter
    lead_secs: float = 0.06
    #: later than this, the clock is rebased (frames keep their spacing from now)
    rebase_secs: float = 0.25
    #: camera frames analysed per second (0: camera ignored)
    camera_fps: float = 10.0
    #: torch threads in this session's worker thread (OpenMP: per thread)
    threads: int = 1
    #: from the user's pause (VAD stop) or turn end, camera analysis pauses until the
    #: reply starts (at most this long): the face changes little then, and ASR, LLM
    #: and TTS need the CPU
    thinking_camera_pause_secs: float = 3.0
    #: in the same window the face only idles: draw one frame in this many and repeat
    #: the last image in between (the renderer and JPEG take ~30 % of a core at 25 fps,
    #: beside the one LLM thread writing the reply's first phrase); 1: draw every frame
    thinking_frame_stride: int = 2
    #: while the reply is thought up (the window above) the session's jobs run on a
    #: second worker thread whose nice value is raised by this (Linux: per thread):
    #: there the renders yield the CPU to whisper, the LLM server and piper, which
    #: decide when the reply is heard. Outside that window they run at the default
    #: priority: a worker niced all the time got a tenth of a core beside two busy
    #: neighbours and fell to a few images a second (bench/adapt.py). Only one job
    #: runs at a time either way; 0: one thread, never niced
    worker_nice: int = 10
    stats_interval_secs: float = 2.0
    #: each image is pushed this many frames (40 ms) ahead of its own audio. pipecat's
    #: output transports with `video_out_is_live` draw an image one frame after it
    #: arrives (their video clock) and start its audio as soon as it arrives, so 1
    #: puts the two together (measured: image 43 ms behind its audio with 0, within
    #: 10 ms with 1; bench/video_service.py). Our websocket stamps an image with the
    #: audio clock where it is queued: 0 there (the server sets it).
    image_lead_frames: int = 1
    #: release each image only once the transport has written the audio queued before
    #: it (pipecat's `OutputImageRawFrame.sync_with_audio`; pair it with
    #: `video_out_is_live=False` and `image_lead_frames=0`). For a transport whose
    #: audio path buffers more than its video path, where a live image would go out
    #: ahead of its own audio: pipecat's SmallWebRTC (docs/PIPECAT.md)
    images_sync_with_audio: bool = False

    @classmethod
    def from_section(cls, avatar: AvatarSettings) -> AvatarNodeParams:
        """From the settings' `[avatar]` section (its pacing fields are these)."""
        return section_params(cls, avatar)


#: Loads a portrait by name or from uploaded bytes (the server's portrait library).
PortraitLoader = Callable[[str | None, bytes | None], Portrait]

#: Assets loaded by services that were given none, shared while any of them lives
#: (the generator's weights, the analysed portraits, this machine's measured
#: costs: a few seconds to build), keyed by what they were loaded from.
_SHARED_ASSETS: weakref.WeakValueDictionary[tuple[str, str, bool], AvatarAssets] = (
    weakref.WeakValueDictionary())
_SHARED_LOCK = threading.Lock()


def shared_assets(settings: AvatarSettings) -> AvatarAssets:
    """The assets for `settings` (portrait folder, default portrait, budget), loaded
    once per process while any service holds them (blocking: call in a thread)."""
    key = (str(settings.portrait_dir or ""), settings.default_portrait,
           settings.face_process)
    with _SHARED_LOCK:
        assets = _SHARED_ASSETS.get(key)
        if assets is None:
            assets = AvatarAssets.load(
                portrait_dir=settings.portrait_dir, default_portrait=settings.default_portrait,
                budget_ms=settings.video_budget_ms,
                # the face in worker processes in every app; a cold pool (fork server,
                # plates, a primed worker: 10-15 s on 2 cores) no longer holds up
                # pipecat's StartFrame: the service builds its session in the background
                # (AvatarForcingVideoService.start)
                face_workers=settings.warm_face_workers if settings.face_process else None,
                face_worker_sessions=settings.face_worker_sessions,
                face_threads=settings.threads)
            if assets.faces is not None:  # the workers end when the last service lets go
                weakref.finalize(assets, assets.faces.close)
            _SHARED_ASSETS[key] = assets
        return assets


def resolve_portrait(portrait: str | Path | Portrait | None, assets: AvatarAssets) -> Portrait:
    """A portrait from a bundled (or portrait-folder) name, an image path, or as given.

    Raises:
        UnknownPortraitError: a name that is neither a known portrait nor a file.
        NoFaceError, FaceTooSmallError, NotAnImageError: the image is unusable.
    """
    if portrait is None:
        return assets.portraits.get()
    if isinstance(portrait, Portrait):
        return portrait
    path = Path(portrait)
    if isinstance(portrait, Path) or path.suffix or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"portrait image {path} does not exist")
        loaded = Portrait.load(path)
        loaded.name = path.stem
        return loaded
    return assets.portraits.get(str(portrait))


class AvatarForcingVideoService(AIService):
    """The live, listening face of a pipecat voice agent (see the module docstring)."""

    #: the settings section that configures it (`AvatarForcingVideoService.Settings(size=384)`)
    Settings = AvatarSettings

    #: pauses and resumes the reply on ReplyPauseFrame / ReplyResumeFrame
    #: (pipelines/turns/barge_in.py), so a voice pipeline with it needs no ReplyPacer
    handles_reply_pause = True

    def __init__(self, *, portrait: str | Path | Portrait | None = None,
                 settings: AvatarSettings | None = None,
                 assets: AvatarAssets | None = None,
                 session: AvatarSession | None = None,
                 load_portrait: PortraitLoader | None = None,
                 params: AvatarNodeParams | None = None,
                 transport_stats: Callable[[], dict[str, int]] | None = None,
                 governor: QualityGovernor | None = None,
                 capacity: CapacityBoard | None = None, session_key: str = "",
                 jpeg_quality: int = 0,
                 send_metrics: bool = False, send_events: bool = False,
                 release_memory_after: bool = False,
                 **kwargs: Any) -> None:
        """Everything is optional; with no argument it shows the bundled portrait.

        Args:
            portrait: a bundled name (`grace_hopper`), a name in `settings.portrait_dir`,
                an image path, or a loaded `Portrait`; None: `settings.default_portrait`.
            settings: the `[avatar]` section of our settings tree (size, camera rate,
                pacing, portraits, adapting); None: its defaults.
            assets: generator, portraits and machine costs shared by a server's
                sessions; None: loaded on `StartFrame`, shared with the other services
                of this process while any lives.
            session: a session built by the caller (its output rate must be the
                transport's); None: built on `StartFrame` at the transport's rate.
            load_portrait: loads portraits that clients ask for by name or upload
                (`PortraitRequestFrame`, our websocket); None: such requests are refused.
            params: pacing (defaults: from `settings`).
            transport_stats: counters kept on the wire side, merged into `stats()`.
            governor: adapts quality to the load it meets; None with `settings.adapt_video`:
                one is built from the measured costs when the session is.
            capacity: the server's board of live loads (admission, /healthz), where this
                session reports under `session_key` while it runs.
            session_key: this session's name on `capacity`.
            jpeg_quality: also JPEG-encode each image (our websocket sends JPEG);
                0: RGB only, as pipecat transports take it.
            send_metrics: push our protocol's `metrics` events every
                `stats_interval_secs` as transport messages.
            send_events: push `video-quality`, `portrait` and `error` events.
            release_memory_after: after the session, collect its cycles and return
                freed pages to the OS (a long-running server wants it).
            **kwargs: passed to pipecat's `AIService` (name, ...).
        """
        super().__init__(settings=ServiceSettings(model="avatar-forcing"), **kwargs)
        self.avatar_settings = settings or AvatarSettings()
        if session is not None and not 256 <= session.options.size <= 512:
            raise ValueError(f"video size must be 256..512, got {session.options.size}")
        self._portrait_choice = portrait
        self._assets = assets
        self._jpeg_quality = jpeg_quality
        self._send_metrics = send_metrics
        self._send_events = send_events
        self._release_memory_after = release_memory_after
        self._session: AvatarSession | None = session
        #: the pipeline's audio output rate (from `setup`)
        self._out_rate = session.output_rate if session is not None else 24000
        self.governor = governor
        self._capacity = capacity
        self._session_key = session_key
        #: worker wall time (s) spent so far, and at the last governor sample
        self._worker_busy = 0.0
        self._busy_seen = 0.0
        #: draw one frame in this many (the governor's level); the others repeat it
        self._draw_stride = 1 if governor is None else governor.quality.draw_stride
        self._load_portrait = load_portrait
        self._params = params or AvatarNodeParams.from_section(self.avatar_settings)
        self._transport_stats = transport_stats
        threads = self._params.threads
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="avatar",
            initializer=_init_worker, initargs=(threads, 0))
        #: the thread jobs run on while the reply is thought up (None: worker_nice 0)
        self._yielding = (ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="avatar-yield",
            initializer=_init_worker, initargs=(threads, self._params.worker_nice))
            if self._params.worker_nice > 0 else None)
        self._job_lock = threading.Lock()  # one job at a time across the two threads
        #: the clock is more than `BEHIND_SECS` behind: jobs stop yielding (see _in_worker)
        self._behind = False
        self._clock_task: asyncio.Task[None] | None = None
        self._memory_released = False
        self._face_closed = False
        #: set when the session stops: camera frames still in the pipeline are ignored
        #: (their analysis would meet a worker pool that is shut down)
        self._stopped = False
        #: the face could not be built (bad portrait, missing model): frames pass through
        self.failed: str | None = None
        #: the assets, loading from `setup` on (None: given, or not started)
        self._assets_loading: asyncio.Task[AvatarAssets] | None = None
        #: the session being built after StartFrame went on without it
        self._building: asyncio.Task[None] | None = None
        #: a reply is passing through without the face (it was not built yet): the face
        #: takes over only after its TTSStoppedFrame, never in the middle of a reply
        self._passthrough_reply = False
        self._held: deque[tuple[int, Frame]] = deque()  # (reply position, frame)
        self._emitted_position = 0
        #: between a reply's first audio and its TTSStoppedFrame leaving the service
        self._in_reply = False
        #: the user paused or their turn ended and the reply has not started: whisper,
        #: the LLM and piper are on the critical path, so the camera waits (monotonic
        #: deadline; 0 while the user speaks)
        self._thinking_until = 0.0
        self._camera_waiting: UserCameraFrame | InputImageRawFrame | None = None
        self._camera_busy = False
        # camera_fps, jitter-tolerant (None: camera ignored)
        self._camera_gate = (RateGate(self._params.camera_fps) if self._params.camera_fps > 0
                             else None)
        self._worker_cpu = 0.0
        self._started_at = time.monotonic()
        self.counters = {"frames_sent": 0, "frames_repeated": 0, "frames_repeated_late": 0,
                         "late_frames": 0,
                         "idle_frames_skipped": 0, "stale_frames_silenced": 0,
                         "rebases": 0, "camera_analysed": 0, "camera_skipped": 0,
                         "camera_errors": 0, "interruptions": 0, "reply_pauses": 0,
                         "quality_changes": 0, "face_restarts": 0}
        #: seconds of the last interrupted reply that were output (`AvatarSession.clear`)
        self.last_played_secs = 0.0
        #: our media-clock tracks in a pipecat SmallWebRTC output downstream (None:
        #: another transport): images then travel as MediaTimedImageFrames
        self.media_clock: MediaClockOutput | None = None

    @property
    def session(self) -> AvatarSession:
        """The live session (built on `StartFrame` unless one was given)."""
        if self._session is None:
            raise RuntimeError("the avatar session is built on StartFrame; the pipeline "
                               "has not started it yet")
        return self._session

    @property
    def ready(self) -> bool:
        """True once the session exists and the face is running."""
        return self._session is not None and self.failed is None and self._clock_task is not None

    # ------------------------------------------------------------------ lifecycle
    def link(self, processor: FrameProcessor) -> None:
        """Linked into a pipeline: a SmallWebRTC output right after this service gets
        our media-clock tracks now, before any peer can connect."""
        super().link(processor)
        self._fit_webrtc_output()

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        """Note the pipeline's output rate: the session's audio goes out at it, so the
        transport plays it as it is. A SmallWebRTC output further downstream gets our
        media-clock tracks here."""
        await super().setup(setup)
        self._out_rate = setup.audio_out_sample_rate
        self._fit_webrtc_output()
        if self._session is None and self._assets is None and self._assets_loading is None:
            # start the face's workers now, while the rest of the pipeline sets up
            self._assets_loading = self.create_task(
                asyncio.to_thread(shared_assets, self.avatar_settings), name="avatar-assets")

    def _fit_webrtc_output(self) -> None:
        """Over pipecat's SmallWebRTC, stamp the video from the audio's clock (issue 45,
        pipelines/wire/webrtc_output.py): any WebRTC receiver then keeps the lips on
        the voice by itself."""
        if self.media_clock is None:
            output = find_small_webrtc_output(self)
            if output is not None:
                self.media_clock = MediaClockOutput.install(output)

    async def start(self, frame: StartFrame) -> None:
        """Build the session (if not given) at the pipeline's output rate, off the loop.

        StartFrame waits at most START_WAIT_SECS for it: a cold face (its worker pool
        starting) finishes in the background while the voice passes through."""
        await super().start(frame)
        if self._session is not None:
            self._face_ready()
            return
        self._building = self.create_task(self._build(self._out_rate), name="avatar-build")
        done, _ = await asyncio.wait({self._building}, timeout=START_WAIT_SECS)
        if not done:
            logger.info(f"avatar: the face is still starting after {START_WAIT_SECS:g} s; "
                        "the voice goes on without it until it is ready")

    async def _build(self, rate: int) -> None:
        """Build the session; a face that cannot start never stops the voice."""
        try:
            if self._assets is None and self._assets_loading is not None:
                self._assets = await self._assets_loading
            building = asyncio.ensure_future(asyncio.to_thread(self._build_session, rate))
            try:
                self._session = await asyncio.shield(building)
            except asyncio.CancelledError:  # the pipeline ended first: close what is built
                building.add_done_callback(_close_built_session)
                raise
        except Exception as error:
            self.failed = f"the avatar could not start: {error}"
            if isinstance(error, (AvatarError, OSError, ValueError, KeyError, ImportError)):
                logger.error(self.failed)  # bad input or a missing file: the message says it
            else:  # a defect: keep the traceback
                logger.exception(self.failed)
            await self.push_error(self.failed, exception=error, force_treat_as_permanent=False)
            return
        if self._stopped:  # the pipeline ended while the face was starting
            self._building = None
            await self._shutdown()
            return
        self._face_ready()

    def _face_ready(self) -> None:
        """The session exists: follow its worker's restarts and start the clock."""
        face = self.session.face
        if isinstance(face, WorkerFace) and face.on_restart is None:
            loop = asyncio.get_running_loop()

            def on_restart(reason: str) -> None:  # called in the worker thread
                loop.call_soon_threadsafe(self._face_restarted, reason)

            face.on_restart = on_restart
        if not self._passthrough_reply:
            self._start_clock()

    def _build_session(self, output_rate: int) -> AvatarSession:
        """Assets (shared), the portrait, the session and its governor (blocking)."""
        settings = self.avatar_settings
        assets = self._assets or shared_assets(settings)
        self._assets = assets  # held while this service lives
        portrait = resolve_portrait(self._portrait_choice, assets)
        choice = assets.choose_video(settings.size, camera=self._params.camera_fps > 0)
        if self.governor is None and settings.adapt_video:
            self.governor = QualityGovernor(
                list(choice.ladder), lambda level: level_cost_ms(assets.costs, level),
                start=choice.level, now=time.monotonic())
            self._draw_stride = self.governor.quality.draw_stride
            if self._camera_gate is not None and choice.camera_fps > 0:
                self._camera_gate = RateGate(min(self._params.camera_fps, choice.camera_fps))
        # the face in a worker process of its own, when the assets keep a pool
        where = "in a worker process" if assets.faces is not None else "in this process"
        logger.info(f"avatar: {portrait.name} at {choice.size} px, {output_rate} Hz audio, "
                    f"{where} ({choice.reason})")
        return with_worker_face(assets.faces, lambda face: AvatarSession(
            portrait, assets.checkpoint, output_rate=output_rate,
            options=SessionOptions(size=choice.size, jpeg_quality=self._jpeg_quality),
            calibrator=assets.calibrator, face=face))

    def _face_restarted(self, reason: str) -> None:
        """The face's worker was lost and replaced (on the event loop): count it and
        tell the client; the video goes on from the fresh worker."""
        self.counters["face_restarts"] += 1
        logger.warning(f"avatar: the face worker was replaced: {reason}")
        if not self._stopped:
            self.create_task(self._send_event(error_event(
                ErrorCode.AVATAR_RESTARTED,
                "the avatar's face process stopped and was restarted; the video goes on")))

    async def stop(self, frame: EndFrame) -> None:
        """End of the conversation: stop the clock, free the session."""
        await super().stop(frame)
        await self._shutdown()

    async def cancel(self, frame: CancelFrame) -> None:
        """Cancelled: stop at once."""
        await super().cancel(frame)
        await self._shutdown()

    async def cleanup(self) -> None:
        """Release the worker thread and the landmarker."""
        await super().cleanup()
        await self._shutdown()

    # ------------------------------------------------------------------ frames
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Consume TTS audio and camera input, hold text behind audio, pass the rest."""
        await super().process_frame(frame, direction)  # start / stop / cancel
        if direction == FrameDirection.UPSTREAM:
            await self.push_frame(frame, direction)
        elif isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
        elif isinstance(frame, EndFrame | CancelFrame):
            while self._held:
                await self.push_frame(self._held.popleft()[1])
            await self.push_frame(frame, direction)
        elif not self.ready:
            # no face (it failed, or is still starting): the voice goes on without it
            if not isinstance(frame, UserCameraFrame | UserMotionFrame):
                await self.push_frame(frame, direction)
            self._follow_passthrough(frame)
        elif isinstance(frame, InterruptionFrame):
            await self._interrupt()
            await self.push_frame(frame, direction)
        elif isinstance(frame, ReplyPauseFrame):
            # a sound over the reply: silent from the next frame, the rest kept (a
            # reply not started yet waits; the face listens either way)
            self.session.pause_reply()
            self.counters["reply_pauses"] += 1
            await self.push_frame(frame, direction)
        elif isinstance(frame, ReplyResumeFrame):
            self.session.resume_reply()
            await self.push_frame(frame, direction)
        elif isinstance(frame, TTSAudioRawFrame):
            self.session.push_avatar_audio(_mono(frame.audio, frame.num_channels),
                                           frame.sample_rate)
        elif isinstance(frame, InputAudioRawFrame):
            self.session.push_user_audio(_mono(frame.audio, frame.num_channels),
                                         frame.sample_rate)
            await self.push_frame(frame, direction)
        elif isinstance(frame, VADUserStartedSpeakingFrame | UserStartedSpeakingFrame):
            # listening cues at VAD time, not after the transcript; watch them again
            self.session.set_user_speaking(True)
            self._thinking_until = 0.0
            await self.push_frame(frame, direction)
        elif isinstance(frame, VADUserStoppedSpeakingFrame | UserStoppedSpeakingFrame):
            # the user paused or their turn ended: whisper (and the early reply) start
            # now, so the camera waits
            self.session.set_user_speaking(False)
            self._thinking_until = time.monotonic() + self._params.thinking_camera_pause_secs
            await self.push_frame(frame, direction)
        elif isinstance(frame, UserCameraFrame):
            self._on_camera(frame)
        elif isinstance(frame, InputImageRawFrame):  # UserImageRawFrame too
            self._on_camera(frame)
            await self.push_frame(frame, direction)  # a vision LLM may want it too
        elif isinstance(frame, UserMotionFrame):
            motion = None if frame.motion is None else np.asarray(frame.motion, np.float32)
            self.session.push_user_motion(motion)
        elif isinstance(frame, PortraitRequestFrame):
            self.create_task(self._switch_portrait(frame))
        elif isinstance(frame, SystemFrame):
            await self.push_frame(frame, direction)
        else:
            if isinstance(frame, TTSStoppedFrame):
                self.session.end_of_reply()
            await self._hold_or_push(frame)

    def _follow_passthrough(self, frame: Frame) -> None:
        """While the face starts, note the reply passing through; once it ended, a face
        that became ready meanwhile starts its clock (never mid-reply)."""
        if isinstance(frame, TTSAudioRawFrame):
            self._passthrough_reply = True
        elif isinstance(frame, TTSStoppedFrame | InterruptionFrame):
            self._passthrough_reply = False
            if self._session is not None and self.failed is None and not self._stopped:
                self._start_clock()

    async def _interrupt(self) -> None:
        """Drop the reply: queued audio, held frames, and the bot's speaking state.

        The frame the clock is drawing now was planned before the clear: the
        session renders it silent, and `_clock_loop` checks the generation again
        right before pushing, so no reply audio follows the interruption and the
        transport's bot-speaking state, ended by the interruption, stays ended."""
        played = self.session.clear()
        if played > 0:  # a reply was cut (not a user turn starting while idle)
            self.last_played_secs = played
        self.counters["interruptions"] += 1
        self._held.clear()
        self._in_reply = False

    async def _hold_or_push(self, frame: Frame) -> None:
        """A frame that came behind reply audio waits until that audio is out."""
        position = self.session.queued_total
        if position > self._emitted_position or self._held:
            self._held.append((position, frame))
        else:
            await self.push_frame(frame)

    async def _release_held(self) -> None:
        while self._held and self._held[0][0] <= self._emitted_position:
            frame = self._held.popleft()[1]
            if isinstance(frame, TTSStoppedFrame):
                self._in_reply = False  # its audio is out: the transport ends the turn
            await self.push_frame(frame)

    # ------------------------------------------------------------------- clock
    def _start_clock(self) -> None:
        if self._clock_task is None:
            self._started_at = time.monotonic()
            if self._capacity is not None and self.governor is not None:
                self._capacity.register(self._session_key, self.governor)
            self._clock_task = self.create_task(self._run_clock(), name="avatar-clock")

    async def _shutdown(self) -> None:
        """Stop the clock and the worker (idempotent: stop, cancel and cleanup share it)."""
        self._stopped = True
        if self._building is not None and not self._building.done():
            await self.cancel_task(self._building)
        if self._capacity is not None:
            self._capacity.unregister(self._session_key)
        if self._clock_task is not None:
            await self.cancel_task(self._clock_task)
            self._clock_task = None
        executors = [e for e in (self._executor, self._yielding) if e is not None]
        for executor in executors:
            executor.shutdown(wait=False, cancel_futures=True)
        if self._session is not None and not self._face_closed:
            self._face_closed = True
            session = self._session
            # The worker thread may be inside a job: closing mediapipe's landmarker
            # under a running detection crashed the whole server process (a segfault
            # in CI, tests/pipelines/test_kiosk_browser.py), and a worker process must
            # not go back to its pool mid-request. Close the face once the thread is
            # done; one that never finishes keeps it (the process lives on).
            def close_when_idle() -> None:
                for executor in executors:
                    executor.shutdown(wait=True)
                session.close()

            try:
                await asyncio.wait_for(asyncio.to_thread(close_when_idle), WORKER_STOP_SECS)
            except TimeoutError:
                logger.warning(f"avatar worker still busy after {WORKER_STOP_SECS} s: "
                               "its face is left open")
                return
        if self._release_memory_after and not self._memory_released:
            self._memory_released = True  # once: EndFrame/CancelFrame and cleanup both stop
            # once the session's pipeline is torn down (issue 27; _collect_ended_session)
            asyncio.get_running_loop().call_later(COLLECT_AFTER_SECS, _collect_ended_session)

    async def _in_worker(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn` in this session's worker thread (the niced one while the reply is
        thought up), counting its CPU time and its wall time (what the governor
        adapts on: on a busy machine a job waits for a core, and that wait is what
        makes frames late).

        With the face in a worker process the wall time is the worker's own (issue
        36): seen from here it also held the pipe and this thread's wait for the
        pipeline's interpreter lock, which the level's cost does not change: the
        governor stepped a quiet machine down to its lowest level, "busy 90 %" at
        256 px and 25 images/s where the probe's costs add up to about 40 %
        (bench/results/adapt_face_in_workers.json). Frames that still come late
        step it down."""
        face = self.session.face if self._session is not None else None
        worker_face = face if isinstance(face, WorkerFace) else None

        def timed() -> Any:
            with self._job_lock:
                cpu, wall = time.thread_time(), time.perf_counter()
                work = worker_face.work_secs if worker_face is not None else 0.0
                try:
                    return fn(*args)
                finally:
                    self._worker_cpu += time.thread_time() - cpu
                    self._worker_busy += (worker_face.work_secs - work if worker_face is not None
                                          else time.perf_counter() - wall)
        # yield only while the clock keeps time: beside busy neighbours the niced thread
        # got almost no CPU and the face froze for up to a second (bench/adapt.py), so
        # once frames fall behind the jobs run at the default priority again
        thinking = (self._yielding is not None and not self._behind
                    and time.monotonic() < self._thinking_until)
        executor = self._yielding if thinking and self._yielding is not None else self._executor
        return await asyncio.get_running_loop().run_in_executor(executor, timed)

    async def _run_clock(self) -> None:
        """The block clock; a failure ends the face loudly (an error event and an
        ErrorFrame that marks this service unusable, so the pipeline's policy ends
        the session) rather than leaving a client with neither audio nor video."""
        try:
            await self._clock_loop()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.exception("avatar clock failed")
            if self._send_events:
                await self._send_event(error_event(ErrorCode.INTERNAL,
                                                   f"the avatar failed: {error}", fatal=True))
            await self.push_error(f"avatar failed: {error}", exception=error,
                                  force_treat_as_permanent=True)

    async def _clock_loop(self) -> None:
        """Generate, render and push one frame every 40 ms from connection start.

        Frame k's image goes out `image_lead_frames` ahead of its audio: each tick
        pushes image k, then the audio of frame k - lead (its time is now)."""
        params = self._params
        session = self.session
        # over our media-clock tracks each image goes right before its own audio (the
        # track shows it when that audio plays); elsewhere as the transport needs
        media_clock = self.media_clock is not None
        lead_frames = 0 if media_clock else params.image_lead_frames
        lead_secs = lead_frames * FRAME_SECS
        t0 = time.monotonic() + params.lead_secs + lead_secs
        pending: deque[PlannedFrame] = deque()
        #: frames whose image is out and whose audio waits its tick: (planned, frame)
        audio_due: deque[tuple[PlannedFrame, AvatarFrame]] = deque()
        next_stats = time.monotonic() + params.stats_interval_secs
        while True:
            if pending and self._reply_waits_behind(pending):
                # A reply arrived while idle frames of this block wait their turn: skip
                # them (silence, idle motion) so the reply starts at the next frame,
                # not at the next block boundary; the clock moves up to keep spacing.
                t0 -= len(pending) * FRAME_SECS
                self.counters["idle_frames_skipped"] += len(pending)
                pending.clear()
            if not pending:
                pending.extend(await self._in_worker(session.next_block))
            planned = pending.popleft()
            due = t0 + planned.index * FRAME_SECS  # when this frame's audio is pushed
            image_due = due - lead_secs
            late = time.monotonic() - image_due
            self._behind = late > BEHIND_SECS
            if late > params.rebase_secs:
                t0 += late
                due += late
                image_due += late
                self.counters["rebases"] += 1
            # repeat the last image: by choice (the reply is thought up, or the level
            # draws one image in n), or because rendering is too late to be on time
            chosen = self._thinking_repeat(planned) or planned.index % self._draw_stride != 0
            repeat = chosen or late > FRAME_SECS
            if late > 0:
                self.counters["late_frames"] += 1
            # over our WebRTC tracks the image is also encoded where it is drawn (VP8, in
            # the face's worker process), so this process only packetizes it
            video = (self.media_clock.video_request()
                     if self.media_clock is not None and not repeat else None)
            frame = await self._in_worker(session.render, planned, repeat, video)
            self.counters["frames_repeated"] += int(frame.repeated)
            self.counters["frames_repeated_late"] += int(frame.repeated and not chosen)
            wait = image_due - params.lead_secs - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not (media_clock and frame.repeated):  # a repeat is not sent twice
                await self.push_frame(self._image_frame(frame, media_clock))
            audio_due.append((planned, frame))
            while len(audio_due) > lead_frames:
                await self._push_audio(*audio_due.popleft())
            if self.governor is not None:
                await self._adapt(frame.repeated and not chosen)
            if time.monotonic() >= next_stats:
                next_stats += params.stats_interval_secs
                if self._send_metrics:
                    await self._send_stats()

    def _image_frame(self, frame: AvatarFrame, media_clock: bool) -> Frame:
        """The frame that carries an image to the transport: on the media clock's
        tracks the array itself (encoded once, by the track's sender), else pipecat's
        RGB image (with the JPEG our websocket sends)."""
        if media_clock:
            encoded = frame.video
            return MediaTimedImageFrame(rgb=frame.image, frame_index=frame.index,
                                        vp8=None if encoded is None else encoded.data,
                                        vp8_keyframe=encoded is not None and encoded.keyframe)
        height, width = frame.image.shape[:2]
        image = AvatarImageFrame(
            image=frame.image.tobytes(), size=(width, height), format="RGB",
            jpeg=frame.jpeg or b"", frame_index=frame.index, user_frames=frame.user_frames)
        image.sync_with_audio = self._params.images_sync_with_audio
        return image

    async def _push_audio(self, planned: PlannedFrame, frame: AvatarFrame) -> None:
        """A frame's 40 ms of audio, then the text and control frames held behind it."""
        session = self.session
        audio, speaking = frame.audio, frame.speaking
        if speaking and planned.generation != session.generation:
            # drawn before an interruption that came while it waited to go out: its
            # reply audio must not follow the interruption (pipecat would see the bot
            # start speaking again, and never stop)
            audio, speaking = bytes(len(audio)), False
            self.counters["stale_frames_silenced"] += 1
        # Within a reply the audio goes out as TTS audio, so the transport's speaking
        # state ends with the reply's TTSStoppedFrame, not at a pause between
        # sentences; outside a reply as speech-stream audio, whose silence never makes
        # the bot "speak" (idle video is not speech).
        self._in_reply = self._in_reply or speaking
        if speaking:
            self._thinking_until = 0.0
        audio_type = TTSAudioRawFrame if self._in_reply else SpeechOutputAudioRawFrame
        await self.push_frame(audio_type(audio=audio, sample_rate=session.output_rate,
                                         num_channels=1))
        self.counters["frames_sent"] += 1
        self._emitted_position = max(self._emitted_position, frame.reply_position)
        await self._release_held()

    # ------------------------------------------------------------- adaptation
    async def _adapt(self, late: bool) -> None:
        """One frame's sample to the governor; at block ends, apply its decision.

        `late`: the frame's image had to be repeated because rendering it would have
        been too late (more than a frame behind), the degradation a viewer sees. A
        frame merely pushed after its planned lead is not counted: the client's
        jitter buffer hides it, and counting it stepped a quiet 2-core machine down
        to 12.5 images a second (35 % of frames "late" by a few ms at 256 px)."""
        assert self.governor is not None
        now = time.monotonic()
        busy, self._busy_seen = self._worker_busy - self._busy_seen, self._worker_busy
        self.governor.observe(now, busy_secs=busy, late=int(late),
                              thinking=now < self._thinking_until)
        if self.counters["frames_sent"] % 5 == 0:
            change = self.governor.decide(now)
            if change is not None:
                await self._apply(change)

    async def _apply(self, change: QualityChange) -> None:
        """Take a new level: camera rate at once, size from the next drawn frame
        (renderer built in the worker), and tell the client."""
        quality = change.quality
        self._camera_gate = RateGate(quality.camera_fps) if quality.camera_fps > 0 else None
        self._draw_stride = quality.draw_stride
        if quality.size != self.session.options.size:
            await self._in_worker(self.session.set_size, quality.size)
        self.counters["quality_changes"] += 1
        assert self.governor is not None
        logger.info(f"avatar quality {change.direction} to level {change.level}: {change.reason}")
        await self._send_event(VideoQualityEvent(
            width=quality.size, height=quality.size, drawn_fps=quality.drawn_fps,
            camera_fps=quality.camera_fps, level=change.level,
            levels=len(self.governor.ladder), direction=change.direction,
            reason=change.reason))

    def _thinking_repeat(self, planned: PlannedFrame) -> bool:
        """True for a frame that may repeat the last image because the reply is being
        thought up (camera paused, nothing spoken): the CPU goes to ASR, the LLM and
        TTS, which decide when the reply is heard."""
        stride = self._params.thinking_frame_stride
        return (stride > 1 and not planned.speaking and planned.index % stride != 0
                and time.monotonic() < self._thinking_until)

    def _reply_waits_behind(self, pending: deque[PlannedFrame]) -> bool:
        """Reply audio is queued, no reply is playing, and the frames left are idle."""
        return (not self._in_reply and not self.session.reply_paused
                and self.session.reply_pending_secs > 0
                and not any(frame.speaking for frame in pending))

    # ------------------------------------------------------------------ camera
    def _on_camera(self, frame: UserCameraFrame | InputImageRawFrame) -> None:
        """Analyse at most `camera_fps` frames a second; the newest waiting frame wins."""
        if self._stopped:
            return
        if time.monotonic() < self._thinking_until:
            self.counters["camera_skipped"] += 1
            return
        if self._camera_busy:
            if self._camera_waiting is not None:
                self.counters["camera_skipped"] += 1
            self._camera_waiting = frame
            return
        if self._camera_gate is None or not self._camera_gate.admit(time.monotonic()):
            self.counters["camera_skipped"] += 1
            return
        self._camera_busy = True
        self.create_task(self._analyse(frame))

    def _analyse_raw(self, frame: InputImageRawFrame, stamp: int) -> np.ndarray | None:
        """A transport's raw camera frame: checked and shrunk here, measured where the
        face runs (in the worker thread)."""
        return self.session.analyze_camera_rgb(raw_to_rgb(frame.image, frame.size, frame.format),
                                               stamp)

    async def _analyse(self, frame: UserCameraFrame | InputImageRawFrame) -> None:
        try:
            while True:
                stamp = int((time.monotonic() - self._started_at) * 1000)
                try:
                    if isinstance(frame, UserCameraFrame):
                        motion = await self._in_worker(self.session.analyze_camera_jpeg,
                                                       frame.jpeg, stamp)
                    else:  # a pipecat transport's camera: raw pixels
                        motion = await self._in_worker(self._analyse_raw, frame, stamp)
                except AvatarError as error:
                    self.counters["camera_errors"] += 1
                    if self.counters["camera_errors"] == 1:
                        logger.warning(f"avatar: a camera frame was refused: {error}")
                    await self._send_event(error_event(ErrorCode.BAD_CAMERA_FRAME,
                                                       f"{error}; dropped"))
                else:
                    self.session.push_user_motion(motion)
                    self.counters["camera_analysed"] += 1
                waiting, self._camera_waiting = self._camera_waiting, None
                if waiting is None:
                    return
                if self._camera_gate is not None and not self._camera_gate.admit(time.monotonic()):
                    self.counters["camera_skipped"] += 1
                    return
                frame = waiting
        except RuntimeError:
            if not self._stopped:
                raise
            # the session ended while this frame waited for the worker pool, which is
            # shut down now ("cannot schedule new futures after shutdown"): nothing lost
        finally:
            self._camera_busy = False

    # ---------------------------------------------------------------- portrait
    async def _switch_portrait(self, request: PortraitRequestFrame) -> None:
        """Load and validate the portrait off the event loop; answer event or error."""
        if self._load_portrait is None:
            await self._send_event(error_event(ErrorCode.UNKNOWN_PORTRAIT,
                                               "this server does not switch portraits"))
            return
        try:
            portrait = await self._in_worker(self._load_portrait, request.portrait_name,
                                             request.upload)
            await self._in_worker(self.session.set_portrait, portrait)
        except (AvatarError, KeyError, ValueError) as error:
            code = (ErrorCode.UNKNOWN_PORTRAIT if request.portrait_name is not None
                    else ErrorCode.BAD_PORTRAIT)
            logger.info(f"portrait refused: {error}")
            await self._send_event(error_event(code, f"{error}; the current portrait stays"))
            return
        await self._send_event(PortraitEvent(name=portrait.name))

    # ------------------------------------------------------------------- stats
    def stats(self) -> dict[str, float | int | str]:
        """The counters reported in `metrics` events (and read by tests)."""
        if self._session is None:
            return dict(self.counters)
        block_ms = list(self.session.stats.block_ms) or [0.0]
        render_ms = list(self.session.stats.render_ms) or [0.0]
        elapsed = max(1e-3, time.monotonic() - self._started_at)
        face = self.session.face
        face_cpu = face.cpu_secs if isinstance(face, WorkerFace) else 0.0
        values: dict[str, float | int | str] = dict(self.counters)
        if isinstance(face, WorkerFace):  # what the hand-over to the worker process costs
            hops = face.hop_ms() or [0.0]
            values["face_process"] = 1
            values["face_pid"] = face.pid or 0
            values["hop_ms_p95"] = round(float(np.percentile(hops, 95)), 2)
        values.update({
            "block_ms_p50": round(float(np.percentile(block_ms, 50)), 2),
            "block_ms_p95": round(float(np.percentile(block_ms, 95)), 2),
            "render_ms_p50": round(float(np.percentile(render_ms, 50)), 2),
            "cpu_percent": round(100.0 * (self._worker_cpu + face_cpu) / elapsed, 1),
            "render_size": self.session.options.size,
            "last_reply_played_secs": round(self.last_played_secs, 2),
            "user_frames_padded": self.session.stats.user_frames_padded,
        })
        if self.governor is not None:
            now = time.monotonic()
            quality = self.governor.quality
            values.update({
                "quality_level": self.governor.level,
                "camera_fps": quality.camera_fps,
                "drawn_fps": quality.drawn_fps,
                "busy_percent": round(100.0 * self.governor.busy(now), 1),
                # what the quality the client asked for would cost now (the governor's
                # prediction: it climbs back when this is under its up_busy)
                "asked_busy_percent": round(
                    100.0 * self.governor.load_at(0, self.governor.steady_busy(now)), 1),
            })
        if self._transport_stats is not None:
            values.update(self._transport_stats())
        if self.media_clock is not None:
            values.update(self.media_clock.stats())
        return values

    async def _send_stats(self) -> None:
        await self._send_event(MetricsEvent(kind="avatar", processor="avatar",
                                            values=self.stats()))

    async def _send_event(self, event: Any) -> None:
        """Our protocol's events, as urgent transport messages, when asked for."""
        if not (self._send_events or isinstance(event, MetricsEvent)):
            return
        await self.push_frame(OutputTransportMessageUrgentFrame(
            message=event.model_dump(exclude_none=True)))


def _collect_ended_session() -> None:
    """A full garbage collection, then the freed pages back to the OS.

    Why (issue 27): an ended session's pipeline (pipecat processors and their
    queued frames, this node, its session and renderers, the transport) is a
    web of reference cycles, which only a full collection frees; Python runs
    one when the long-lived objects have grown by a quarter, and a server
    holds about a million of them (models, modules), so it ran rarely and every
    ended session stayed resident: +10 MB a session in the e2e test, +30 MB
    with 512 px and a spoken question in bench/session_churn.py; with a
    collection after each session, flat. Runs on the event loop, once per
    ended session: 0.4-1 s on a 2-core machine under a load of 8 while every
    object was tracked, which is why the server freezes what it loaded before
    serving (`gc.freeze()` in pipelines/server/app.py, load_runtime) so that this
    scans only what sessions made."""
    started = time.perf_counter()
    found = gc.collect()
    release_free_memory()
    logger.debug(f"after a session: {found} objects collected in "
                 f"{(time.perf_counter() - started) * 1000:.0f} ms")


def _close_built_session(building: asyncio.Future[AvatarSession]) -> None:
    """A session finished building after its pipeline ended: give its face back."""
    if not building.cancelled() and building.exception() is None:
        building.result().close()


def _init_worker(threads: int, nice: int) -> None:
    """Worker initializer: torch's OpenMP thread count is per thread, so this
    sets the session's own count without touching the rest of the process; and
    lowers this thread's CPU priority by `nice` (Linux schedules threads, so the
    rest of the process keeps its own)."""
    torch.set_num_threads(threads)
    if nice > 0 and hasattr(os, "setpriority"):
        thread_id = threading.get_native_id()
        try:
            current = os.getpriority(os.PRIO_PROCESS, thread_id)
            os.setpriority(os.PRIO_PROCESS, thread_id, min(19, current + nice))
        except OSError as error:  # not Linux-like, or a sandbox that forbids it
            logger.warning(f"avatar worker: could not lower its priority by {nice}: {error}")


def _mono(pcm: bytes, channels: int) -> bytes:
    """Interleaved s16le PCM -> its first channel (TTS services are mono; some are not)."""
    if channels <= 1:
        return pcm
    return np.frombuffer(pcm, np.int16)[::channels].tobytes()


#: The name this service had before it was a pipecat video service (kept for old imports).
AvatarNode = AvatarForcingVideoService
