"""The face as a generator: reply audio in, drawn frames out, cleared on an interruption.

This is LiveKit's seam (its `VideoGenerator` beside the `AvatarRunner` that paces):
the session takes the reply's audio (`push_avatar_audio`) and drops it on an
interruption (`clear`); here its blocks are planned and its frames drawn, each job on
the session's worker. There is no clock in this module: `FaceClock` (face_clock.py)
decides when each frame is drawn, whether it repeats the last image, and pairs each
image with its audio.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from avatar.live import AvatarFrame, AvatarSession, OpenedBlock, PlannedFrame
from pipelines.face.face_stats import FaceCounters
from pipelines.face.face_threads import FaceThreads
from pipelines.face.reply_state import ReplyState

#: a reply's first frame is planned at once (the last motion held, the jaw opened by its
#: own audio) and goes out before its block's generator step, so the voice does not
#: wait for the step (False: as before, for comparison; docs/LIVE_AVATAR.md)
REPLY_LEAD_IN = True


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
        self.lead_in_shown = False
        if self.pending and self.reply_waits_behind():
            skipped = len(self.pending)
            self.counters.idle_frames_skipped += skipped
            self.pending.clear()
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
                    # hand-over block's other frames too: they are planned already)
                    self.opened = opened
                    self.pending.extend((opened.hand_over or [])[1:])
                    self._unplanned = (opened, len(opened.hand_over or [None]))
                    self.step_from = self.step_done = time.monotonic()
                    self.block_share = 0.0
                    self.lead_in_shown = opened.lead_in_shown
                    return opened.lead_in, skipped
                await self._step(opened)
            if self.pending:
                self._next_index = self.pending[-1].index + 1
        return self.pending.popleft(), skipped

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

    async def draw(self, planned: PlannedFrame, repeat: bool,
                   video: Any = None) -> tuple[AvatarFrame, float]:
        """Draw `planned` (or repeat the last image), with `video` the encoder request of
        a transport that takes encoded frames; returns the frame and the worker seconds
        it cost, its share of the block's generation included."""
        busy = self.worker.busy_secs
        frame = await self.job(self.session.render, planned, repeat, video)
        return frame, self.worker.busy_secs - busy + self.block_share

    def take_unplayed(self) -> list[bytes]:
        """The reply audio of the planned frames not drawn yet (current reply only);
        they are dropped."""
        generation = self.session.generation
        chunks = [planned.audio for planned in self.pending
                  if planned.speaking and planned.generation == generation]
        self.pending.clear()
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


__all__ = ["REPLY_LEAD_IN", "FaceGenerator"]
