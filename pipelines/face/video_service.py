"""`AvatarForcingVideoService`: the live face as a pipecat video service.

Drop it where pipecat's own video services sit (Simli, Tavus, HeyGen), between
TTS and the output transport:

    Pipeline([transport.input(), stt, user_aggregator, llm, tts,
              AvatarForcingVideoService(), transport.output(), assistant_aggregator])

It runs on the CPU and needs no API key. Like Simli it consumes `TTSAudioRawFrame`s
and never forwards them: it re-emits the audio it animated, each 40 ms chunk with
the image of the same 40 ms, so a transport that plays both keeps the lips on the
voice. This file is what a pipecat developer reads: the frames in, the frames out,
the lifecycle. Beside it: the block clock and pacing (face_clock.py), the camera
(camera_input.py), the worker thread (face_worker.py), pipecat metrics
(face_metrics.py), our protocol's counters (face_stats.py), assets (face_assets.py).

Frames in:
- `TTSAudioRawFrame`: the reply, animated. Text and control frames that arrive
  behind reply audio are held until that audio is out, so the LLM context holds
  only what was played.
- `InterruptionFrame`: the queued reply and held frames are dropped; no reply audio
  follows, so the transport's bot-speaking state ends and stays ended.
- VAD and user-turn frames drive the listening cues; the user's audio and camera
  (`InputImageRawFrame` / `UserImageRawFrame`, our `UserCameraFrame`) feed the
  generator. All input frames pass on unchanged.
- `ServiceUpdateSettingsFrame` for this service: another portrait (`portrait`: a
  bundled name, a name in `portrait_dir`, an image path), `size`, `camera_fps` or
  `adapt_video`, as its `delta` (`AvatarForcingVideoService.Settings(...)`) or its
  `settings` dict. The video goes on while the portrait loads; portraits are
  analysed once and kept (the library's ahead of time).
- `ReplyPauseFrame` / `ReplyResumeFrame` (pipelines/turns/barge_in.py): a sound over
  the reply silences it from the next frame and keeps the rest queued.

Lifecycle:
- Building the service starts loading the face in the background, `setup` its
  worker processes (shared by the services of the process: face_assets.py).
  `StartFrame` waits for a face, at most START_WAIT_SECS: while no worker process
  is ready (the first call of a process), a face starts in this process as soon as
  the portrait and the generator are loaded, and moves to a worker once one is
  (mid-reply if need be; the motion glides, so the picture does not jump). A face
  not ready in time lets the voice pass through unchanged, and takes over between
  replies.
- `EndFrame` lets the queued reply finish (bounded by the audio still queued), then
  stops: a goodbye followed by `EndFrame` is heard whole. `CancelFrame` stops at once
  and drops held text (it was never spoken).
- A face that fails (at start or mid-session: the renderer, the generator, its
  worker process) never mutes the bot: the reply audio it held goes out as it was,
  TTS audio passes straight through from then on, and one `ErrorFrame` names the
  failure. The service then reports itself unusable (pipecat's
  `force_treat_as_permanent`): `PipelineWorker(processor_unusable_policy=...)` is the
  app's choice, CONTINUE (pipecat's default: the call goes on with the voice) or END
  (the call ends once the queued audio is out). A camera analysis that fails turns
  the camera off; the face goes on.
- With `PipelineParams(enable_metrics=True)`: TTFB per reply (TTSStartedFrame to the
  first lip-synced image), processing time per image and images repeated or dropped,
  as pipecat `MetricsFrame`s.
- Quiet by default, as a library should be: our protocol's `metrics`,
  `video-quality` and `error` events are opt-in (`send_metrics` / `send_events`,
  which our own server turns on), and no garbage collection or allocator trim runs
  unless `release_memory_after` asks. `counters` and `stats()` are always readable.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from loguru import logger
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InputImageRawFrame,
    InterruptionFrame,
    ServiceUpdateSettingsFrame,
    StartFrame,
    SystemFrame,
    TextFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
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
from pydantic import ValidationError

from avatar.errors import AvatarError
from avatar.live import AvatarAssets, AvatarSession, PortraitLibrary, SessionOptions
from avatar.live.assets import level_cost_ms
from avatar.live.capacity import CapacityBoard
from avatar.live.face import FaceBackend
from avatar.live.face_pool import FaceWorkerPool, WorkerFace, with_worker_face
from avatar.live.presence import PresenceChange, PresenceState
from avatar.live.quality import FLOOR_SIZE, QualityChange, QualityGovernor
from avatar.live.session import StartedFace
from avatar.memory import release_free_memory
from avatar.portrait import Portrait
from pipelines.face.camera_input import CameraInput
from pipelines.face.face_assets import (
    FirstFace,
    PortraitLoader,
    SharedAssets,
    resolve_portrait,
    shared_assets,
    shared_loading,
)
from pipelines.face.face_clock import ClockHooks, FaceClock, ReplyState
from pipelines.face.face_metrics import FaceMetrics
from pipelines.face.face_params import AvatarNodeParams
from pipelines.face.face_stats import Stats, session_stats
from pipelines.face.face_worker import FaceWorker
from pipelines.face.protocol_events import ProtocolEvents
from pipelines.face.visitor_watch import TICK_SECS, VisitorWatch
from pipelines.settings import AvatarSettings, KioskSettings
from pipelines.wire.frames import (
    PortraitRequestFrame,
    ReplyPauseFrame,
    ReplyResumeFrame,
    UserCameraFrame,
    UserMotionFrame,
)
from pipelines.wire.webrtc_fitting import fit_media_clock
from sdk.protocol import ErrorCode, PresenceEvent, VisitorArrived, VisitorLeft

if TYPE_CHECKING:
    from pipelines.wire.webrtc_output import MediaClockOutput

#: after a session's `_shutdown`, when its pipeline is torn down: its cycles are collected
COLLECT_AFTER_SECS = 1.0
#: how long StartFrame waits for the face to be built before it goes on without it
#: (pipecat tears a pipeline down when StartFrame takes 20 s to reach its end; a cold
#: face pool takes 10-15 s on 2 cores, the face started in this process meanwhile
#: about 2 s). Meanwhile the voice passes through unchanged and the face takes over
#: at the next reply
START_WAIT_SECS = 3.0
#: how often a face started in this process looks for a ready worker process
MOVE_POLL_SECS = 0.1
#: EndFrame waits for the queued reply to be out: its length, plus this much
END_MARGIN_SECS = 1.0
#: the settings a running session takes from ServiceUpdateSettingsFrame
LIVE_SETTINGS = frozenset({"default_portrait", "size", "camera_fps", "adapt_video"})


class AvatarForcingVideoService(AIService):
    """The live, listening face of a pipecat voice agent (see the module docstring)."""

    #: the settings section that configures it (`AvatarForcingVideoService.Settings(size=384)`,
    #: or `.Settings.load()` to read `AVATAR_FORCING_AVATAR_*` environment variables)
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
                 kiosk: KioskSettings | None = None,
                 **kwargs: Any) -> None:
        """Everything is optional; with no argument it shows the bundled portrait.

        Args:
            portrait: a bundled name (`grace_hopper`), a name in `settings.portrait_dir`,
                an image path, or a loaded `Portrait`; None: `settings.default_portrait`.
            settings: the `[avatar]` section of our settings tree (size, camera rate,
                pacing, portraits, adapting); None: its defaults.
            assets: generator, portraits and machine costs shared by a server's
                sessions; None: loading starts now, in the background, shared with
                the other services of this process (face_assets.py).
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
            kiosk: watch who is in front (camera and VAD) and raise `on_visitor_arrived`
                / `on_visitor_left` / `on_presence_changed`; while nobody is there the
                face idles cheaply (docs/KIOSK.md). None: no presence.
            **kwargs: passed to pipecat's `AIService` (name, ...).
        """
        super().__init__(settings=ServiceSettings(model="avatar-forcing"), **kwargs)
        self.avatar_settings = settings or AvatarSettings()
        if session is not None and not 256 <= session.options.size <= 512:
            raise ValueError(f"video size must be 256..512, got {session.options.size}")
        self._portrait_choice = portrait
        self._assets = assets
        self._jpeg_quality = jpeg_quality
        self._events = ProtocolEvents(self.push_frame, metrics=send_metrics, events=send_events)
        self._release_memory_after = release_memory_after
        self._session: AvatarSession | None = session
        #: the pipeline's audio output rate (from `setup`)
        self._out_rate = session.output_rate if session is not None else 24000
        self.governor = governor
        self._capacity = capacity
        self._session_key = session_key
        self._load_portrait = load_portrait
        self._params = params or AvatarNodeParams.from_section(self.avatar_settings)
        self._transport_stats = transport_stats
        self._worker = FaceWorker(self._params.threads, self._params.worker_nice)
        self._reply = ReplyState()
        self.counters = {"frames_sent": 0, "frames_repeated": 0, "frames_repeated_late": 0,
                         "late_frames": 0,
                         "idle_frames_skipped": 0, "stale_frames_silenced": 0,
                         "rebases": 0, "camera_analysed": 0, "camera_skipped": 0,
                         "camera_errors": 0, "interruptions": 0, "reply_pauses": 0,
                         "quality_changes": 0, "face_restarts": 0, "settings_updates": 0}
        self._camera = CameraInput(
            self._params.camera_fps, counters=self.counters, run_job=self._in_worker,
            start_task=self.create_task, thinking=self._reply.thinking,
            refused=self._camera_refused, failed=self._camera_failed)
        self._clock: FaceClock | None = None
        self._clock_task: asyncio.Task[None] | None = None
        for event in ("on_presence_changed", "on_visitor_arrived", "on_visitor_left"):
            self._register_event_handler(event, sync=True)  # in order, before the event
        #: the kiosk's presence (None: not a kiosk)
        self.visitors = VisitorWatch(kiosk) if kiosk is not None else None
        self._presence_changes: asyncio.Queue[PresenceChange] = asyncio.Queue()
        self._presence_task: asyncio.Task[None] | None = None
        if self.visitors is not None:
            self._camera.on_motion = lambda motion: self._presence(
                self.visitors.camera(motion) if self.visitors is not None else None)
        self._memory_released = False
        self._face_closed = False
        #: set when the session stops: camera frames still in the pipeline are ignored
        self._stopped = False
        #: why the face is not running (it could not start, or it failed): frames pass
        #: through and the voice goes on without it
        self.failed: str | None = None
        #: the process's shared assets, loading from now on (None: given, or a session)
        self._shared: SharedAssets | None = None
        if session is None and assets is None:
            self._shared = shared_loading(self.avatar_settings, holder=self)
        #: the portrait choice the session was built with (a switch asked meanwhile
        #: is applied once it exists)
        self._built_choice: str | Path | Portrait | None = None
        #: the face started in this process moving to a worker process
        self._moving: asyncio.Task[None] | None = None
        #: the session being built after StartFrame went on without it
        self._building: asyncio.Task[None] | None = None
        #: a reply is passing through without the face (it was not built yet): the face
        #: takes over only after its TTSStoppedFrame, never in the middle of a reply
        self._passthrough_reply = False
        self._held: deque[tuple[int, Frame]] = deque()  # (reply position, frame)
        #: set each time a frame's audio is out (and when the face stops): EndFrame waits on it
        self._audio_out = asyncio.Event()
        self._started_at = time.monotonic()
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

    def can_generate_metrics(self) -> bool:
        """pipecat asks before it collects TTFB and processing metrics."""
        return True

    # ------------------------------------------------------------------ lifecycle
    def link(self, processor: FrameProcessor) -> None:
        """Linked into a pipeline: a SmallWebRTC output right after this service gets
        our media-clock tracks now, before any peer can connect."""
        super().link(processor)
        self._fit_webrtc_output()

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        """Note the pipeline's output rate: the session's audio goes out at it, so the
        transport plays it as it is. A SmallWebRTC output further downstream gets our
        media-clock tracks here. The face's worker processes start."""
        await super().setup(setup)
        self._out_rate = setup.audio_out_sample_rate
        self._fit_webrtc_output()
        if self._shared is not None:  # the pipeline runs: the worker processes are wanted
            self._shared.start_workers()

    def _fit_webrtc_output(self) -> None:
        """Over pipecat's SmallWebRTC, stamp the video from the audio's clock
        (pipelines/wire/webrtc_output.py): any WebRTC receiver then keeps the lips on
        the voice by itself."""
        if self.media_clock is None:
            self.media_clock = fit_media_clock(self)

    async def start(self, frame: StartFrame) -> None:
        """Build the session (if not given) at the pipeline's output rate, off the loop.

        StartFrame waits at most START_WAIT_SECS for it (a face in this process when no
        worker process is ready yet); a face not ready by then finishes in the
        background while the voice passes through."""
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
            first = None
            if self._assets is None and self._shared is not None:
                first = await asyncio.wrap_future(self._shared.first)
                if self._shared.assets.done() and not self._shared.failed:
                    self._assets = self._shared.assets.result()
            building = asyncio.ensure_future(asyncio.to_thread(self._build_session, rate, first))
            try:
                self._session = await asyncio.shield(building)
            except asyncio.CancelledError:  # the pipeline ended first: close what is built
                building.add_done_callback(_close_built_session)
                raise
        except Exception as error:
            await self._face_failed("the avatar could not start", error)
            return
        if self._stopped:  # the pipeline ended while the face was starting
            self._building = None
            await self._shutdown()
            return
        self._face_ready()
        if self._built_choice is not self._portrait_choice:  # switched while it was built
            self.create_task(self._switch_portrait(self._portrait_choice))
        if not isinstance(self.session.face, WorkerFace) and (
                self._shared is not None or self._pool() is not None):
            self._moving = self.create_task(self._move_to_worker(), name="avatar-move")

    def _face_ready(self) -> None:
        """The session exists: follow its worker's restarts and start the clock."""
        self._camera.session = self.session
        self._follow_restarts()
        if not self._passthrough_reply:
            self._start_clock()

    def _follow_restarts(self) -> None:
        """Hear when the face's worker process is lost and replaced."""
        face = self.session.face
        if isinstance(face, WorkerFace) and face.on_restart is None:
            loop = asyncio.get_running_loop()

            def on_restart(reason: str) -> None:  # called in the worker thread
                loop.call_soon_threadsafe(self._face_restarted, reason)

            face.on_restart = on_restart

    def _build_session(self, output_rate: int, first: FirstFace | None) -> AvatarSession:
        """The portrait, the session and its governor (blocking). Its face goes to a
        ready worker process when the assets keep a pool; else it starts here (the
        first call of a process: `first`, before the machine is measured)."""
        settings, assets = self.avatar_settings, self._assets
        self._built_choice = self._portrait_choice
        portrait = resolve_portrait(self._portrait_choice, self._portraits(first))
        pool = assets.faces if assets is not None else None
        # no worker process ready yet (or the machine not measured yet): the face starts
        # here, at the cheapest size, so its first replies are drawn on time beside the
        # workers starting; it moves to a worker, and takes its level, later
        interim = assets is None or (pool is not None and pool.idle == 0)
        size, reason = min(settings.size, FLOOR_SIZE), "until the machine is measured"
        if not interim:
            assert assets is not None
            self._take_costs(assets)
            choice = assets.choose_video(settings.size, camera=self._params.camera_fps > 0,
                                       codec=self._codec())
            size, reason = choice.size, choice.reason
        options = SessionOptions(size=size, jpeg_quality=self._jpeg_quality)
        calibrator = assets.calibrator if assets is not None else None
        if assets is not None:
            checkpoint = assets.checkpoint
        else:
            assert first is not None  # loading: its first stage is done
            checkpoint = first.checkpoint
        if not interim:
            where = "in a worker process" if pool is not None else "in this process"
            logger.info(f"avatar: {portrait.name} at {size} px, {output_rate} Hz audio, "
                        f"{where} ({reason})")
            return with_worker_face(pool, lambda face: AvatarSession(
                portrait, checkpoint, output_rate=output_rate, options=options,
                calibrator=calibrator, face=face))
        logger.info(f"avatar: {portrait.name} at {size} px, {output_rate} Hz audio, in this "
                    f"process until a worker process is ready ({reason})")
        session = AvatarSession(portrait, checkpoint, output_rate=output_rate, options=options,
                                calibrator=calibrator)
        # the first drawing pays for lazy set-up (compiled kernels): here, not at frame 0
        session.face.draw(portrait.reference_motion, size, 0)
        return session

    def _portraits(self, first: FirstFace | None = None) -> PortraitLibrary:
        """The portrait library (from the assets, or the first stage of their loading)."""
        if self._assets is not None:
            return self._assets.portraits
        if first is None:
            assert self._shared is not None
            first = self._shared.first.result()
        return first.portraits

    def _pool(self) -> FaceWorkerPool | None:
        return self._assets.faces if self._assets is not None else None

    def _take_costs(self, assets: AvatarAssets) -> None:
        """A session built at its level: the camera rate the machine's costs allow,
        and a governor (when the session adapts and none was given)."""
        settings = self.avatar_settings
        choice = assets.choose_video(settings.size, camera=self._params.camera_fps > 0,
                                       codec=self._codec())
        if self.governor is None and settings.adapt_video:
            self.governor = self._new_governor(assets, settings.size)
        if choice.camera_fps > 0 and self._params.camera_fps > 0:
            self._camera.set_rate(min(self._params.camera_fps, choice.camera_fps))

    async def _move_to_worker(self) -> None:
        """The face started in this process: once a worker process is ready, the face
        moves there between two frames (started there while this one draws on); then,
        with the machine measured, the session takes its quality level."""
        try:
            if self._assets is None and self._shared is not None:
                self._assets = await asyncio.wrap_future(self._shared.assets)
            pool = self._pool()
            if pool is None:  # faces run in this process
                await self._costs_known()
                return
            # the pool signals through threads' conditions: nothing to await, so look
            # (a pool that keeps none warm starts one for the face when it asks)
            while pool.idle == 0 and pool.warm > 0:  # noqa: ASYNC110
                await asyncio.sleep(MOVE_POLL_SECS)
            face = WorkerFace(pool)
            adopted: bool | None = None
            try:
                while adopted is None:  # None: the portrait changed meanwhile, start again
                    starting = asyncio.ensure_future(
                        asyncio.to_thread(self.session.start_face, face))
                    moved = await self._in_worker(self._adopt_face,
                                                  await asyncio.shield(starting))
                    adopted = None if moved is None else moved is not False
            finally:
                if not adopted:  # failed, stopped or cancelled: the worker goes back
                    starting.add_done_callback(lambda _: face.close())
            if not adopted:
                return
            self._follow_restarts()
            logger.info("avatar: the face moved to a worker process")
            old: FaceBackend = moved
            await asyncio.to_thread(old.close)  # the face that drew until now, off the clock
            await self._costs_known()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the face goes on: slower, never silent
            logger.opt(exception=error).warning(f"avatar: the face did not move: {error}")

    def _adopt_face(self, started: StartedFace) -> FaceBackend | bool | None:
        """In the worker thread, between two frames: the session goes on with the
        worker's face; returns the face that drew until now (to close). False:
        stopped; None: the portrait changed since the worker's face started."""
        if self._stopped:
            return False
        return self.session.move_face(started)

    async def _costs_known(self) -> None:
        """The face started before the machine was measured now runs where it stays:
        the measured costs give its camera rate and its level (the governor's start,
        or the size they allow)."""
        assets, settings = self._assets, self.avatar_settings
        assert assets is not None
        if self._stopped or self.failed is not None:
            return
        choice = assets.choose_video(settings.size, camera=self._params.camera_fps > 0,
                                       codec=self._codec())
        if choice.camera_fps > 0 and self._params.camera_fps > 0:
            self._camera.set_rate(min(self._params.camera_fps, choice.camera_fps))
        if self.governor is None and settings.adapt_video:
            await self._resize(settings.size, True)
            return
        size = self.governor.quality.size if self.governor is not None else choice.size
        if size != self.session.options.size:
            await self._in_worker(self.session.set_size, size)

    def _new_governor(self, assets: AvatarAssets, size: int) -> QualityGovernor:
        """A governor for `size` px from this machine's measured costs."""
        codec = self._codec()
        choice = assets.choose_video(size, camera=self._params.camera_fps > 0, codec=codec)
        return QualityGovernor(list(choice.ladder),
                               lambda level: level_cost_ms(assets.costs, level, codec),
                               start=choice.level, now=time.monotonic())

    def _codec(self) -> str:
        """How this service's images go out, as the face's cost counts them: the face's
        own VP8 over SmallWebRTC, JPEG on our websocket, raw to any other transport."""
        if self.media_clock is not None:
            return "vp8"
        return "jpeg" if self._jpeg_quality else "raw"

    def _face_restarted(self, reason: str) -> None:
        """The face's worker was lost and replaced (on the event loop): count it and
        tell the client; the video goes on from the fresh worker."""
        self.counters["face_restarts"] += 1
        logger.warning(f"avatar: the face worker was replaced: {reason}")
        if not self._stopped:
            self.create_task(self._events.error(
                ErrorCode.AVATAR_RESTARTED,
                "the avatar's face process stopped and was restarted; the video goes on"))

    async def stop(self, frame: EndFrame) -> None:
        """End of the conversation (the queued reply is out by now): free the session."""
        await super().stop(frame)
        await self._shutdown()

    async def cancel(self, frame: CancelFrame) -> None:
        """Cancelled: stop at once."""
        await super().cancel(frame)
        await self._shutdown()

    async def cleanup(self) -> None:
        """Release the worker thread and the face."""
        await super().cleanup()
        await self._shutdown()

    async def _finish_reply(self) -> None:
        """EndFrame: let the reply already queued play out (bounded by its length plus
        a margin), so a goodbye followed by EndFrame is heard whole."""
        session, clock = self.session, self._clock

        def owed() -> bool:
            return (session.reply_pending_secs > 0 or bool(self._held)
                    or (clock is not None and clock.owes_reply_audio()))

        queued = session.reply_pending_secs + (clock.owed_secs() if clock is not None else 0.0)
        deadline = time.monotonic() + queued + END_MARGIN_SECS
        while self.ready and owed():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                logger.warning("avatar: EndFrame came before the reply was out; the rest "
                               "of it is dropped")
                break
            self._audio_out.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._audio_out.wait(), remaining)

    # ------------------------------------------------------------------ frames
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Consume TTS audio and camera input, hold text behind audio, pass the rest."""
        if isinstance(frame, EndFrame) and self.ready:
            await self._finish_reply()
        await super().process_frame(frame, direction)  # start / stop / cancel
        if direction == FrameDirection.UPSTREAM:
            await self.push_frame(frame, direction)
        elif isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
        elif isinstance(frame, EndFrame | CancelFrame):
            await self._flush_held(spoken_only=True)
            await self.push_frame(frame, direction)
        elif isinstance(frame, ServiceUpdateSettingsFrame):
            await self._on_settings_frame(frame, direction)
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
            self._reply.thinking_until = 0.0
            if self.visitors is not None:
                self._presence(self.visitors.voice(True))
            await self.push_frame(frame, direction)
        elif isinstance(frame, VADUserStoppedSpeakingFrame | UserStoppedSpeakingFrame):
            # the user paused or their turn ended: whisper (and the early reply) start
            # now, so the camera waits
            self.session.set_user_speaking(False)
            self._reply.thinking_until = (time.monotonic()
                                          + self._params.thinking_camera_pause_secs)
            if self.visitors is not None:
                self._presence(self.visitors.voice(False))
            await self.push_frame(frame, direction)
        elif isinstance(frame, UserCameraFrame):
            self._camera.offer(frame)
        elif isinstance(frame, InputImageRawFrame):  # UserImageRawFrame too
            self._camera.offer(frame)
            await self.push_frame(frame, direction)  # a vision LLM may want it too
        elif isinstance(frame, UserMotionFrame):
            motion = None if frame.motion is None else np.asarray(frame.motion, np.float32)
            self.session.push_user_motion(motion)
        elif isinstance(frame, PortraitRequestFrame):
            self.create_task(self._events.answer_portrait_request(
                frame.portrait_name, frame.upload,
                self._load_requested_portrait if self._load_portrait is not None else None,
                self._show_portrait))
        elif isinstance(frame, SystemFrame):
            await self.push_frame(frame, direction)
        else:
            if isinstance(frame, TTSStartedFrame):
                await self.start_ttfb_metrics()
                if self._clock is not None:
                    self._clock.reply_started()
            elif isinstance(frame, TTSStoppedFrame):
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
        session renders it silent, and the clock checks the generation again right
        before pushing, so no reply audio follows the interruption and the
        transport's bot-speaking state, ended by the interruption, stays ended."""
        played = self.session.clear()
        if played > 0:  # a reply was cut (not a user turn starting while idle)
            self.last_played_secs = played
        self.counters["interruptions"] += 1
        self._held.clear()
        self._reply.in_reply = False
        await self.cancel_ttfb_metrics()

    async def _hold_or_push(self, frame: Frame) -> None:
        """A frame that came behind reply audio waits until that audio is out."""
        position = self.session.queued_total
        if position > self._reply.emitted_position or self._held:
            self._held.append((position, frame))
        else:
            await self.push_frame(frame)

    async def _on_audio_out(self) -> None:
        self._audio_out.set()
        await self._release_held()

    async def _release_held(self) -> None:
        """Frames whose audio is out now go on, in order."""
        while self._held and self._held[0][0] <= self._reply.emitted_position:
            frame = self._held.popleft()[1]
            if isinstance(frame, TTSStoppedFrame):
                self._reply.in_reply = False  # its audio is out: the transport ends the turn
            await self.push_frame(frame)

    async def _flush_held(self, *, spoken_only: bool) -> None:
        """The pipeline ends: frames still held go on, except text whose audio was
        never played (the LLM context must hold only what was heard)."""
        while self._held:
            frame = self._held.popleft()[1]
            if not (spoken_only and isinstance(frame, TextFrame)):
                await self.push_frame(frame)

    # ------------------------------------------------------------------- clock
    def _start_clock(self) -> None:
        if self._clock_task is not None:
            return
        self._started_at = time.monotonic()
        if self._capacity is not None and self.governor is not None:
            self._capacity.register(self._session_key, self.governor)
        hooks = ClockHooks(push=self.push_frame, audio_out=self._on_audio_out,
                           reply_image_out=self.stop_ttfb_metrics, stats_due=self._send_stats,
                           quality_changed=self._quality_changed)
        metrics = FaceMetrics(self.name, "avatar-forcing") if self.metrics_enabled else None
        self._clock = FaceClock(self.session, self._params, self._worker, self._reply,
                                self.counters, hooks, camera=self._camera,
                                governor=self.governor, media_clock=self.media_clock,
                                metrics=metrics)
        self._clock_task = self.create_task(self._run_clock(), name="avatar-clock")
        if self.visitors is not None:
            self._presence_task = self.create_task(self._watch_presence(),
                                                   name="avatar-presence")

    async def _run_clock(self) -> None:
        """The block clock, until the pipeline ends or the face fails."""
        assert self._clock is not None
        try:
            await self._clock.run()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            await self._face_failed("the avatar failed", error)

    async def _face_failed(self, what: str, error: Exception) -> None:
        """The face cannot go on: the voice does, without it.

        The reply audio the face had taken (planned frames, the session's queue) goes
        out as it was, then the frames held behind it; from here TTS audio passes
        straight through (`ready` is False). One ErrorFrame names the failure and
        marks this service unusable, so the app's `processor_unusable_policy`
        decides whether the call goes on with the voice (CONTINUE) or ends (END)."""
        self.failed = f"{what}: {error}"
        self._audio_out.set()
        if isinstance(error, (AvatarError, OSError, ValueError, KeyError, ImportError)):
            logger.error(self.failed)  # bad input or a missing file: the message says it
        else:  # a defect: keep the traceback
            logger.opt(exception=error).error(self.failed)
        if self._capacity is not None:
            self._capacity.unregister(self._session_key)
        if self._session is not None:
            owed = (self._clock.unplayed_audio() if self._clock is not None else b"") + \
                self._session.take_reply_audio()
            if owed:
                await self.push_frame(TTSAudioRawFrame(audio=owed,
                                                       sample_rate=self._session.output_rate,
                                                       num_channels=1))
            self._reply.emitted_position = self._session.queued_total
            await self._release_held()
        await self._events.error(ErrorCode.INTERNAL, f"{self.failed}; the voice goes on")
        await self.push_error(f"{self.failed}; the voice goes on without the face",
                              exception=error, force_treat_as_permanent=True)

    async def _shutdown(self) -> None:
        """Stop the clock and the worker (idempotent: stop, cancel and cleanup share it)."""
        self._stopped = True
        self._camera.stopped = True
        self._audio_out.set()
        if self._building is not None and not self._building.done():
            await self.cancel_task(self._building)
        if self._moving is not None and not self._moving.done():
            await self.cancel_task(self._moving)
        if self._shared is not None and self._session is not None:
            self._shared.keep_warm()  # the next call of this process finds its face warm
        if self._capacity is not None:
            self._capacity.unregister(self._session_key)
        if self._presence_task is not None:
            await self.cancel_task(self._presence_task)
            self._presence_task = None
        if self._clock_task is not None:
            await self.cancel_task(self._clock_task)
            self._clock_task = None
        self._worker.shutdown()
        if self._session is not None and not self._face_closed:
            self._face_closed = True
            if not await self._worker.close_when_idle(self._session.close):
                return
        if self._release_memory_after and not self._memory_released:
            self._memory_released = True  # once: EndFrame/CancelFrame and cleanup both stop
            # once the session's pipeline is torn down (_collect_ended_session)
            asyncio.get_running_loop().call_later(COLLECT_AFTER_SECS, _collect_ended_session)

    async def _in_worker(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` on this session's worker (face_worker.py)."""
        face = self._session.face if self._session is not None else None
        return await self._worker.run(fn, *args, face=face, thinking=self._reply.thinking())

    # --------------------------------------------------------- settings, portraits
    async def _on_settings_frame(self, frame: ServiceUpdateSettingsFrame,
                                 direction: FrameDirection) -> None:
        """pipecat's runtime settings: this service's (its `delta` as our Settings, or
        its `settings` dict) are applied; any other service's pass on."""
        mine = frame.service is self or (frame.service is None and (
            isinstance(frame.delta, AvatarSettings)
            or (frame.delta is None and bool(frame.settings)
                and set(frame.settings) <= LIVE_SETTINGS | {"portrait"})))
        if not mine:
            await self.push_frame(frame, direction)
            return
        try:
            if isinstance(frame.delta, AvatarSettings):
                delta = frame.delta
            elif frame.delta is not None:
                raise ValueError(f"expected AvatarForcingVideoService.Settings, got "
                                 f"{type(frame.delta).__name__}")
            else:
                delta = AvatarSettings.model_validate(dict(frame.settings))
        except (ValidationError, ValueError) as error:
            await self.push_error(f"avatar settings update refused: {error}")
            return
        changes = {name: getattr(delta, name) for name in delta.model_fields_set}
        self.create_task(self._update_live_settings(changes))

    async def _update_live_settings(self, changes: dict[str, Any]) -> None:
        """Take the given settings while the session runs (the video goes on)."""
        unhandled = set(changes) - LIVE_SETTINGS
        self._warn_unhandled_updated_settings(unhandled)
        changes = {k: v for k, v in changes.items() if k in LIVE_SETTINGS}
        if not changes:
            return
        self.counters["settings_updates"] += 1
        self.avatar_settings = self.avatar_settings.model_copy(update=changes)
        if self._session is None or self.failed is not None:
            if "default_portrait" in changes:  # the face starts with it
                self._portrait_choice = changes["default_portrait"]
            return
        if "default_portrait" in changes:
            await self._switch_portrait(changes["default_portrait"])
        if "camera_fps" in changes:
            self._camera.set_rate(float(changes["camera_fps"]))
        if {"size", "adapt_video"} & set(changes):
            await self._resize(self.avatar_settings.size, self.avatar_settings.adapt_video)

    async def _resize(self, size: int, adapt: bool) -> None:
        """A new asked size (and whether it adapts): a fresh governor for it, or the
        size itself when the session does not adapt (or the machine is not measured
        yet: the governor comes with its costs)."""
        if self._assets is None:
            await self._in_worker(self.session.set_size, size)
            return
        if self._capacity is not None:
            self._capacity.unregister(self._session_key)
        self.governor = self._new_governor(self._assets, size) if adapt else None
        if self._clock is not None:
            self._clock.governor = self.governor
            self._clock.draw_stride = 1 if self.governor is None else (
                self.governor.quality.draw_stride)
        start_size = self.governor.quality.size if self.governor is not None else size
        await self._in_worker(self.session.set_size, start_size)
        if self._capacity is not None and self.governor is not None:
            self._capacity.register(self._session_key, self.governor)

    async def _switch_portrait(self, choice: str | Path | Portrait | None) -> Portrait | None:
        """Load the portrait off the worker (the clock keeps drawing the current one),
        then hand it to the session in one job. A bad choice keeps the current one."""
        try:
            portrait = await asyncio.to_thread(resolve_portrait, choice, self._portraits())
            await self._in_worker(self.session.set_portrait, portrait)
        except (AvatarError, KeyError, ValueError, OSError) as error:
            logger.info(f"portrait {choice!r} refused: {error}")
            await self.push_error(f"avatar portrait {choice!r} refused: {error}; the current "
                                  "portrait stays")
            return None
        logger.info(f"avatar: now showing {portrait.name}")
        return portrait

    async def _load_requested_portrait(self, name: str | None,
                                       upload: bytes | None) -> Portrait:
        """Our websocket's portrait request (a name or an upload), loaded off the loop."""
        assert self._load_portrait is not None
        portrait: Portrait = await self._in_worker(self._load_portrait, name, upload)
        return portrait

    async def _show_portrait(self, portrait: Portrait) -> None:
        await self._in_worker(self.session.set_portrait, portrait)

    # ------------------------------------------------------------ camera, events
    async def _camera_refused(self, error: AvatarError) -> None:
        await self._events.error(ErrorCode.BAD_CAMERA_FRAME, f"{error}; dropped")

    async def _camera_failed(self, error: Exception) -> None:
        if self.visitors is not None:
            logger.warning("avatar: presence goes on from the voice alone (no camera)")
            self._presence(self.visitors.camera_lost())
        await self.push_error(f"avatar camera analysis failed: {error}; the face goes on "
                              "without the camera", exception=error)

    # ---------------------------------------------------------------- presence
    def _presence(self, change: PresenceChange | None) -> None:
        """Queue a presence change for `_watch_presence` (handled in order)."""
        if change is not None:
            self._presence_changes.put_nowait(change)

    async def _watch_presence(self) -> None:
        """The kiosk's presence: attract mode from the start, the tracker ticked, and
        each change acted on in order (until the session stops)."""
        assert self.visitors is not None and self._clock is not None
        if self.visitors.nobody_there:
            await self._clock.hold(self.visitors.attract)
        while True:
            try:
                async with asyncio.timeout(TICK_SECS):  # no task made per wait
                    change = await self._presence_changes.get()
            except TimeoutError:
                self._presence(self.visitors.tick())
                continue
            await self._on_presence(change)

    async def _on_presence(self, change: PresenceChange) -> None:
        """Attract mode off at the first sign of someone (the greeting is drawn at full
        quality) and on when nobody is left; a smile for an arrival; the protocol's
        events and the app's handlers."""
        assert self._clock is not None
        logger.info(f"avatar: presence {change.previous.value} -> {change.state.value} "
                    f"({change.reason})")
        if change.state is PresenceState.AWAY:
            await self._clock.hold(self.visitors.attract if self.visitors else None)
        elif change.previous is PresenceState.AWAY:
            await self._clock.hold(None)
        if change.arrived:
            self.session.welcome_visitor()
        if change.left:
            self.session.push_user_motion(None)  # nothing of this visitor's face stays
        await self._events.send(PresenceEvent(state=change.state.value,
                                              previous=change.previous.value,
                                              reason=change.reason))
        await self._call_event_handler("on_presence_changed", change)
        if change.arrived:
            await self._events.send(VisitorArrived(reason=change.reason))
            await self._call_event_handler("on_visitor_arrived", change)
        if change.left:
            await self._call_event_handler("on_visitor_left", change)
            away = self.visitors.kiosk.away_secs if self.visitors else 0.0
            await self._events.send(VisitorLeft(reason=change.reason, away_secs=away))

    async def _quality_changed(self, change: QualityChange) -> None:
        levels = len(self.governor.ladder) if self.governor is not None else 1
        await self._events.quality_changed(change, levels)

    def stats(self) -> Stats:
        """The counters reported in `metrics` events (and read by tests)."""
        return session_stats(self.counters, self._session,
                             worker_cpu_secs=self._worker.cpu_secs, started_at=self._started_at,
                             governor=self.governor, last_played_secs=self.last_played_secs,
                             transport_stats=self._transport_stats, media_clock=self.media_clock)

    async def _send_stats(self) -> None:
        if self._events.metrics:
            await self._events.stats(self.stats())


def _collect_ended_session() -> None:
    """A full garbage collection, then the freed pages back to the OS.

    Why: an ended session's pipeline (pipecat processors and their queued frames,
    this service, its session and renderers, the transport) is a web of reference
    cycles that only a full collection frees, and Python runs one rarely in a server
    holding a million long-lived objects (docs/LIVE_AVATAR.md). The server freezes
    what it loaded before serving (`gc.freeze()`), so this scans only what sessions
    made."""
    started = time.perf_counter()
    found = gc.collect()
    release_free_memory()
    logger.debug(f"after a session: {found} objects collected in "
                 f"{(time.perf_counter() - started) * 1000:.0f} ms")


def _close_built_session(building: asyncio.Future[AvatarSession]) -> None:
    """A session finished building after its pipeline ended: give its face back."""
    if not building.cancelled() and building.exception() is None:
        building.result().close()


def _mono(pcm: bytes, channels: int) -> bytes:
    """Interleaved s16le PCM -> its first channel (TTS services are mono; some are not)."""
    if channels <= 1:
        return pcm
    return np.frombuffer(pcm, np.int16)[::channels].tobytes()

__all__ = ["AvatarForcingVideoService", "AvatarNodeParams", "COLLECT_AFTER_SECS",
           "PortraitLoader", "resolve_portrait", "shared_assets"]
