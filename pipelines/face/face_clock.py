"""The face's block clock: generate, render and push one frame every 40 ms.

- Always on: the clock starts with the pipeline (never waits for the first TTS
  audio, pipecat#4832). While the avatar is quiet its audio is silence sent as
  speech-stream frames, which never make the bot "speak"; a reply's audio goes out
  as TTS audio until its TTSStoppedFrame, so `bot-started/stopped-speaking` follow
  the reply (not the idle video, not a pause between sentences).
- Pacing: frame k is pushed `lead_secs` before t0 + k * 40 ms (a bounded lead);
  when more than `rebase_secs` late the clock is rebased instead of racing to catch
  up; when late by more than a frame, rendering is skipped and the last image
  repeated (video repeats, audio never breaks).
- A reply that arrives while idle frames of the current block still wait is not
  kept waiting for the next block boundary: those idle frames are skipped.
- While the reply is thought up, one frame in `thinking_frame_stride` is drawn and
  the others repeat it; the quality level may draw one in n as well.
- Adapting (with a `QualityGovernor`, avatar/live/quality.py): every frame reports
  the worker's wall time and whether it came late; once a block the governor may
  move the session's level (camera rate, render size, images drawn; never audio).
- Each image goes out `image_lead_frames` ahead of its own audio; over our
  media-clock WebRTC tracks right before it (the track stamps it with its audio's
  time, pipelines/wire/webrtc_tracks.py), encoded where it was drawn.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loguru import logger
from pipecat.frames.frames import Frame, SpeechOutputAudioRawFrame, TTSAudioRawFrame

from avatar.live import AvatarFrame, AvatarSession, PlannedFrame
from avatar.live.quality import QualityChange, QualityGovernor, QualityLevel
from pipelines.face.camera_input import CameraInput
from pipelines.face.face_metrics import FaceMetrics
from pipelines.face.face_params import AvatarNodeParams
from pipelines.face.face_worker import FaceWorker
from pipelines.wire.frames import AvatarImageFrame, MediaTimedImageFrame

if TYPE_CHECKING:
    from pipelines.wire.webrtc_output import MediaClockOutput

FRAME_SECS = 0.04
#: frames this late (s) stop the session's jobs from yielding the CPU while the
#: reply is thought up: the face must not freeze for the LLM's sake
BEHIND_SECS = 0.08


@dataclass
class ReplyState:
    """Where the reply stands: written by the service (frames in) and by its clock
    (frames out), read by both."""

    #: the user paused or their turn ended and the reply has not started: whisper, the
    #: LLM and piper are on the critical path (monotonic deadline; 0 while the user
    #: speaks or the reply plays)
    thinking_until: float = 0.0
    #: between a reply's first audio out and its TTSStoppedFrame leaving the service
    in_reply: bool = False
    #: reply samples out so far (session-cumulative): held frames up to here may go
    emitted_position: int = 0
    #: seconds of the last interrupted reply that were output (`AvatarSession.clear`)
    last_played_secs: float = 0.0

    def thinking(self) -> bool:
        """The reply is being thought up now."""
        return time.monotonic() < self.thinking_until


@dataclass
class ClockHooks:
    """What the clock calls back into its service for."""

    push: Callable[[Frame], Awaitable[None]]
    #: a frame's audio is out: release the frames held behind it
    audio_out: Callable[[], Awaitable[None]]
    #: the first image of a reply is out (pipecat's TTFB ends)
    reply_image_out: Callable[[], Awaitable[None]]
    #: every `stats_interval_secs`: our protocol's metrics event
    stats_due: Callable[[], Awaitable[None]]
    #: the governor moved the level
    quality_changed: Callable[[QualityChange], Awaitable[None]]


class FaceClock:
    """One session's clock (see the module docstring); `run()` until cancelled."""

    def __init__(self, session: AvatarSession, params: AvatarNodeParams, worker: FaceWorker,
                 reply: ReplyState, counters: dict[str, int], hooks: ClockHooks, *,
                 camera: CameraInput, governor: QualityGovernor | None,
                 media_clock: MediaClockOutput | None, metrics: FaceMetrics | None) -> None:
        """`metrics`: pipecat metrics to report (None: `enable_metrics` is off)."""
        self.session = session
        self.params = params
        self.worker = worker
        self.reply = reply
        self.counters = counters
        self.hooks = hooks
        self.camera = camera
        self.governor = governor
        self.media_clock = media_clock
        self.metrics = metrics
        #: draw one frame in this many (the governor's level); the others repeat it
        self.draw_stride = 1 if governor is None else governor.quality.draw_stride
        #: a level held whatever the load (a kiosk's attract mode), and what it replaced
        self.held: QualityLevel | None = None
        self._before_hold: tuple[int, float, int] | None = None  # size, camera fps, stride
        #: planned frames not drawn yet, and drawn frames whose audio waits its tick:
        #: what a failed face still owes the voice (`unplayed_audio`)
        self.pending: deque[PlannedFrame] = deque()
        self.audio_due: deque[tuple[PlannedFrame, AvatarFrame]] = deque()
        self._busy_seen = 0.0
        self._reply_image_sent = True

    async def _job(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.worker.run(fn, *args, face=self.session.face,
                                     thinking=self.reply.thinking())

    async def run(self) -> None:
        """Generate, render and push one frame every 40 ms from connection start.

        Frame k's image goes out `image_lead_frames` ahead of its audio: each tick
        pushes image k, then the audio of frame k - lead (its time is now)."""
        params, session = self.params, self.session
        pending, audio_due = self.pending, self.audio_due
        # over our media-clock tracks each image goes right before its own audio (the
        # track shows it when that audio plays); elsewhere as the transport needs
        media_clock = self.media_clock is not None
        lead_frames = 0 if media_clock else params.image_lead_frames
        lead_secs = lead_frames * FRAME_SECS
        t0 = time.monotonic() + params.lead_secs + lead_secs
        next_stats = time.monotonic() + params.stats_interval_secs
        block_share = 0.0  # the generator's worker time per frame of the current block
        while True:
            if pending and self._reply_waits_behind():
                # A reply arrived while idle frames of this block wait their turn: skip
                # them (silence, idle motion) so the reply starts at the next frame,
                # not at the next block boundary; the clock moves up to keep spacing.
                t0 -= len(pending) * FRAME_SECS
                self.counters["idle_frames_skipped"] += len(pending)
                pending.clear()
            if not pending:
                busy = self.worker.busy_secs
                pending.extend(await self._job(session.next_block))
                block_share = (self.worker.busy_secs - busy) / max(1, len(pending))
            planned = pending.popleft()
            due = t0 + planned.index * FRAME_SECS  # when this frame's audio is pushed
            image_due = due - lead_secs
            late = time.monotonic() - image_due
            self.worker.behind = late > BEHIND_SECS
            if late > params.rebase_secs:
                t0 += late
                due += late
                image_due += late
                self.counters["rebases"] += 1
            # repeat the last image: by choice (the reply is thought up, or the level
            # draws one image in n), or because rendering is too late to be on time
            chosen = self._thinking_repeat(planned) or planned.index % self.draw_stride != 0
            repeat = chosen or late > FRAME_SECS
            if late > 0:
                self.counters["late_frames"] += 1
            # over our WebRTC tracks the image is also encoded where it is drawn (VP8, in
            # the face's worker process), so this process only packetizes it
            video = (self.media_clock.video_request()
                     if self.media_clock is not None and not repeat else None)
            busy = self.worker.busy_secs
            frame = await self._job(session.render, planned, repeat, video)
            dropped = frame.repeated and not chosen
            self.counters["frames_repeated"] += int(frame.repeated)
            self.counters["frames_repeated_late"] += int(dropped)
            if self.metrics is not None:
                self.metrics.image(drawn=not frame.repeated, dropped=dropped,
                                   work_secs=self.worker.busy_secs - busy + block_share)
            wait = image_due - params.lead_secs - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not (media_clock and frame.repeated):  # a repeat is not sent twice
                await self.hooks.push(self._image_frame(frame, media_clock))
            if planned.speaking and not self._reply_image_sent:
                self._reply_image_sent = True
                await self.hooks.reply_image_out()
            audio_due.append((planned, frame))
            while len(audio_due) > lead_frames:
                await self._push_audio(*audio_due.popleft())
            if self.governor is not None:
                await self._adapt(dropped)
            report = self.metrics.report(time.monotonic()) if self.metrics is not None else None
            if report is not None:
                await self.hooks.push(report)
            if time.monotonic() >= next_stats:
                next_stats += params.stats_interval_secs
                await self.hooks.stats_due()

    def reply_started(self) -> None:
        """A reply began (TTSStartedFrame): its first image out ends pipecat's TTFB."""
        self._reply_image_sent = False

    def owes_reply_audio(self) -> bool:
        """Reply audio is planned or drawn and not pushed yet."""
        return self.owed_secs() > 0

    def owed_secs(self) -> float:
        """Seconds of frames taken from the session and not pushed yet, while any of
        them carries reply audio (0 when they are all idle)."""
        frames = [*self.pending, *(planned for planned, _ in self.audio_due)]
        return len(frames) * FRAME_SECS if any(p.speaking for p in frames) else 0.0

    def unplayed_audio(self) -> bytes:
        """The reply audio the clock took from the session but never pushed: drawn
        frames waiting their tick, then planned ones (what a failed face hands to the
        voice, so no word is lost)."""
        generation = self.session.generation
        chunks = [planned.audio for planned, _ in self.audio_due
                  if planned.speaking and planned.generation == generation]
        chunks += [planned.audio for planned in self.pending
                   if planned.speaking and planned.generation == generation]
        self.audio_due.clear()
        self.pending.clear()
        return b"".join(chunks)

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
        image.sync_with_audio = self.params.images_sync_with_audio
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
        self.reply.in_reply = self.reply.in_reply or speaking
        if speaking:
            self.reply.thinking_until = 0.0
        audio_type = TTSAudioRawFrame if self.reply.in_reply else SpeechOutputAudioRawFrame
        await self.hooks.push(audio_type(audio=audio, sample_rate=session.output_rate,
                                         num_channels=1))
        self.counters["frames_sent"] += 1
        self.reply.emitted_position = max(self.reply.emitted_position, frame.reply_position)
        await self.hooks.audio_out()

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
        busy, self._busy_seen = self.worker.busy_secs - self._busy_seen, self.worker.busy_secs
        if self.held is not None:
            return  # a held level is not the governor's: its load says nothing of them
        self.governor.observe(now, busy_secs=busy, late=int(late),
                              thinking=self.reply.thinking())
        if self.counters["frames_sent"] % 5 == 0:
            change = self.governor.decide(now)
            if change is not None:
                await self.apply(change)

    async def apply(self, change: QualityChange) -> None:
        """Take a new level: camera rate at once, size from the next drawn frame
        (renderer built in the worker)."""
        quality = change.quality
        self.camera.set_rate(quality.camera_fps)
        self.draw_stride = quality.draw_stride
        if quality.size != self.session.options.size:
            await self._job(self.session.set_size, quality.size)
        self.counters["quality_changes"] += 1
        logger.info(f"avatar quality {change.direction} to level {change.level}: {change.reason}")
        await self.hooks.quality_changed(change)

    async def hold(self, level: QualityLevel | None) -> None:
        """Hold `level` (camera rate, images drawn, size) whatever the load, or with
        None give the session back its own level: the governor's, measured afresh, or
        without a governor what it had before the hold. The size changes from the
        next drawn frame (renderers are kept per size, so coming back costs nothing)."""
        if level is not None:
            if self.held is None:
                self._before_hold = (self.session.options.size, self.camera.rate,
                                     self.draw_stride)
                if self.governor is not None:  # its samples end here: none stay to go stale
                    self.governor.resume(time.monotonic())
            self.held = level
            size, camera_fps, stride = level.size, level.camera_fps, level.draw_stride
        else:
            if self.held is None:
                return
            self.held = None
            if self.governor is not None:
                self.governor.resume(time.monotonic())
                quality = self.governor.quality
                size, camera_fps, stride = quality.size, quality.camera_fps, quality.draw_stride
            else:
                assert self._before_hold is not None
                size, camera_fps, stride = self._before_hold
        self.camera.set_rate(camera_fps)
        self.draw_stride = stride
        if size != self.session.options.size:
            await self._job(self.session.set_size, size)
        ladder = self.governor.ladder if self.governor is not None else []
        index = self.governor.level if self.governor is not None else 0
        held = level is not None
        await self.hooks.quality_changed(QualityChange(
            level=max(index, len(ladder) - 1) if held else index,
            quality=QualityLevel(size, camera_fps, stride), previous=index,
            direction="down" if held else "up",
            reason=("nobody there: the face idles cheaply" if held
                    else "someone is there: the session's own level"), busy=0.0))

    def _thinking_repeat(self, planned: PlannedFrame) -> bool:
        """True for a frame that may repeat the last image because the reply is being
        thought up (camera paused, nothing spoken): the CPU goes to ASR, the LLM and
        TTS, which decide when the reply is heard."""
        stride = self.params.thinking_frame_stride
        return (stride > 1 and not planned.speaking and planned.index % stride != 0
                and self.reply.thinking())

    def _reply_waits_behind(self) -> bool:
        """Reply audio is queued, no reply is playing, and the frames left are idle."""
        return (not self.reply.in_reply and not self.session.reply_paused
                and self.session.reply_pending_secs > 0
                and not any(frame.speaking for frame in self.pending))


__all__ = ["BEHIND_SECS", "ClockHooks", "FRAME_SECS", "FaceClock", "ReplyState"]
