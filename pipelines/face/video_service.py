"""`AvatarForcingVideoService`: the live face as a pipecat video service.

Drop it where pipecat's video services sit (Simli, Tavus), between TTS and output:

    Pipeline([transport.input(), stt, user_aggregator, llm, tts,
              AvatarForcingVideoService(), transport.output(), assistant_aggregator])

It runs on the CPU, with no API key. Like Simli it consumes `TTSAudioRawFrame`s and
re-emits the audio it animated, each 40 ms chunk with its image (lips on the voice);
text and control frames behind reply audio are held until that audio is out. The
frames it consumes, its options and its lifecycle: docs/PIPECAT.md. A face that
fails never mutes the bot: the voice goes on, with one permanent `ErrorFrame`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
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
    OutputTransportReadyFrame,
    ServiceUpdateSettingsFrame,
    StartFrame,
    SystemFrame,
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
from pipecat.transports.base_output import BaseOutputTransport

from avatar.errors import AvatarError
from avatar.live import AvatarAssets, AvatarSession
from avatar.live.quality import QualityChange, QualityGovernor
from avatar.portrait import Portrait
from pipelines.face.camera_input import CameraInput
from pipelines.face.face_clock import ClockHooks, FaceClock
from pipelines.face.face_failure import face_failed
from pipelines.face.face_metrics import FaceMetrics
from pipelines.face.face_params import FacePacing
from pipelines.face.face_settings import (
    AvatarForcingSettings,
    complete_settings,
    settings_delta,
)
from pipelines.face.face_start import FaceStart
from pipelines.face.face_state import FaceState, Lifecycle
from pipelines.face.face_stats import FaceCounters, Stats, session_stats
from pipelines.face.face_threads import FaceThreads
from pipelines.face.held_frames import HeldFrames
from pipelines.face.protocol_events import ProtocolEvents
from pipelines.face.reply_state import ReplyState
from pipelines.face.server_hooks import ServerHooks
from pipelines.face.server_seam import PRESENCE_EVENTS, Presence, ServerSeam
from pipelines.settings import AvatarSettings
from pipelines.wire.frames import PortraitRequestFrame
from sdk.protocol import ErrorCode

if TYPE_CHECKING:
    from pipelines.wire.webrtc.output import MediaClockOutput

#: EndFrame waits for the queued reply to be out: its length, plus this much
END_MARGIN_SECS = 1.0
#: the clock waits this long at most for the output transport downstream to be ready
OUTPUT_READY_WAIT_SECS = 10.0
#: an output transport this many links downstream at most is the one the clock waits for
OUTPUT_SEARCH_DEPTH = 8
#: the user's turn starting (the VAD's first, or the turn's)
_USER_STARTED = (VADUserStartedSpeakingFrame, UserStartedSpeakingFrame)
#: ... and pausing or ending
_USER_SPEAKING = (*_USER_STARTED, VADUserStoppedSpeakingFrame, UserStoppedSpeakingFrame)


class AvatarForcingVideoService(AIService):
    """The live, listening face of a pipecat voice agent (see the module docstring)."""

    #: its settings, pipecat's way (`.Settings(size=384)`, `.Settings.load()`): face_settings.py
    Settings = AvatarForcingSettings

    #: pauses the reply on ReplyPauseFrame (turns/barge_in.py): no ReplyPacer needed
    handles_reply_pause = True

    def __init__(self, *, portrait: str | Path | Portrait | None = None,
                 settings: AvatarForcingSettings | None = None,
                 assets: AvatarAssets | None = None,
                 session: AvatarSession | None = None,
                 **kwargs: Any) -> None:
        """Everything is optional; with no argument it shows the bundled portrait.

        Args:
            portrait: a bundled name (`grace_hopper`), a name in `settings.portrait_dir`,
                an image path, or a loaded `Portrait`; None: `settings.portrait`.
            settings: `AvatarForcingVideoService.Settings(...)`, the fields to set over
                the defaults (size, camera rate, pacing, portraits, adapting); a bad value
                raises pydantic's `ValidationError` naming it.
            assets: generator, portraits and machine costs shared by a server's
                sessions; None: loading starts now, in the background, shared with
                the other services of this process (face_assets.py).
            session: one built by the caller, at the transport's rate; None: built on StartFrame.
            **kwargs: passed to pipecat's `AIService` (name, ...).

        What our own server adds (its hooks, a kiosk's presence, its own frames) comes
        through `install()`, after this.
        """
        super().__init__(settings=complete_settings(settings), **kwargs)
        if session is not None and not 256 <= session.options.size <= 512:
            raise ValueError(f"video size must be 256..512, got {session.options.size}")
        self._session: AvatarSession | None = session
        self.counters = FaceCounters()
        #: the reply's audio position, and the frames held behind it
        self._held = HeldFrames(self.push_frame, ReplyState())
        #: the block clock while the face runs (face_clock.py), with its task
        self._clock: FaceClock | None = None
        #: the output transport downstream said it is ready (OutputTransportReadyFrame)
        self._output_ready = asyncio.Event()
        for event in PRESENCE_EVENTS:
            self._register_event_handler(event, sync=True)  # in order, before the event
        #: where the face stands (face_state.py): loading, starting, running, failed...
        self._life = Lifecycle()
        self._fit(ServerSeam())  # a pipecat app's: nothing installed
        #: building the session and moving its face (loading starts now: face_start.py);
        #: it holds the governor and, over SmallWebRTC, the media-clock tracks
        self._starter = FaceStart(self, portrait, assets, session, governor=None)

    def install(self, hooks: ServerHooks | None = None, *,
                presence: Presence | None = None) -> None:
        """What only our own server adds, through one seam (server_seam.py), once the
        service is built and before its pipeline starts. A pipecat app needs none of it.

        Args:
            hooks: our server's hooks (server_hooks.py: pacing, our protocol's events,
                portrait loading, the load board, memory care); None: the defaults.
            presence: who is in front (the kiosk's `KioskPresence`,
                pipelines/kiosk/presence.py): it hears the voice and the camera and raises
                `on_visitor_arrived` / `on_visitor_left` / `on_presence_changed`;
                while nobody is there the face idles cheaply (docs/KIOSK.md).

        Raises:
            RuntimeError: the pipeline has started.
        """
        if self._life.state is not FaceState.LOADING:
            raise RuntimeError("install() comes before the pipeline starts")
        self._worker.shutdown()  # never ran a job: its threads were never started
        self._fit(ServerSeam(hooks, presence))
        self._starter.governor = self._server.governor

    def _fit(self, seam: ServerSeam) -> None:
        """Take `seam`: the pacing (given, or from the settings), the protocol events,
        the job threads and the camera's input follow from its hooks."""
        hooks = seam.hooks
        self._seam = seam
        #: our server's hooks, with the pacing resolved (given, or from the settings)
        self._server = replace(hooks, params=hooks.params
                               or FacePacing.from_section(self.avatar_settings))
        self.events = ProtocolEvents(self.push_frame, metrics=hooks.send_metrics,
                                     events=hooks.send_events)
        self._worker = FaceThreads(self._params.threads, self._params.worker_nice)
        self._camera = CameraInput(
            self._params.camera_fps, speaking_fps=self._params.camera_fps_while_speaking,
            counters=self.counters, run_job=self._in_worker,
            start_task=self.create_task, thinking=self._reply.thinking,
            refused=self._camera_refused, failed=self._camera_failed)
        self._camera.on_motion = seam.on_motion

    @property
    def avatar_settings(self) -> AvatarSettings:
        """The settings as the `[avatar]` section (checked, typed: what the face reads)."""
        return self.face_settings.section()

    @property
    def face_settings(self) -> AvatarForcingSettings:
        """The complete settings store (pipecat's `settings`, typed as ours)."""
        assert isinstance(self._settings, AvatarForcingSettings)
        return self._settings

    @property
    def governor(self) -> QualityGovernor | None:
        """The session's quality governor (None: the session does not adapt)."""
        return self._starter.governor

    @property
    def media_clock(self) -> MediaClockOutput | None:
        """Our tracks in a SmallWebRTC output downstream (None: another transport)."""
        return self._starter.media_clock

    @property
    def _reply(self) -> ReplyState:
        return self._held.reply

    @property
    def session(self) -> AvatarSession:
        """The live session (built on `StartFrame` unless one was given)."""
        if self._session is None:
            raise RuntimeError("the avatar session is built on StartFrame (not come yet)")
        return self._session

    @property
    def ready(self) -> bool:
        """True once the session exists and the face is running."""
        return self._life.running

    @property
    def state(self) -> FaceState:
        """Where the face stands (face_state.py)."""
        return self._life.state

    def reply_thought_up(self) -> bool:
        """The user paused or their turn ended and no reply plays: the window where the
        face idles (draws one frame in `thinking_frame_stride`) so whisper, the LLM and
        piper get the CPU."""
        return self._reply.yielding(self.ready and self.session.reply_playing)

    @property
    def last_played_secs(self) -> float:
        """Seconds of the last interrupted reply that were output."""
        return self._reply.last_played_secs

    @property
    def _params(self) -> FacePacing:  # the pacing, resolved in __init__
        assert self._server.params is not None
        return self._server.params

    @property
    def failed(self) -> str | None:
        """Why the face is not running (it could not start, or failed); None: it did not."""
        return self._life.failure

    @property
    def presence(self) -> Presence | None:
        """Who is in front, as installed (None: no presence)."""
        return self._seam.presence

    @property
    def clock(self) -> FaceClock:
        """The running face's block clock (face_clock.py)."""
        assert self._clock is not None, "the face is not running"
        return self._clock

    def can_generate_metrics(self) -> bool:  # pipecat collects TTFB and processing time
        return True

    # ------------------------------------------------------------------ lifecycle
    def link(self, processor: FrameProcessor) -> None:
        """A SmallWebRTC output right after it gets our media-clock tracks now."""
        super().link(processor)
        self._starter.fit_webrtc_output(self)

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        """Note the pipeline's output rate (the session's audio goes out at it), fit a
        SmallWebRTC output downstream, and start the face's worker processes."""
        await super().setup(setup)
        self._starter.out_rate = setup.audio_out_sample_rate
        self._starter.fit_webrtc_output(self)
        if self._starter.shared is not None:  # the pipeline runs: the workers are wanted
            self._starter.shared.start_workers()

    async def start(self, frame: StartFrame) -> None:
        """Build the session (if not given), waiting at most START_WAIT_SECS (face_start.py)."""
        await super().start(frame)
        if self._session is not None:
            self._face_ready()
            return
        self._life.to(FaceState.STARTING)
        await self._starter.start()

    def _face_ready(self) -> None:
        """The session exists: follow its worker's restarts and start the clock."""
        self._camera.session = self.session
        self._starter.follow_restarts()
        if self._life.state is not FaceState.PASSTHROUGH:
            self._start_clock()

    async def stop(self, frame: EndFrame) -> None:
        """End of the conversation: the queued reply plays out, then the session is freed."""
        if self.ready:
            await self._finish_reply()
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
            return self.ready and (session.reply_pending_secs > 0 or bool(self._held)
                                   or (clock is not None and clock.owes_reply_audio()))

        queued = session.reply_pending_secs + (clock.owed_secs() if clock is not None else 0.0)
        await self._held.wait_out(owed, queued + END_MARGIN_SECS)

    # ------------------------------------------------------------------ frames
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Consume TTS audio and camera input, hold text behind audio, pass the rest.

        The frames only our own pipeline sends are the seam's (server_seam.py)."""
        await super().process_frame(frame, direction)  # start / stop (the reply out) / cancel
        if direction == FrameDirection.UPSTREAM:
            if isinstance(frame, OutputTransportReadyFrame):
                self._output_ready.set()
            await self.push_frame(frame, direction)
        elif isinstance(frame, EndFrame | CancelFrame):
            await self._held.flush(spoken_only=True)
            await self.push_frame(frame, direction)
        elif isinstance(frame, ServiceUpdateSettingsFrame):
            await self._on_settings_frame(frame, direction)
        elif await self._seam.take(self, frame, direction):
            pass  # one of our server's frames, handled
        elif not self.ready:
            # no face (it failed, or is still starting): the voice goes on without it
            await self.push_frame(frame, direction)
            self._follow_passthrough(frame)
        elif isinstance(frame, InterruptionFrame):
            await self._interrupt()
            await self.push_frame(frame, direction)
        elif isinstance(frame, TTSAudioRawFrame):
            self.session.push_avatar_audio(_mono(frame.audio, frame.num_channels),
                                           frame.sample_rate)
        elif isinstance(frame, InputAudioRawFrame):
            self.session.push_user_audio(_mono(frame.audio, frame.num_channels),
                                         frame.sample_rate)
            await self.push_frame(frame, direction)
        elif isinstance(frame, _USER_SPEAKING):
            self._user_speaking(isinstance(frame, _USER_STARTED))
            await self.push_frame(frame, direction)
        elif isinstance(frame, InputImageRawFrame):  # UserImageRawFrame too
            self._camera.offer(frame)
            await self.push_frame(frame, direction)  # a vision LLM may want it too
        elif isinstance(frame, SystemFrame):  # StartFrame too
            await self.push_frame(frame, direction)
        else:
            await self._reply_frame(frame)

    def _user_speaking(self, speaking: bool) -> None:
        """The VAD (or the turn) started: listening cues now, not after the transcript,
        and the camera watched again. It stopped: the user paused or their turn ended,
        whisper (and the early reply) start now, so the camera waits."""
        self.session.set_user_speaking(speaking)
        if speaking:
            self._reply.stop_thinking()
        else:
            self._reply.think_for(self._params.thinking_camera_pause_secs)
        self._seam.voice(speaking)

    async def _reply_frame(self, frame: Frame) -> None:
        """A frame of the reply's stream (TTS started and stopped, text): held behind
        the reply audio queued before it, so the context holds only what was heard."""
        if isinstance(frame, TTSStartedFrame):
            await self.start_ttfb_metrics()
            if self._clock is not None:
                self._clock.reply_started()
        elif isinstance(frame, TTSStoppedFrame):
            self.session.end_of_reply()
        await self._held.hold_or_push(frame, self.session.queued_total)

    async def _on_settings_frame(self, frame: ServiceUpdateSettingsFrame,
                                 direction: FrameDirection) -> None:
        """pipecat's runtime settings: ours applied (matched by `frame.service`,
        face_settings.py), a bad value refused, another service's passed on."""
        try:
            delta = settings_delta(frame, self, self.face_settings)
        except ValueError as error:  # pydantic's ValidationError too
            await self.push_error(f"avatar settings update refused: {error}")
            return
        if delta is None:
            await self.push_frame(frame, direction)
        else:
            await self._update_settings(delta)

    async def _update_settings(self, delta: ServiceSettings) -> dict[str, Any]:
        """pipecat's update path: apply the delta, then act on what changed (the portrait,
        size and camera rate change while the video goes on: face_start.py). Keys that
        are no field of the face are logged, as pipecat's helper does, and not kept."""
        self._warn_unhandled_updated_settings(set(delta.extra))
        changed = await super()._update_settings(replace(delta, extra={}))  # the frame's kept
        if changed:
            self.create_task(self._starter.apply_settings(set(changed)))
        return changed

    def _follow_passthrough(self, frame: Frame) -> None:
        """While the face starts, note the reply passing through; once it ended, a face
        that became ready meanwhile starts its clock (never mid-reply)."""
        if not self._life.starting:  # failed or stopping: nothing takes over
            return
        if isinstance(frame, TTSAudioRawFrame):
            if self._life.state is FaceState.STARTING:
                self._life.to(FaceState.PASSTHROUGH)
        elif isinstance(frame, TTSStoppedFrame | InterruptionFrame):
            if self._session is not None:
                self._start_clock()
            elif self._life.state is FaceState.PASSTHROUGH:
                self._life.to(FaceState.STARTING)

    async def _interrupt(self) -> None:
        """Drop the reply: queued audio, held frames, and the bot's speaking state (the
        frame being drawn renders silent: no reply audio follows the interruption)."""
        played = self.session.clear()
        if played > 0:  # a reply was cut (not a user turn starting while idle)
            self._reply.last_played_secs = played
        self.counters.interruptions += 1
        self._held.clear()
        if self._clock is not None:
            self._clock.audio_dropped()
        self._reply.in_reply = False
        await self.cancel_ttfb_metrics()

    # ------------------------------------------------------------------- clock
    def _start_clock(self) -> None:
        if self._life.running:
            return
        self._life.to(FaceState.RUNNING)
        self._server.register(self.governor, self._reply)
        hooks = ClockHooks(push=self.push_frame, audio_out=self._held.audio_went_out,
                           reply_image_out=self.stop_ttfb_metrics, stats_due=self._send_stats,
                           quality_changed=self._quality_changed,
                           quiet_block=self._seam.quiet_block)
        metrics = FaceMetrics(self.name, "avatar-forcing") if self.metrics_enabled else None
        self._clock = FaceClock(self.session, self._params, self._worker, self._reply,
                                self.counters, hooks, camera=self._camera,
                                governor=self.governor, media_clock=self.media_clock,
                                metrics=metrics)
        self._clock.task = self.create_task(self._run_clock(), name="avatar-clock")
        self._seam.start(self)

    async def _run_clock(self) -> None:
        """The block clock, until the pipeline ends or the face fails."""
        try:
            await self._output_started()
            await self.clock.run()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            await face_failed(self, "the avatar failed", error)

    async def _output_started(self) -> None:
        """A clock that follows the transport's audio device (face_clock.py) starts once
        the output transport downstream is ready. Frames pushed before wait in pipecat's
        queues (a processor holds what comes before its StartFrame, and the service
        sends StartFrame on once its face is built), then reach the device at once: the
        audio plays that much behind the images for as long as it goes on."""
        if self.clock.followed is None or _output_downstream(self) is None:
            return
        try:
            await asyncio.wait_for(self._output_ready.wait(), OUTPUT_READY_WAIT_SECS)
        except TimeoutError:
            logger.warning(f"avatar: the output transport was not ready after "
                           f"{OUTPUT_READY_WAIT_SECS:g} s; the face starts anyway")

    async def _shutdown(self) -> None:
        """Stop the clock and the worker (idempotent: stop, cancel and cleanup share it)."""
        self._life.stop()
        self._camera.stopped = True
        self._held.audio_out.set()
        await self._starter.stop()
        self._server.unregister()
        await self._seam.stop()
        if self._clock is not None and self._clock.task is not None:
            await self.cancel_task(self._clock.task)
            self._clock.task = None
        self._worker.shutdown()
        if self._life.state is not FaceState.STOPPING:
            return  # closed once: EndFrame/CancelFrame and cleanup both stop
        self._life.to(FaceState.STOPPED)
        if self._session is not None:
            await self._worker.close_when_idle(self._session.close)
        self._server.session_ended(self._reply)

    async def _in_worker(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` on this session's worker (face_threads.py)."""
        face = self._session.face if self._session is not None else None
        return await self._worker.run(fn, *args, face=face, thinking=self._reply.thinking())

    # ------------------------------------------------------------ camera, events
    async def answer_portrait_request(self, frame: PortraitRequestFrame) -> None:
        """Our protocol's portrait request (a name or an upload): face_start.py."""
        await self._starter.answer_portrait_request(frame)

    async def _camera_refused(self, error: AvatarError) -> None:
        await self.events.error(ErrorCode.BAD_CAMERA_FRAME, f"{error}; dropped")

    async def _camera_failed(self, error: Exception) -> None:
        self._seam.camera_lost()
        await self.push_error(f"avatar camera analysis failed: {error}; the face goes on "
                              "without the camera", exception=error)

    async def _quality_changed(self, change: QualityChange) -> None:
        levels = len(self.governor.ladder) if self.governor is not None else 1
        await self.events.quality_changed(change, levels)

    def stats(self) -> Stats:
        """The counters reported in `metrics` events (and read by tests)."""
        return session_stats(self.counters, self._session,
                             worker_cpu_secs=self._worker.cpu_secs,
                             started_at=self._life.started_at, governor=self.governor,
                             last_played_secs=self._reply.last_played_secs,
                             transport_stats=self._server.transport_stats,
                             media_clock=self.media_clock)

    async def _send_stats(self) -> None:
        if self.events.metrics:
            await self.events.stats(self.stats())


def _output_downstream(processor: FrameProcessor) -> BaseOutputTransport | None:
    """The first pipecat output transport downstream of `processor` (None: none near)."""
    current = processor.next
    for _ in range(OUTPUT_SEARCH_DEPTH):
        if current is None or isinstance(current, BaseOutputTransport):
            return current
        current = current.next
    return None


def _mono(pcm: bytes, channels: int) -> bytes:
    """Interleaved s16le PCM -> its first channel (TTS services are mono; some are not)."""
    return pcm if channels <= 1 else np.frombuffer(pcm, np.int16)[::channels].tobytes()


__all__ = ["AvatarForcingVideoService"]
