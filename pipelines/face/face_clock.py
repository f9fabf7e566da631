"""The face's block clock: one frame every 40 ms, its image paired with its audio.

This is the runner on LiveKit's seam: the face as a generator (audio in, frames out,
cleared on an interruption) is face_generator.py; the level it draws at is
face_quality.py; how an image travels to the transport is wire/face_images.py.
Here:

- Always on: the clock starts with the pipeline (never waits for the first TTS
  audio, pipecat#4832). While the avatar is quiet its audio is silence sent as
  speech-stream frames, which never make the bot "speak"; a reply's audio goes out
  as TTS audio until its TTSStoppedFrame, so `bot-started/stopped-speaking` follow
  the reply (not the idle video, not a pause between sentences).
- Pacing: frame k is pushed `lead_secs` before t0 + k * 40 ms (a bounded lead);
  when more than `rebase_secs` late the clock is rebased instead of racing to catch
  up; when late by more than a frame, rendering is skipped and the last image
  repeated (video repeats, audio never breaks).
- While the reply is thought up nothing is drawn for its first `thinking_hold_secs`
  (the last image is held, the generator steps on), then one frame in
  `thinking_frame_stride` (thinking_frames.py); the quality level may draw one in n
  as well. A reply whose first 40 ms asks no wider jaw than the last image shows
  opens on that image (`AvatarSession.open_block`): its voice waits for no drawing.
  Where a transport takes each frame's audio as it comes (no media clock, no followed
  device), every odd frame that would only repeat the held image is left out whole
  meanwhile, and the reply's first frame goes once the audio pushed before it has
  played, not at its slot (`THOUGHT_UP_GAPS`): its voice waits behind at most one idle
  frame's audio, half the time none.
- On our websocket (audio taken as it comes, images stamped with the audio clock
  where they are queued) a reply's frames after its first go out as soon as they are
  drawn, up to `REPLY_LEAD_SECS` ahead of the first one's grid in the reply's first
  seconds: the client holds that much of the voice, so a late block step or a slow
  drawing there is no break in it (the client draws each image at its pts).
- While the reply is thought up and the face holds its image, it draws that image
  again with the jaw opened, one level a frame (`DRAW_HAND_OVER`): the reply's first
  block is then planned and shown from them the moment its audio comes, with no
  generator step or drawing before its first 200 ms (avatar/live/hand_over.py). Not
  over our WebRTC tracks. While that block goes out, its step and then the next
  block's planning and step run on the worker (face_generator.py `STEP_AHEAD`): the
  next block's first frame waits for its own drawing alone. A frame gliding from that
  block's held pose that is short of time when its drawing would start is shown from
  those mouths instead (late_mouths.py `LATE_MOUTHS`).
- On a face worker that batches its sessions' generator steps, the clock keeps its
  block steps on the worker's shared grid (avatar/live/step_batcher.py): after a
  reply, a rebase or a start off the grid, the next idle block leaves out its first
  frames (as a reply leaves out idle frames to start at once) and waits under a frame.
- Each image goes out `image_lead_frames` ahead of its own audio; over our
  media-clock WebRTC tracks right before it (the track stamps it with its audio's
  time, pipelines/wire/webrtc/tracks.py), encoded where it was drawn.
- While nobody is there (a kiosk's attract mode, `ClockHooks.quiet_block`) and the
  transport stamps images with the audio clock where they are queued (our
  websocket), the clock ticks once a block instead of once a frame: the block's
  image, if the level draws one, then its 200 ms of silence as one
  `QuietBlockAudioFrame` (one message on the wire). A block carrying a reply, or
  planned while one waits, goes frame by frame as ever. A block none of whose frames
  the level draws is then planned without a generator step, one block in two
  (`AvatarSession.held_block`: its frames repeat the last image anyway).
- To a transport that shows an image when it comes (`image_lead_frames` > 0:
  pipecat's live video) the clock follows the transport's audio device
  (audio_sink.py): audio the frames caught up after a late one wait there, so idle
  silence is dropped until that wait is under half a frame, and each image is held
  until the transport's live video schedule draws it as its own audio plays
  (live_pacer.py).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipecat.frames.frames import Frame, SpeechOutputAudioRawFrame, TTSAudioRawFrame

from avatar.live import AvatarFrame, AvatarSession, PlannedFrame
from avatar.live.quality import QualityChange, QualityGovernor
from avatar.live.step_batcher import STEP_GRID_SECS, grid_offset
from pipelines.face.audio_sink import AudioSink, FollowedOutput
from pipelines.face.camera_input import CameraInput
from pipelines.face.face_generator import FaceGenerator
from pipelines.face.face_metrics import FaceMetrics
from pipelines.face.face_params import FacePacing
from pipelines.face.face_quality import FaceQuality
from pipelines.face.face_stats import FaceCounters
from pipelines.face.face_threads import FaceThreads
from pipelines.face.late_mouths import shows_a_mouth
from pipelines.face.reply_state import ReplyState
from pipelines.face.thinking_frames import ThinkingFrames
from pipelines.wire.face_images import face_image_frame
from pipelines.wire.frames import FRAME_INDEX_METADATA, QuietBlockAudioFrame
from pipelines.wire.reply_trace import ReplyAudioTrace

if TYPE_CHECKING:
    from pipelines.wire.webrtc.output import MediaClockOutput

FRAME_SECS = 0.04
#: a block step this close to the grid (s) is on it
GRID_TOLERANCE_SECS = 0.001
#: idle silence is dropped while the transport holds more audio than this (s)
DRAIN_SECS = 0.02
#: follow the transport's audio device where images show when they come (False: push
#: each image on the schedule, whatever audio waits in the transport; kept for
#: comparison, docs/PIPECAT.md "The first reply")
FOLLOW_AUDIO_SINK = True
#: a reply's first audio that comes while an idle frame waits for its slot takes that
#: slot, and idle frames are left out while the transport holds caught-up audio, on
#: every transport (False: as before, for comparison; docs/LIVE_AVATAR.md "A reply's
#: first frames")
REPLY_TAKES_THE_SLOT = True
DRAIN_EVERY_TRANSPORT = True
#: while a reply is thought up, on a transport that takes each frame's audio as it comes
#: (no media clock, no followed device, no image lead), one idle frame in two that only
#: repeats the last image is left out whole, and a reply's first frame goes as soon as
#: the audio pushed before it has played, not at its slot: its voice waits behind 0-40 ms
#: of idle audio half the time and none the other half (False: as before, for
#: comparison; docs/LIVE_AVATAR.md)
THOUGHT_UP_GAPS = True
#: where a transport takes each frame's audio as it comes and stamps its images with
#: the audio clock where they are queued (our websocket: no media clock, no followed
#: device, no image lead, images not held behind their audio), a reply's frames after
#: its first go out up to this far ahead of the first one's 40 ms grid, as fast as they
#: are drawn: the client then holds that much of the reply, and a late block step or a
#: slow drawing in its first seconds is not a break in the voice (the client draws each
#: image at its own pts). Full for the reply's first REPLY_LEAD_FULL_SECS, none from
#: REPLY_LEAD_UNTIL_SECS (in between it tapers), so a reply paused later (the visitor
#: speaks over it) stops as soon as before. 0: every frame on the grid, as before
#: (docs/KIOSK.md: where a reply's late chunk comes from)
REPLY_LEAD_SECS = 0.12
#: while a reply is thought up and the face holds its image, draw that image again with
#: the jaw opened (one a frame), so the reply's first block is planned and shown from
#: them the moment its audio comes (avatar/live/hand_over.py; False: its frames after the
#: first wait for its step and their drawing, as before; docs/KIOSK.md)
DRAW_HAND_OVER = True
REPLY_LEAD_FULL_SECS = 1.0
REPLY_LEAD_UNTIL_SECS = 2.0


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
    #: nobody is there and the face idles quietly: a transport that stamps images with
    #: the audio clock gets a block at a time (None: always frame by frame)
    quiet_block: Callable[[], bool] | None = None


class FaceClock:
    """One session's clock (see the module docstring); `run()` until cancelled."""

    def __init__(self, session: AvatarSession, params: FacePacing, worker: FaceThreads,
                 reply: ReplyState, counters: FaceCounters, hooks: ClockHooks, *,
                 camera: CameraInput, governor: QualityGovernor | None,
                 media_clock: MediaClockOutput | None, metrics: FaceMetrics | None) -> None:
        """`metrics`: pipecat metrics to report (None: `enable_metrics` is off)."""
        self.session = session
        self.params = params
        self.reply = reply
        self.counters = counters
        self.hooks = hooks
        self.media_clock = media_clock
        self.metrics = metrics
        #: which frames repeat the last image while the reply is thought up
        self.thinking_frames = ThinkingFrames(hold_secs=params.thinking_hold_secs,
                                              stride=params.thinking_frame_stride)
        #: when the face last showed a new image (monotonic s): the hold does not hold a
        #: picture that was already stale when it began (thinking_frames.py)
        self._new_image_at = time.monotonic()
        #: the face as a generator: frames planned and drawn on the session's worker
        self.generator = FaceGenerator(session, worker, reply, counters)
        self.generator.hold = self._may_hold
        #: the level it draws at (the governor's, or one held)
        self.quality = FaceQuality(self.generator, camera, governor, hooks.quality_changed)
        #: drawn frames whose audio waits its tick (what a failed face still owes)
        self.audio_due: deque[tuple[PlannedFrame, AvatarFrame]] = deque()
        #: the task running `run` (the service starts and cancels it)
        self.task: asyncio.Task[None] | None = None
        self._reply_image_sent = True
        #: when our protocol's next stats event is due (monotonic s)
        self._next_stats = 0.0
        lead_frames = params.image_lead_frames if media_clock is None else 0
        follow = FOLLOW_AUDIO_SINK and lead_frames > 0
        #: the transport's audio device and the images held for it (None: not followed)
        self.followed = FollowedOutput(hooks.push, FRAME_SECS) if follow else None
        #: the transport's audio as a real-time device plays it (every transport here
        #: paces its audio so): what a reply's first audio waits behind there
        self.device = self.followed.audio if self.followed is not None else AudioSink()
        #: the instants of the reply's way out to its first audio (first_frames.py)
        self.first_frames = counters.first_frames
        self._timing_reply = False
        #: set when a reply's first audio is queued (the session's `reply_listener`)
        self._reply_came = asyncio.Event()
        #: the frame index the current (or last) reply's first frame had
        self._reply_from = 0
        #: a debug trace of each reply's first frames out (None: off, reply_trace.py)
        self.trace = ReplyAudioTrace.from_env()
        self._trace_note = ""

    async def run(self) -> None:
        """Generate, render and push one frame every 40 ms from connection start.

        Frame k's image goes out `image_lead_frames` ahead of its audio: each tick
        pushes image k, then the audio of frame k - lead (its time is now)."""
        images = (asyncio.create_task(self.followed.images.run(), name="avatar-held-images")
                  if self.followed is not None else None)
        loop = asyncio.get_running_loop()

        def reply_came() -> None:  # in the pushing thread
            loop.call_soon_threadsafe(self._reply_came.set)

        self.session.reply_listener = reply_came
        try:
            await self._tick(images)
        finally:
            self.session.reply_listener = None
            self.generator.stop_ahead()
            if images is not None:
                images.cancel()

    async def _tick(self, images: asyncio.Task[None] | None) -> None:
        """`run`'s loop; `images`: the task pushing held images (its failure is ours)."""
        params, generator, audio_due = self.params, self.generator, self.audio_due
        # over our media-clock tracks each image goes right before its own audio (the
        # track shows it when that audio plays); elsewhere as the transport needs
        media_clock = self.media_clock is not None
        lead_frames = 0 if media_clock else params.image_lead_frames
        lead_secs = lead_frames * FRAME_SECS
        t0 = time.monotonic() + params.lead_secs + lead_secs
        self._next_stats = time.monotonic() + params.stats_interval_secs
        while True:
            if images is not None and images.done():
                images.result()  # raises what stopped it
                raise RuntimeError("the held images' task ended")
            planned, skipped = await generator.next_planned()
            while generator.steps:  # the steps done since the last frame (here, or ahead)
                began, ended = generator.steps.popleft()
                if self.trace is not None:
                    self.trace.stepped(began, ended)
            t0 -= skipped * FRAME_SECS  # idle frames skipped for a reply: keep the spacing
            if planned.speaking and not self.reply.in_reply and not self._timing_reply:
                self._time_reply(planned)
            if generator.block_opened and self.session.face.steps_batched:
                planned, t0 = self._keep_grid(planned, t0, lead_secs)
            if self._quiet(planned):
                t0 = await self._quiet_block(planned, t0)
                continue
            due = t0 + planned.index * FRAME_SECS  # when this frame's audio is pushed
            image_due = due - lead_secs
            late = time.monotonic() - image_due
            self._note_lateness(late)
            if late > params.rebase_secs:
                t0 += late
                due += late
                image_due += late
                self.counters.rebases += 1
            if self._drains(planned, max(image_due - params.lead_secs, time.monotonic()),
                            lead_frames):
                continue
            if self._left_out_thought_up(planned, lead_frames):
                continue
            if planned.speaking and not self.reply.in_reply:
                # a reply's first frame: it goes once the audio before it has played
                early = self._reply_goes_early(image_due - params.lead_secs, lead_frames)
                t0, due, image_due = t0 - early, due - early, image_due - early
                self._reply_from = planned.index
            # repeat the last image: by choice (the reply is thought up, or the level
            # draws one image in n), or because rendering is too late to be on time
            # (a reply's lead-in whose picture is the last image shows it again)
            chosen = (self._thinking_repeat(planned) or generator.lead_in_shown
                      or planned.index % self.quality.draw_stride != 0)
            repeat = chosen or late > FRAME_SECS
            if late > 0:
                self.counters.late_frames += 1
            # over our WebRTC tracks the image is also encoded where it is drawn (VP8, in
            # the face's worker process), so this process only packetizes it
            video = (self.media_clock.video_request()
                     if self.media_clock is not None and not repeat else None)
            drawing = time.monotonic()
            # a frame gliding from the reply's hand-over block, short of time: its mouth
            late_mouth = shows_a_mouth(speaking=planned.speaking, chosen=chosen,
                                       encoded=media_clock, lead_secs=self._reply_lead(planned),
                                       margin_secs=image_due - params.lead_secs - drawing)
            frame, work_secs, from_mouth = await generator.draw(planned, repeat, video, late_mouth)
            if self.trace is not None:
                shown = 'm' if from_mouth else 'r' if frame.repeated else 'd'
                self._trace_note = f"({shown}{1000 * (time.monotonic() - drawing):.0f})"
            if self._timing_reply and planned.speaking and not self.first_frames.drawn:
                self.first_frames.drawn = time.monotonic()
            # a mouth shown where the last image would have been repeated, too late to
            # draw, is a drop as that repeat was (the level's governor sees the same)
            dropped = not chosen and (frame.repeated
                                      or (from_mouth and late > FRAME_SECS))
            self.counters.frames_repeated += int(frame.repeated)
            self.counters.frames_repeated_late += int(dropped)
            if not frame.repeated:
                self._new_image_at = time.monotonic()
            if self.metrics is not None:
                self.metrics.image(drawn=not frame.repeated, dropped=dropped,
                                   work_secs=work_secs)
            wait = image_due - params.lead_secs - self._reply_lead(planned) - time.monotonic()
            if await self._slot_taken_by_reply(planned, wait):
                # the reply's first audio came while this idle frame waited for its
                # slot: the reply takes the slot (its frames keep the spacing)
                t0 -= FRAME_SECS
                self.counters.idle_frames_skipped += 1
                continue
            if not (media_clock and frame.repeated):  # a repeat is not sent twice
                image = face_image_frame(frame, media_clock, params.images_sync_with_audio)
                if self.followed is not None:
                    await self.followed.offer_image(image, lead_secs)
                    self.counters.images_dropped_for_sync = self.followed.images.dropped
                else:
                    await self.hooks.push(image)
            if self._timing_reply and planned.speaking and not self.first_frames.image_out:
                self.first_frames.image_out = time.monotonic()
            if planned.speaking and not self._reply_image_sent:
                self._reply_image_sent = True
                await self.hooks.reply_image_out()
            audio_due.append((planned, frame))
            while len(audio_due) > lead_frames:
                await self._push_audio(*audio_due.popleft())
            await self._observed(dropped)
            await self._draw_hand_over(frame)

    async def _observed(self, dropped: bool) -> None:
        """After a frame (or a quiet block) went out: the level's sample, the pipecat
        metrics and our stats when due."""
        await self.quality.observe(dropped, self.counters.frames_sent, self.reply.thinking())
        report = self.metrics.report(time.monotonic()) if self.metrics is not None else None
        if report is not None:
            await self.hooks.push(report)
        if time.monotonic() >= self._next_stats:
            self._next_stats += self.params.stats_interval_secs
            await self.hooks.stats_due()

    def _quiet(self, planned: PlannedFrame) -> bool:
        """`planned` opens an idle block that may go out whole: nobody is there, the
        transport stamps images where they are queued (no media clock, no followed
        device), no reply plays, waits or is thought up, and no audio is owed."""
        return (not self.audio_due and self.generator.idle_block(planned)
                and not self.reply.thinking() and self.session.reply_pending_secs <= 0
                and self._blocks_go_whole())

    def _may_hold(self, index: int) -> bool:
        """The block from frame `index` may be planned without a generator step: it
        would go out whole (nobody there, a transport that stamps images where they are
        queued, no reply thought up) and the level draws none of its frames."""
        stride = self.quality.draw_stride
        return (not self.reply.thinking()
                and not any((index + k) % stride == 0
                            for k in range(self.session.block_frames))
                and self._blocks_go_whole())

    def _blocks_go_whole(self) -> bool:
        """Nobody is there and the transport stamps images with the audio clock where
        they are queued (no media clock, no followed device, no image lead): an idle
        block may go out as one."""
        quiet = self.hooks.quiet_block
        return (quiet is not None and self.media_clock is None and self.followed is None
                and self.params.image_lead_frames == 0 and quiet())

    async def _quiet_block(self, planned: PlannedFrame, t0: float) -> float:
        """The block `planned` opens, out at once: its image (the first frame's, drawn
        where the level draws any frame of the block, else the last one repeated and not
        sent again) at the first frame's time, then the block's audio as one frame.
        Returns the clock's t0 (moved on a rebase)."""
        params, generator, counters = self.params, self.generator, self.counters
        frames = [planned, *generator.pending]
        generator.pending.clear()
        image_due = t0 + planned.index * FRAME_SECS
        late = time.monotonic() - image_due
        self._note_lateness(late)
        if late > params.rebase_secs:
            t0 += late
            image_due += late
            counters.rebases += 1
        stride = self.quality.draw_stride
        chosen = not any(f.index % stride == 0 for f in frames)
        if late > 0:
            counters.late_frames += 1
        frame, work_secs, _ = await generator.draw(planned, chosen or late > FRAME_SECS)
        dropped = frame.repeated and not chosen
        counters.frames_repeated += int(frame.repeated) + len(frames) - 1
        counters.frames_repeated_late += int(dropped)
        if not frame.repeated:
            self._new_image_at = time.monotonic()
        if self.metrics is not None:
            self.metrics.image(drawn=not frame.repeated, dropped=dropped, work_secs=work_secs)
            for _ in frames[1:]:
                self.metrics.image(drawn=False, dropped=False, work_secs=0.0)
        wait = image_due - params.lead_secs - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if not frame.repeated:
            await self.hooks.push(face_image_frame(frame, False, params.images_sync_with_audio))
        audio = frame.audio + b"".join(f.audio for f in frames[1:])
        quiet = QuietBlockAudioFrame(audio=audio, sample_rate=self.session.output_rate,
                                     num_channels=1)
        quiet.metadata[FRAME_INDEX_METADATA] = frame.index
        await self.hooks.push(quiet)
        self.device.pushed(len(audio) / 2 / self.session.output_rate, time.monotonic())
        counters.frames_sent += len(frames)
        counters.quiet_blocks += 1
        self.reply.emitted_position = max(self.reply.emitted_position,
                                          *(f.reply_position for f in frames))
        await self.hooks.audio_out()
        await self._observed(dropped)
        return t0

    def _keep_grid(self, planned: PlannedFrame, t0: float,
                   lead_secs: float) -> tuple[PlannedFrame, float]:
        """Bring the block `planned` opens back onto the step grid when it is off it:
        its step falls `offset` past a grid point (a reply's skip, a rebase, the start),
        so the block's first ceil(offset / 40 ms) frames are left out where it is idle
        and its frames start under a frame later, and the next block steps on the grid.
        Returns the frame to draw and the clock's new t0."""
        step_at = t0 + planned.index * FRAME_SECS - lead_secs - self.params.lead_secs
        offset = grid_offset(step_at)
        if (offset < GRID_TOLERANCE_SECS or offset > STEP_GRID_SECS - GRID_TOLERANCE_SECS
                or not self.generator.idle_block(planned)):
            return planned, t0
        if offset > STEP_GRID_SECS - FRAME_SECS:  # the grid is under a frame away: wait
            self.counters.grid_realigned += 1
            return planned, t0 + STEP_GRID_SECS - offset
        drop = math.ceil(offset / FRAME_SECS - 1e-9)
        if drop > len(self.generator.pending):
            return planned, t0
        self.counters.grid_realigned += 1
        # each frame left out keeps the spacing (t0 - 40 ms), then the rest of `offset`
        # is waited: t0 - drop * 40 ms + (drop * 40 ms - offset)
        return self.generator.drop_idle(drop), t0 - offset

    def audio_dropped(self) -> None:
        """An interruption: the transport drops the audio it holds, and the images held
        for it go too."""
        if self.followed is not None:
            self.followed.cleared()
        else:
            self.device.cleared(time.monotonic())
        self._timing_reply = False

    def reply_started(self) -> None:
        """A reply began (TTSStartedFrame): its first image out ends pipecat's TTFB."""
        self._reply_image_sent = False

    def owes_reply_audio(self) -> bool:
        """Reply audio is planned or drawn and not pushed yet."""
        return self.owed_secs() > 0

    def owed_secs(self) -> float:
        """Seconds of frames taken from the session and not pushed yet, while any of
        them carries reply audio (0 when they are all idle)."""
        frames = [*self.generator.pending, *(planned for planned, _ in self.audio_due)]
        # a reply's block opened (its lead-in out, or its step under way): taken, not planned
        unplanned = self.generator.unplanned_frames()
        if unplanned or any(p.speaking for p in frames):
            return (len(frames) + unplanned) * FRAME_SECS
        return 0.0

    def unplayed_audio(self) -> bytes:
        """The reply audio the clock took from the session but never pushed: drawn
        frames waiting their tick, then planned ones (what a failed face hands to the
        voice, so no word is lost)."""
        generation = self.session.generation
        chunks = [planned.audio for planned, _ in self.audio_due
                  if planned.speaking and planned.generation == generation]
        self.audio_due.clear()
        return b"".join(chunks + self.generator.take_unplayed())

    async def _push_audio(self, planned: PlannedFrame, frame: AvatarFrame) -> None:
        """A frame's 40 ms of audio, then the text and control frames held behind it."""
        session = self.session
        audio, speaking = frame.audio, frame.speaking
        if speaking and planned.generation != session.generation:
            # drawn before an interruption that came while it waited to go out: its
            # reply audio must not follow the interruption (pipecat would see the bot
            # start speaking again, and never stop)
            audio, speaking = bytes(len(audio)), False
            self.counters.stale_frames_silenced += 1
        # Within a reply the audio goes out as TTS audio, so the transport's speaking
        # state ends with the reply's TTSStoppedFrame, not at a pause between
        # sentences; outside a reply as speech-stream audio, whose silence never makes
        # the bot "speak" (idle video is not speech).
        if speaking and self.trace is not None:
            self.trace.pushed(not self.reply.in_reply, FRAME_SECS, self._trace_note)
        self.reply.in_reply = self.reply.in_reply or speaking
        if speaking:
            self.reply.stop_thinking()
        audio_type = TTSAudioRawFrame if self.reply.in_reply else SpeechOutputAudioRawFrame
        now = time.monotonic()
        if speaking and self._timing_reply:
            self._timed_reply(now)
        # idle silence the device would play late is left out: its wait drains
        device = self.followed.audio if self.followed is not None else None
        drain = (device is not None and not self.reply.in_reply
                 and device.held_secs(now) > DRAIN_SECS)
        if not drain:
            out = audio_type(audio=audio, sample_rate=session.output_rate, num_channels=1)
            out.metadata[FRAME_INDEX_METADATA] = frame.index
            await self.hooks.push(out)
            self.device.pushed(len(audio) / 2 / session.output_rate, now)
        self.counters.frames_sent += 1
        self.reply.emitted_position = max(self.reply.emitted_position, frame.reply_position)
        await self.hooks.audio_out()

    def _drains(self, planned: PlannedFrame, push_at: float, lead_frames: int) -> bool:
        """Leave out the idle frame `planned` whole (neither drawn nor sent) when the
        transport would still hold more than DRAIN_SECS of audio at its slot: audio the
        clock caught up after a late frame or a stalled loop waits there, and the next
        reply's voice would wait behind it. For a transport that stamps an image with
        the audio clock where it is queued (our websocket; a followed live video output
        drops idle audio instead, `_push_audio`), so no two images share a time."""
        if (not DRAIN_EVERY_TRANSPORT or self.followed is not None
                or self.media_clock is not None or lead_frames
                or planned.speaking or self.reply.in_reply
                or self.device.end - push_at <= DRAIN_SECS):
            return False
        self.counters.idle_frames_drained += 1
        return True

    def _left_out_thought_up(self, planned: PlannedFrame, lead_frames: int) -> bool:
        """Leave out the idle frame `planned` whole (neither drawn nor sent) when the reply
        is thought up, its index is odd and it would only repeat the last image
        (`ThinkingFrames`), on a transport that takes each frame's audio as it comes:
        its 40 ms are a gap in the audio, where a reply's first audio goes at once
        (`_reply_goes_early`), and the picture is the one the face shows anyway."""
        if (not THOUGHT_UP_GAPS or not self._audio_as_it_comes(lead_frames)
                or planned.index % 2 == 0
                or planned.speaking or self.reply.in_reply
                or self.generator.reply_waits_behind()
                or not self.thinking_frames.repeats(planned.index, speaking=False,
                                                    thought_for=self.reply.thought_for(),
                                                    still_for=self._still_for())):
            return False
        self.counters.idle_frames_left_out_thought_up += 1
        return True

    def _reply_goes_early(self, slot: float, lead_frames: int) -> float:
        """How long before `slot` (when its audio would be pushed) a reply's first frame
        may go: at once where the audio pushed before it has played (an idle frame left
        out while the reply was thought up), else when it has; never later than `slot`
        (0 where the clock follows the transport's own schedule)."""
        if not THOUGHT_UP_GAPS or not self._audio_as_it_comes(lead_frames):
            return 0.0
        return max(0.0, slot - max(time.monotonic(), self.device.end))

    def _reply_lead(self, planned: PlannedFrame) -> float:
        """How far ahead of its slot the reply frame `planned` may go (`REPLY_LEAD_SECS`:
        where the transport takes audio as it comes and stamps images where they are
        queued, within the reply's first seconds, and not while the reply is paused)."""
        if (not REPLY_LEAD_SECS or not self.reply.in_reply or self.session.reply_paused
                or not self._audio_as_it_comes(self.params.image_lead_frames)
                or self.params.images_sync_with_audio):
            return 0.0
        into = (planned.index - self._reply_from) * FRAME_SECS
        share = (REPLY_LEAD_UNTIL_SECS - into) / (REPLY_LEAD_UNTIL_SECS - REPLY_LEAD_FULL_SECS)
        return REPLY_LEAD_SECS * min(1.0, max(0.0, share))

    async def _draw_hand_over(self, frame: AvatarFrame) -> None:
        """While the reply is thought up and the face holds its image (`frame` repeated
        it), draw one more mouth of that image for the reply's hand-over block
        (avatar/live/hand_over.py): its first 200 ms then wait for no step and no
        drawing. Not over our WebRTC tracks (each image is in their VP8 stream)."""
        if (not DRAW_HAND_OVER or self.media_clock is not None or not frame.repeated
                or frame.speaking or self.reply.in_reply
                or not self.thinking_frames.holding(self.reply.thought_for())
                or self.generator.reply_waits_behind() or not self.session.hand_over_due()):
            return
        await self.generator.job(self.session.draw_hand_over)

    def _audio_as_it_comes(self, lead_frames: int) -> bool:
        """The transport takes each frame's audio as it comes (no followed device, no
        media clock, no image lead): where `THOUGHT_UP_GAPS` and the reply lead may act."""
        return self.followed is None and self.media_clock is None and not lead_frames

    async def _slot_taken_by_reply(self, planned: PlannedFrame, wait: float) -> bool:
        """Wait `wait` s for the idle frame `planned`'s slot; True (at once) when a reply's
        first audio is queued meanwhile, or already waits: its first frame is then
        planned and drawn for this slot instead of the next one, so the voice is not
        held a frame longer than its drawing takes. Frames of a reply never give way,
        nor frames of our WebRTC tracks (each drawn one is in the VP8 stream already)."""
        def reply_waits() -> bool:
            return (REPLY_TAKES_THE_SLOT and not planned.speaking and self.media_clock is None
                    and self.generator.reply_waits_behind())

        if reply_waits():
            return True
        if wait <= 0:
            return False
        self._reply_came.clear()
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(self._reply_came.wait(), left)
            except TimeoutError:
                return False
            self._reply_came.clear()
            if reply_waits():
                return True
        return False

    def _time_reply(self, planned: PlannedFrame) -> None:
        """`planned` is a reply's first frame: time its way out from the reply's first
        audio (the block holding it was stepped last)."""
        first, generator = self.first_frames, self.generator
        first.began(self.session.reply_arrived_at or time.monotonic(), planned.index)
        first.lead_in = generator.led_in
        first.lead_in_shown = generator.lead_in_shown
        if generator.block_opened or generator.step_done >= first.audio_in:
            first.block_from, first.block_done = generator.step_from, generator.step_done
        self._timing_reply = True

    def _timed_reply(self, now: float) -> None:
        """The reply's first audio is pushed at `now`, behind what the device holds."""
        self.first_frames.audio_out = now
        self.first_frames.held_secs = self.device.held_secs(now)
        self.first_frames.replies += 1
        self._timing_reply = False

    def _note_lateness(self, late: float) -> None:
        """The session's worker learns how late this frame is (see `FaceThreads.note_lateness`)."""
        self.generator.worker.note_lateness(late, self.generator.yielding())

    def _still_for(self) -> float:
        """Seconds since the face last showed a new image."""
        return time.monotonic() - self._new_image_at

    def _thinking_repeat(self, planned: PlannedFrame) -> bool:
        """True for a frame that may repeat the last image because the reply is being
        thought up (camera paused, nothing spoken): the CPU goes to ASR, the LLM and
        TTS, which decide when the reply is heard."""
        thought_for = self.reply.thought_for()
        repeats = self.thinking_frames.repeats(planned.index, speaking=planned.speaking,
                                               thought_for=thought_for,
                                               still_for=self._still_for())
        if repeats and self.thinking_frames.holding(thought_for):
            self.counters.frames_held_thinking += 1
        return repeats


__all__ = ["DRAIN_SECS", "DRAW_HAND_OVER", "FOLLOW_AUDIO_SINK", "ClockHooks", "FRAME_SECS",
           "GRID_TOLERANCE_SECS", "REPLY_LEAD_SECS", "THOUGHT_UP_GAPS", "FaceClock"]
