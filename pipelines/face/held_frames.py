"""Frames that came behind reply audio, held until that audio is out, so the LLM
context holds only what was played."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

from loguru import logger
from pipecat.frames.frames import Frame, TextFrame, TTSStoppedFrame

from pipelines.face.reply_state import ReplyState

#: EndFrame waits for a reply's audio at most this many times its length
OVERRUN = 3.0
#: ... and gives up on a face that sends no audio for this long
STALL_SECS = 1.0


class HeldFrames:
    """(reply position, frame) pairs, released in order as the reply's audio goes out."""

    def __init__(self, push: Callable[[Frame], Awaitable[None]], reply: ReplyState) -> None:
        self._push = push
        #: the reply's audio position and state, shared with the face's clock
        self.reply = reply
        self._frames: deque[tuple[int, Frame]] = deque()
        #: set each time a frame's audio is out (and when the face stops): EndFrame waits on it
        self.audio_out = asyncio.Event()

    def __bool__(self) -> bool:
        return bool(self._frames)

    def clear(self) -> None:
        self._frames.clear()

    async def hold_or_push(self, frame: Frame, position: int) -> None:
        """`frame` came behind reply audio queued up to `position`: it waits for it."""
        if position > self.reply.emitted_position or self._frames:
            self._frames.append((position, frame))
        else:
            await self._push(frame)

    async def audio_went_out(self) -> None:
        self.audio_out.set()
        await self.release()

    async def release(self) -> None:
        """Frames whose audio is out now go on, in order."""
        while self._frames and self._frames[0][0] <= self.reply.emitted_position:
            frame = self._frames.popleft()[1]
            if isinstance(frame, TTSStoppedFrame):
                self.reply.in_reply = False  # its audio is out: the transport ends the turn
            await self._push(frame)

    async def flush(self, *, spoken_only: bool) -> None:
        """The pipeline ends: frames still held go on, except text whose audio was
        never played (the LLM context must hold only what was heard)."""
        while self._frames:
            frame = self._frames.popleft()[1]
            if not (spoken_only and isinstance(frame, TextFrame)):
                await self._push(frame)

    async def wait_out(self, owed: Callable[[], bool], secs: float,
                       stall_secs: float = STALL_SECS) -> None:
        """EndFrame: wait while `owed()` (reply audio still to go out). A busy machine
        plays a reply slower than its length, so the wait goes on while audio keeps
        going out, up to `OVERRUN` x `secs`; a face that sends nothing for
        `stall_secs` is given up on."""
        cap = time.monotonic() + OVERRUN * secs
        while owed():
            wait = min(stall_secs, cap - time.monotonic())
            self.audio_out.clear()
            try:
                if wait <= 0:
                    raise TimeoutError
                await asyncio.wait_for(self.audio_out.wait(), wait)
            except TimeoutError:
                logger.warning("avatar: EndFrame came before the reply was out; the rest "
                               "of it is dropped")
                break
