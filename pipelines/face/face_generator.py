"""The face as a generator: reply audio in, drawn frames out, cleared on an interruption.

This is LiveKit's seam (its `VideoGenerator` beside the `AvatarRunner` that paces):
the session takes the reply's audio (`push_avatar_audio`) and drops it on an
interruption (`clear`); here its blocks are planned and its frames drawn, each job on
the session's worker. There is no clock in this module: `FaceClock` (face_clock.py)
decides when each frame is drawn, whether it repeats the last image, and pairs each
image with its audio.

A reply's hand-over block (its frames drawn while the reply was thought up,
avatar/live/hand_over.py) is shown without the worker, so its generator step and the
next block's run there meanwhile (`STEP_AHEAD`), one job after the other, as a task
beside the clock's frames.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from avatar.live import AvatarFrame, AvatarSession, OpenedBlock, PlannedFrame
from pipelines.face.face_stats import FaceCounters
from pipelines.face.face_threads import FaceThreads
from pipelines.face.reply_state import ReplyState

#: a reply's first frame is planned at once (the last motion held, the jaw opened by its
#: own audio) and goes out before its block's generator step, so the voice does not
#: wait for the step (False: as before, for comparison; docs/LIVE_AVATAR.md)
REPLY_LEAD_IN = True
#: while a reply's hand-over block goes out (its frames drawn ahead, avatar/live/
#: hand_over.py), that block's generator step and then the next block's planning and
#: step run on the worker, so the next block's first frame waits for its drawing alone
#: (False: both at that frame, as before, for comparison; docs/KIOSK.md)
STEP_AHEAD = True


class Shown(NamedTuple):
    """A frame `FaceGenerator.draw` gives the clock: the image, the worker seconds it
    cost (its share of the block's generation included), and whether it was shown from
    a reply's hand-over mouths because its drawing would have come late."""

    frame: AvatarFrame
    work_secs: float
    from_mouth: bool = False


class FaceGenerator:
    """Plans a session's frames a block at a time and draws them on its worker."""

    def __init__(self, session: AvatarSession, worker: FaceThreads, reply: ReplyState,
                 counters: FaceCounters) -> None:
        self.session = session
        self.worker = worker
        self.reply = reply
        self.counters = counters
        #: planned frames not drawn yet (what a failed face still owes the voice)
        self.pending: deque[PlannedFrame] = deque()
        #: the generator's worker seconds per frame of the current block
        self.block_share = 0.0
        #: the frame `next_planned` last returned opened a freshly planned block
        self.block_opened = False
        #: whether the block from a frame index may be planned without a generator step
        #: (the clock's: nobody is there and none of its frames is drawn); never two in
        #: a row, so the empty hall's face steps one block in two. None: every block steps
        self.hold: Callable[[int], bool] | None = None
        self._held_last = False
        self._next_index = 0  # the first frame of the next block
        #: a block opened with a reply's lead-in frame, not stepped yet: the lead-in went
        #: out (or goes out) before the step, which the next frame waits for
        self.opened: OpenedBlock | None = None
        #: the frame `next_planned` last returned is a reply's lead-in whose picture is
        #: the last image drawn (`OpenedBlock.lead_in_shown`): it is shown again, not drawn
        self.lead_in_shown = False
        #: the block being stepped (or opened with its lead-in out) and its frames out
        self._unplanned: tuple[OpenedBlock, int] | None = None
        #: when the last generator step was asked and came back (monotonic s)
        self.step_from = self.step_done = 0.0
        #: (asked, came back) of the steps since the clock last took them (its trace)
        self.steps: deque[tuple[float, float]] = deque(maxlen=8)
        #: the frame `next_planned` last returned is a reply's lead-in
        self.led_in = False
        #: a hand-over block out (or going out) whose step is still to run (STEP_AHEAD)
        self._handed_over: OpenedBlock | None = None
        #: the first frame of the block after a hand-over block, while it may be planned
        #: ahead (its frames not taken yet, the hand-over's still to go)
        self._ahead_from: int | None = None
        #: the job run ahead: the hand-over block's step, then the next block's
        self._ahead: asyncio.Task[None] | None = None

    async def job(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` on the session's worker (niced while it yields, see `yielding`)."""
        return await self.worker.run(fn, *args, face=self.session.face,
                                     thinking=self.yielding())

    def yielding(self) -> bool:
        """The face's jobs give way to the voice models: the reply is thought up and
        none of its audio has come. Once it has, the reply's first block and images
        are what bot-started-speaking waits for: they run at full priority (niced, they
        got a tenth of a core beside piper and the LLM writing the rest of the reply)."""
        return self.reply.yielding(self.session.reply_playing)

    async def next_planned(self) -> tuple[PlannedFrame, int]:
        """The next frame to draw, and how many idle frames were skipped for it: when a
        reply arrived while idle frames of the block still wait, they are dropped, so
        the reply starts at the next frame rather than at the next block boundary."""
        skipped = 0
        self.lead_in_shown = self.led_in = False
        if self.pending and self.reply_waits_behind():
            skipped = len(self.pending)
            self.counters.idle_frames_skipped += skipped
            self.pending.clear()
        await self._ahead_settled()
        if self.opened is not None and self.opened.hand_over is None:
            # the lead-in frame went out: the block's others
            opened, self.opened = self.opened, None
            self.block_opened = False
            await self._step(opened, sent=1)
            self.pending.popleft()  # the lead-in, out already
            return self.pending.popleft(), skipped
        if self.opened is not None and not self.pending:
            # a hand-over block went out whole: its step only moves the generator on
            opened, self.opened = self.opened, None
            await self._step(opened, sent=self.session.block_frames, keep=False)
        if not self.pending:
            self._ahead_from = None  # the next block is planned here, not ahead
        self.block_opened = not self.pending
        if not self.pending:
            held = (self.hold is not None and not self._held_last
                    and self.hold(self._next_index))
            frames = self.session.held_block() if held else None
            self._held_last = frames is not None
            if frames is not None:
                self.pending.extend(frames)
                self.block_share = 0.0
            else:
                opened = self.session.open_block(lead_in=REPLY_LEAD_IN)
                self._next_index = opened.first_index + self.session.block_frames
                if opened.lead_in is not None:
                    # the reply's first frame goes out now; its block steps after it (a
                    # hand-over block's other frames too: they are planned already, and
                    # its step runs ahead while they go, then the next block's)
                    if opened.hand_over is not None and STEP_AHEAD:
                        self._handed_over = opened
                        self._ahead_from = self._next_index
                    else:
                        self.opened = opened
                    self.pending.extend((opened.hand_over or [])[1:])
                    self._unplanned = (opened, len(opened.hand_over or [None]))
                    self.step_from = self.step_done = time.monotonic()
                    self.block_share = 0.0
                    self.lead_in_shown, self.led_in = opened.lead_in_shown, True
                    self._plan_ahead()
                    return opened.lead_in, skipped
                await self._step(opened)
            if self.pending:
                self._next_index = self.pending[-1].index + 1
        self._plan_ahead()
        return self.pending.popleft(), skipped

    def _plan_ahead(self) -> None:
        """Start the job due ahead, if none runs: a hand-over block's step, then (once
        a whole block of the reply's audio is queued) the next block's planning and
        step, while the hand-over block's frames wait to go (STEP_AHEAD)."""
        if self._ahead is None and (self._handed_over is not None or self._opens_ahead()):
            self._ahead = asyncio.create_task(self._run_ahead(), name="avatar-step-ahead")

    def _opens_ahead(self) -> bool:
        """The block after a hand-over block may be planned now: its first frame was not
        asked for yet (the hand-over block's frames wait to go), and a whole block of
        the reply's audio is queued (a part would leave a gap in the voice where the
        rest comes later; the block is then planned when its first frame is due)."""
        session = self.session
        block_secs = session.block_frames * session.samples_per_frame / session.output_rate
        return (self._ahead_from is not None and not session.reply_paused
                and session.reply_pending_secs >= block_secs)

    async def _run_ahead(self) -> None:
        """The jobs `_plan_ahead` starts, in order, on the session's worker."""
        if self._handed_over is not None:
            handed_over = self._handed_over
            await self._step(handed_over, sent=self.session.block_frames, keep=False)
            self._handed_over = None
        if not self._opens_ahead():
            return  # planned when its first frame is due (or ahead at a later frame)
        self._ahead_from = None
        opened = self.session.open_block()
        self._next_index = opened.first_index + self.session.block_frames
        self._held_last = False
        await self._step(opened)

    async def _ahead_settled(self) -> None:
        """The job run ahead: its failure raised once it ended (the face fails as at a
        step of its own), and its end awaited when no planned frame is left to go."""
        ahead = self._ahead
        if ahead is None or not (ahead.done() or not self.pending):
            return
        self._ahead = None
        await ahead

    def stop_ahead(self) -> None:
        """The clock stops: the job run ahead is cancelled (a step in flight on the
        worker finishes there, unused); its failure, if it ended so, is taken."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return
        if ahead.done() and not ahead.cancelled():
            ahead.exception()
        ahead.cancel()

    async def _step(self, opened: OpenedBlock, sent: int = 0, keep: bool = True) -> None:
        """The generator's step of `opened` on the worker (`sent`: its frames out already,
        the lead-in); its frames join `pending` (`keep`; a hand-over block's were planned
        before). Until they do, its reply audio is taken from the session and planned
        nowhere: a failed step hands it to the voice (`take_unplayed`)."""
        self._unplanned = (opened, sent)
        busy = self.worker.busy_secs
        self.step_from = time.monotonic()
        frames = await self.job(self.session.step_block, opened)
        if keep:
            self.pending.extend(frames)
        self._unplanned = None
        self.step_done = time.monotonic()
        self.steps.append((self.step_from, self.step_done))
        self.block_share = (self.worker.busy_secs - busy) / max(1, len(self.pending))

    def idle_block(self, planned: PlannedFrame) -> bool:
        """`planned` opened a block and neither it nor the rest of the block carries
        reply audio, outside a reply: its first frames may be left out."""
        return (self.block_opened and not self.reply.in_reply and not planned.speaking
                and not any(frame.speaking for frame in self.pending))

    def drop_idle(self, frames: int) -> PlannedFrame:
        """Leave out the next `frames` idle frames of the block (never its last) and
        return the one after them (the clock keeps the spacing)."""
        frames = min(frames, len(self.pending))
        for _ in range(frames - 1):
            self.pending.popleft()
        self.counters.idle_frames_skipped += frames
        return self.pending.popleft()

    async def draw(self, planned: PlannedFrame, repeat: bool, video: Any = None,
                   late: bool = False) -> Shown:
        """Draw `planned` (or repeat the last image), with `video` the encoder request of
        a transport that takes encoded frames. `late`: its drawing would
        come too late, so a frame gliding from a reply's hand-over block is shown from
        that block's mouths instead (`AvatarSession.show_mouth`, never a drawing)."""
        if video is None and (shown := self.session.show_drawn(planned)) is not None:
            return Shown(shown, self.block_share)  # drawn ahead: beside a step on the worker
        if video is None and late and (shown := self.session.show_mouth(planned)) is not None:
            return Shown(shown, self.block_share, from_mouth=True)
        busy = self.worker.busy_secs
        frame = await self.job(self.session.render, planned, repeat, video)
        return Shown(frame, self.worker.busy_secs - busy + self.block_share)

    def take_unplayed(self) -> list[bytes]:
        """The reply audio of the planned frames not drawn yet (current reply only);
        they are dropped, and the job run ahead with them (its block's audio is here)."""
        self.stop_ahead()
        generation = self.session.generation
        chunks = [planned.audio for planned in self.pending
                  if planned.speaking and planned.generation == generation]
        self.pending.clear()
        self._handed_over = self._ahead_from = None
        unplanned, self._unplanned, self.opened = self._unplanned, None, None
        if unplanned is not None and unplanned[0].reply.generation == generation:
            # an opened block's audio after the frames that went out, never planned
            opened, sent = unplanned
            chunks.append(opened.reply.out[sent * self.session.samples_per_frame * 2:])
        return chunks

    def unplanned_frames(self) -> int:
        """Frames of a reply's block whose audio is taken from the session but not planned
        yet (opened, its step to come or under way)."""
        if self._unplanned is None:
            return 0
        opened, sent = self._unplanned
        return self.session.block_frames - sent if opened.reply.out else 0

    def reply_waits_behind(self) -> bool:
        """Reply audio is queued, no reply is playing, and the frames left are idle."""
        return (not self.reply.in_reply and not self.session.reply_paused
                and self.session.reply_pending_secs > 0
                and not any(frame.speaking for frame in self.pending))


__all__ = ["REPLY_LEAD_IN", "STEP_AHEAD", "FaceGenerator"]
