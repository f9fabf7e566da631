"""EndFrame waits for the reply's audio as long as it keeps going out: a busy machine
plays a goodbye slower than its length, and the goodbye must still be heard whole;
a face that stops sending audio is given up on rather than waited for forever."""

from __future__ import annotations

import asyncio

from pipecat.frames.frames import Frame, TextFrame

from pipelines.face.held_frames import HeldFrames
from pipelines.face.reply_state import ReplyState


async def test_a_reply_played_slower_than_its_length_is_waited_for_whole() -> None:
    pushed: list[Frame] = []

    async def push(frame: Frame) -> None:
        pushed.append(frame)

    reply = ReplyState()
    held = HeldFrames(push, reply)
    words = TextFrame(text="goodbye")
    await held.hold_or_push(words, 10)  # its audio ends at sample 10
    progress = {"emitted": 0}

    async def slow_face() -> None:  # ten frames, 0.1 s apart: 1 s for a "0.2 s" reply
        for _ in range(10):
            await asyncio.sleep(0.1)
            progress["emitted"] += 1
            reply.emitted_position = progress["emitted"]
            await held.audio_went_out()

    face = asyncio.create_task(slow_face())
    await held.wait_out(lambda: bool(held), secs=0.2, stall_secs=0.5)
    await face
    assert pushed == [words] and not held


async def test_a_face_that_sends_nothing_is_given_up_on() -> None:
    async def push(frame: Frame) -> None:
        raise AssertionError("nothing is released while nothing was played")

    held = HeldFrames(push, ReplyState())
    await held.hold_or_push(TextFrame(text="never heard"), 10)
    await asyncio.wait_for(held.wait_out(lambda: bool(held), secs=5.0, stall_secs=0.2), 3.0)
    assert held  # still held: the caller drops what was never spoken
