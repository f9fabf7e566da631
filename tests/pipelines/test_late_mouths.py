"""A reply's frame gliding from its hand-over block, left short of time by a slow
drawing before it, is shown from that block's mouths, not drawn (pipelines/face/
late_mouths.py `LATE_MOUTHS`, avatar/live/late_mouths.py), through the face service
paced as on our websocket in front of pipecat's output path playing to memory.

Behaviour only, no timing bound: the first frame drawn after the hand-over block is
held on the worker for longer than the reply's lead and a frame, so the frame after it
is short of time whatever the machine's load (a busier machine only makes it later).
Before, that frame was drawn (or its last image repeated): never a mouth (fails).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from avatar.live import AvatarFrame, AvatarSession, OpenedBlock, PlannedFrame
from pipelines import AvatarForcingVideoService
from tests.pipelines.face_runs import (
    Pacing,
    SessionEvents,
    piper_speech,
    start_run,
    visitor_asks_then_reply_is_thought_up,
)

pytestmark = pytest.mark.e2e

#: how long the first drawing after the hand-over block is held (s): more than the
#: reply lead (0.12 s) and the mouths' margin (0.08 s) together
HELD_SECS = 0.5


class Watched(SessionEvents):
    """Which frames of a session were drawn, shown from drawn pictures or from mouths;
    the first drawing after a hand-over block held for HELD_SECS."""

    def __init__(self, session: AvatarSession) -> None:
        super().__init__()
        self.after_hand_over: int | None = None
        self.held: int | None = None
        step_block, render, show_mouth = session.step_block, session.render, session.show_mouth

        def watched_step(block: OpenedBlock) -> list[PlannedFrame]:
            if block.hand_over is not None:
                self.after_hand_over = block.first_index + len(block.hand_over)
            return step_block(block)

        def watched_render(frame: PlannedFrame, *args: Any) -> AvatarFrame:
            after = self.after_hand_over
            if self.held is None and after is not None and frame.index >= after:
                self.held = frame.index
                time.sleep(HELD_SECS)  # a slow drawing on a loaded box
            shown = render(frame, *args)
            self.note("drawn", frame.index)
            return shown

        session.step_block = watched_step  # type: ignore[method-assign]
        session.render = watched_render  # type: ignore[method-assign]
        session.show_mouth = self.noting("mouth", show_mouth)  # type: ignore[method-assign]


async def test_a_frame_short_of_time_after_a_slow_drawing_shows_a_mouth(
        avatar_assets: Any) -> None:
    pcm, rate = piper_speech("The restrooms are on the second floor, by the lifts.")
    run = await start_run(avatar_assets, Pacing.WEBSOCKET)
    assert isinstance(run.face, AvatarForcingVideoService)
    session = run.face.session
    watched = Watched(session)
    await asyncio.sleep(1.0)  # idle frames before the turn
    await visitor_asks_then_reply_is_thought_up(run)  # the face holds its image
    await run.speak(pcm, rate, chunk_secs=0.5)
    await asyncio.sleep(len(pcm) / rate + 1.0)
    await run.end()

    first = run.face.counters.first_frames
    assert first.replies == 1 and session.stats.hand_over_blocks == 1, session.stats
    held = watched.held
    assert held is not None, "no frame was drawn after the hand-over block"
    # the frame after the slow drawing had no time left: shown from a mouth, not drawn
    assert ("mouth", held + 1) in watched.events, watched.events[:40]
    assert ("drawn", held + 1) not in watched.events
    assert session.stats.late_mouths >= 1
    # and the reply's frames all go out, once each and in order (the idle frames after
    # it may be left out while the stall's audio drains)
    frames = range(first.frame_index, first.frame_index + len(pcm) * 25 // rate)
    reply = [index for index in run.played.pushed_frames if index in frames]
    assert reply == list(frames), reply
