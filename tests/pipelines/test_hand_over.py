"""A reply's first block goes out before its generator step, on the real generator
(avatar/live/hand_over.py, face_clock.py `DRAW_HAND_OVER`).

`AvatarForcingVideoService` paced as on our websocket, in front of pipecat's own output
path playing to memory (tests/pipelines/face_runs.py), piper speech as the TTS frames.
The visitor speaks and stops, so the reply comes while the face holds its image; the
face draws that image's mouths meanwhile. Before, only the reply's first frame (its
lead-in) went out ahead of the block's generator step: the next ones waited for the step
and then a drawing each, which a client that started playing with the first could run
dry behind. Behaviour only (order and counts, no timing bound): every frame of the
reply's first block is shown (rendered for sending, from the mouths drawn ahead) before
that block's generator step runs, and the reply then plays on whole.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from avatar.live import AvatarFrame, OpenedBlock, PlannedFrame
from pipelines import AvatarForcingVideoService
from tests.pipelines.face_runs import (
    Pacing,
    piper_speech,
    start_run,
    visitor_asks_then_reply_is_thought_up,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def piper_reply() -> tuple[np.ndarray, int]:
    """A short spoken reply by the bundled piper voice."""
    return piper_speech("The restrooms are on the second floor.")


async def test_a_replys_first_block_goes_out_before_its_generator_step(
        avatar_assets: Any, piper_reply: tuple[np.ndarray, int]) -> None:
    pcm, rate = piper_reply
    run = await start_run(avatar_assets, Pacing.WEBSOCKET)
    assert isinstance(run.face, AvatarForcingVideoService)
    session = run.face.session
    # the session's worker jobs in the order they ran: the real ones, noted
    jobs: list[tuple[str, int]] = []
    step_block, render = session.step_block, session.render

    def noted_step(block: OpenedBlock) -> list[PlannedFrame]:
        jobs.append(("step", block.first_index))
        return step_block(block)

    def noted_render(frame: PlannedFrame, *args: Any) -> AvatarFrame:
        jobs.append(("render", frame.index))
        return render(frame, *args)

    session.step_block = noted_step  # type: ignore[method-assign]
    session.render = noted_render  # type: ignore[method-assign]
    await asyncio.sleep(1.0)  # idle frames before the turn
    await visitor_asks_then_reply_is_thought_up(run)  # the face holds its image
    await run.speak(pcm, rate, chunk_secs=0.5)
    await asyncio.sleep(len(pcm) / rate + 1.0)
    await run.end()

    first = run.face.counters.first_frames
    assert first.replies == 1, first
    assert session.stats.hand_over_blocks == 1, session.stats
    n = session.block_frames
    step = jobs.index(("step", first.frame_index))  # the reply's first block's step
    shown = [index for job, index in jobs[:step]
             if job == "render" and index >= first.frame_index]
    assert shown == list(range(first.frame_index, first.frame_index + n)), (
        f"shown before the reply's first generator step: {shown}")
    # and the reply plays on whole after it, a frame at a time
    reply = [index for index in run.played.pushed_frames
             if index is not None and index >= first.frame_index]
    assert reply == list(range(reply[0], reply[-1] + 1))
    assert len(reply) >= len(pcm) * 25 // rate, (len(reply), len(pcm) / rate)
