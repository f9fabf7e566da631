"""A reply's first block goes out from mouths drawn ahead, and the steps after it run
while it goes (avatar/live/hand_over.py, face_clock.py `DRAW_HAND_OVER`,
face_generator.py `STEP_AHEAD`), on the real generator and renderer.

The visitor speaks and stops, so the reply comes while the face holds its image; the
face draws that image's mouths meanwhile. Behaviour only (order of events and counts,
no timing bound; every wait is on an event, bounded only to fail rather than hang):

- through the face service, paced as on our websocket in front of pipecat's output
  path playing to memory (tests/pipelines/face_runs.py), piper speech as the TTS
  frames: every frame of the reply's first block is shown while that block's generator
  step is held on the worker (the frames wait for no step and no drawing), and the
  reply then plays on whole. Before the hand-over, only the reply's first frame (its
  lead-in) went out ahead of the step.
- on the clock's generator (`FaceGenerator`, a session's worker thread, as the clock
  drives it): once the hand-over block's first frame is taken, its step and then the
  next block's planning and step run with no further frame asked for, the block's
  other frames are shown with no job on the worker, and the next block's first frame
  then comes with no step before it: only its drawing. Before, both steps ran when
  that frame was asked for (the next block's step never came ahead: fails).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pytest

from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, load_generator
from avatar.live import AvatarFrame, AvatarSession, OpenedBlock, PlannedFrame, SessionOptions
from avatar.portrait import Portrait
from pipelines import AvatarForcingVideoService
from pipelines.face.face_generator import FaceGenerator
from pipelines.face.face_stats import FaceCounters
from pipelines.face.face_threads import FaceThreads
from pipelines.face.reply_state import ReplyState
from tests.pipelines.face_runs import (
    SIZE,
    Pacing,
    SessionEvents,
    piper_speech,
    start_run,
    visitor_asks_then_reply_is_thought_up,
)

pytestmark = pytest.mark.e2e

#: how long a test waits for an event before it fails (never reached when it passes)
EVENT_SECS = 30.0


@pytest.fixture(scope="module")
def piper_reply() -> tuple[np.ndarray, int]:
    """A short spoken reply by the bundled piper voice."""
    return piper_speech("The restrooms are on the second floor.")


class Noted(SessionEvents):
    """A session's steps and shown frames in the order they happened (any thread), the
    real methods called through. A hand-over block's step is held on the worker until
    that block's last frame is shown (`held_out`: the wait ran out, the frames waited
    for the step)."""

    def __init__(self, session: AvatarSession) -> None:
        super().__init__()
        self.held_out = False
        self._watched: dict[tuple[str, int], threading.Event] = {}
        step_block, render, show_drawn = session.step_block, session.render, session.show_drawn

        def noted_step(block: OpenedBlock) -> list[PlannedFrame]:
            self.note("step", block.first_index)
            if block.hand_over is not None:
                last = ("shown", block.first_index + len(block.hand_over) - 1)
                self.held_out = not self.seen(last).wait(EVENT_SECS)
            frames = step_block(block)
            self.note("stepped", block.first_index)
            return frames

        def noted_render(frame: PlannedFrame, *args: Any) -> AvatarFrame:
            shown = render(frame, *args)
            self.note("shown", frame.index)
            return shown

        session.step_block = noted_step  # type: ignore[method-assign]
        session.render = noted_render  # type: ignore[method-assign]
        session.show_drawn = self.noting("shown", show_drawn)  # type: ignore[method-assign]

    def note(self, what: str, index: int) -> None:
        with self._lock:
            self.events.append((what, index))
            watched = self._watched.get((what, index))
        if watched is not None:
            watched.set()

    def seen(self, event: tuple[str, int]) -> threading.Event:
        """Set once `event` is noted (already, if it was)."""
        with self._lock:
            watched = self._watched.setdefault(event, threading.Event())
            if event in self.events:
                watched.set()
        return watched

    def since(self, start: int) -> list[tuple[str, int]]:
        with self._lock:
            return self.events[start:]


async def test_a_replys_first_block_goes_out_while_its_generator_step_is_held(
        avatar_assets: Any, piper_reply: tuple[np.ndarray, int]) -> None:
    pcm, rate = piper_reply
    run = await start_run(avatar_assets, Pacing.WEBSOCKET)
    assert isinstance(run.face, AvatarForcingVideoService)
    session = run.face.session
    noted = Noted(session)
    await asyncio.sleep(1.0)  # idle frames before the turn
    await visitor_asks_then_reply_is_thought_up(run)  # the face holds its image
    start = len(noted.events)
    await run.speak(pcm, rate, chunk_secs=0.5)
    await asyncio.sleep(len(pcm) / rate + 1.0)
    stats = run.face.stats()  # what the session's metrics event carries
    await run.end()

    first = run.face.counters.first_frames
    assert first.replies == 1, first
    assert session.stats.hand_over_blocks == 1, session.stats
    assert stats["hand_over_replies"] == 1, stats
    n = session.block_frames
    events = noted.since(start)
    assert not noted.held_out, "the first block's frames waited for its step"
    stepped = events.index(("stepped", first.frame_index))  # the first block's step done
    shown = [index for what, index in events[:stepped]
             if what == "shown" and index >= first.frame_index]
    assert shown == list(range(first.frame_index, first.frame_index + n)), (
        f"shown before the reply's first generator step was done: {shown}")
    # and the reply plays on whole after it, a frame at a time
    reply = [index for index in run.played.pushed_frames
             if index is not None and index >= first.frame_index]
    assert reply == list(range(reply[0], reply[-1] + 1))
    assert len(reply) >= len(pcm) * 25 // rate, (len(reply), len(pcm) / rate)


async def test_the_next_block_is_stepped_while_the_hand_over_block_goes_out(
        piper_reply: tuple[np.ndarray, int]) -> None:
    pcm, rate = piper_reply
    session = AvatarSession(Portrait.default(512), load_generator(DEFAULT_CHECKPOINT),
                            output_rate=rate, options=SessionOptions(size=SIZE))
    worker = FaceThreads(threads=1, nice=0)
    generator = FaceGenerator(session, worker, ReplyState(), FaceCounters())
    noted = Noted(session)
    try:
        for _ in range(session.block_frames):  # an idle block, each frame drawn
            planned, _ = await generator.next_planned()
            await generator.draw(planned, repeat=False)
        while session.hand_over_due():  # the face holds its image: its mouths drawn
            await generator.job(session.draw_hand_over)
        session.push_avatar_audio(pcm, rate)
        session.end_of_reply()

        lead_in, _ = await generator.next_planned()
        first, n = lead_in.index, session.block_frames
        assert lead_in.speaking and session.stats.hand_over_blocks == 1
        # with no other frame asked for, the block's step comes under way (held on the
        # worker until the block's last frame is shown)
        step, next_stepped = noted.seen(("step", first)), noted.seen(("stepped", first + n))
        frames = [lead_in]
        await generator.draw(lead_in, repeat=False)
        assert await asyncio.to_thread(step.wait, EVENT_SECS), "the block was not stepped ahead"
        for _ in range(n - 1):  # the block's other frames, shown while its step is held
            planned, _ = await generator.next_planned()
            await generator.draw(planned, repeat=False)
            frames.append(planned)
        assert [f.index for f in frames] == list(range(first, first + n))
        # then the hand-over block's step ends, and the next block is stepped, with no
        # frame asked for
        assert await asyncio.to_thread(next_stepped.wait, EVENT_SECS), (
            f"the next block was not stepped ahead: {noted.since(0)[-12:]}")
        assert not noted.held_out, "the block's frames waited for its step"
        events = noted.since(0)
        shown = [index for what, index in events[events.index(("step", first)):]
                 if what == "shown"]
        assert shown[:n - 1] == list(range(first + 1, first + n)), shown
        assert events.index(("shown", first + n - 1)) < events.index(("stepped", first))
        assert events.index(("stepped", first)) < events.index(("step", first + n))
        # the next block's first frame: no step stands before it, only its drawing
        before = len(noted.events)
        planned, _ = await generator.next_planned()
        assert planned.index == first + n and planned.speaking
        assert not [e for e in noted.since(before) if e[0] in ("step", "stepped")]
        # and the reply plays on whole: every sample once, in order
        out = [frame.audio for frame in frames] + [planned.audio]
        while planned.speaking:
            await generator.draw(planned, repeat=True)
            planned, _ = await generator.next_planned()
            out.append(planned.audio)
        played = np.frombuffer(b"".join(out), np.int16)
        np.testing.assert_array_equal(played[:len(pcm)], pcm)
        assert not played[len(pcm):].any()
    finally:
        generator.stop_ahead()
        await worker.close_when_idle(session.close)
