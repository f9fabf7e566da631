"""A session's bounded outbox: video gives way first when a client stops reading.

pipecat's websocket output awaits every send on its one output task. When a
client stops reading, the kernel's send buffer fills (up to 4 MB on loopback,
5 s of 512 px video), then that await blocks the task that also paces the
audio, writes the events and feeds the avatar's clock: the whole session
stalled and ended 7.7 s behind the wall clock, with no video dropped,
although docs/PROTOCOL.md promises that video gives way first and audio never.

`SessionOutbox` takes every outgoing message without blocking and sends them
in order from its own task, so the pipeline keeps its pace whatever the
socket does. While the socket does not drain:
- video messages wait at most `max_video_frames` deep and `max_video_delay_secs`
  long; beyond that the oldest is dropped (counted in `video_dropped`);
- audio and events are never dropped; if more than `max_unsent_bytes` of them
  wait, the client has stopped reading for good (tens of seconds of audio) and
  `on_overflow` is called once so the session can end instead of growing.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from loguru import logger

from sdk.protocol import MEDIA_HEADER, MediaKind

Message = bytes | str


@dataclass(frozen=True)
class OutboxLimits:
    """How much may wait for a slow socket.

    Attributes:
        max_video_frames: video messages queued at most; a newer one pushes the
            oldest out (3 = 120 ms at 25 fps: a healthy socket never holds more).
        max_video_delay_secs: a video message older than this when its turn to be
            sent comes is dropped: the client would show it too late.
        max_unsent_bytes: audio and events waiting at most before the client is
            declared gone (2 MB: about 45 s of 22,050 Hz audio).
    """

    max_video_frames: int = 3
    max_video_delay_secs: float = 0.5
    max_unsent_bytes: int = 2_000_000


#: the kinds that may be dropped: the face's frames (a JPEG, or a client's motion frame)
_FACE_KINDS = (int(MediaKind.VIDEO), int(MediaKind.FACE_MOTION))


def is_video_message(message: Message) -> bool:
    """True for an avatar frame (kind 2 JPEG or kind 6 motion): the kinds that may be
    dropped (the client keeps showing, or interpolating from, the last one)."""
    return (isinstance(message, bytes) and len(message) >= MEDIA_HEADER.size
            and message[0] in _FACE_KINDS)


class SessionOutbox:
    """Ordered, non-blocking sending for one websocket, with video dropped first."""

    def __init__(
        self,
        send: Callable[[Message], Awaitable[None]],
        *,
        limits: OutboxLimits | None = None,
        on_overflow: Callable[[str], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        """`send` writes one message to the socket (it may block while the socket is full);
        `on_overflow(reason)` is called once when audio and events pile up past the limit."""
        self._send = send
        self._limits = limits or OutboxLimits()
        self._on_overflow = on_overflow
        self._queue: deque[tuple[Message, bool, float]] = deque()  # message, is video, queued at
        self._video_queued = 0
        self._unsent_bytes = 0  # audio and events waiting
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._overflowed = False
        #: video messages dropped because the socket did not drain
        self.video_dropped = 0
        #: the most audio/event bytes that ever waited (how far the client fell behind)
        self.max_unsent_bytes_seen = 0

    @property
    def queued(self) -> int:
        """Messages waiting to be sent."""
        return len(self._queue)

    def put(self, message: Message) -> None:
        """Queue one message; never blocks (the pipeline's pace is not the socket's)."""
        if self._overflowed:
            return  # the session is ending: nothing more will be read
        video = is_video_message(message)
        if video:
            if self._video_queued >= self._limits.max_video_frames:
                self._drop_oldest_video()
            self._video_queued += 1
        else:
            self._unsent_bytes += len(message)
            self.max_unsent_bytes_seen = max(self.max_unsent_bytes_seen, self._unsent_bytes)
        self._queue.append((message, video, time.monotonic()))
        self._idle.clear()
        self._ready.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="outbox")
        if not video and self._unsent_bytes > self._limits.max_unsent_bytes:
            self._overflow()

    async def flush(self, within_secs: float) -> bool:
        """Wait up to `within_secs` for the queue to empty (before a close); True if it did."""
        if self._task is None:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), within_secs)
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        """Stop sending and forget what waits (idempotent)."""
        self._queue.clear()
        self._video_queued = self._unsent_bytes = 0
        self._idle.set()
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def _drop_oldest_video(self) -> None:
        """Remove the oldest queued video message (it would be shown late anyway)."""
        for i, (_message, video, _at) in enumerate(self._queue):
            if video:
                del self._queue[i]
                self._video_queued -= 1
                self.video_dropped += 1
                return

    def _overflow(self) -> None:
        """The client stopped reading long ago: drop everything and tell the session once."""
        self._overflowed = True
        waiting = self._unsent_bytes
        self._queue.clear()
        self._video_queued = self._unsent_bytes = 0
        self._idle.set()
        reason = (f"client not reading: {waiting / 1e6:.1f} MB of audio and events unsent "
                  f"(limit {self._limits.max_unsent_bytes / 1e6:.1f} MB)")
        logger.warning(reason)
        if self._on_overflow is not None:
            asyncio.get_running_loop().create_task(self._on_overflow(reason),
                                                   name="outbox_overflow")

    async def _run(self) -> None:
        """Send queued messages in order; late video is skipped at its turn."""
        while True:
            if not self._queue:
                self._idle.set()
                self._ready.clear()
                await self._ready.wait()
                continue
            message, video, queued_at = self._queue.popleft()
            if video:
                self._video_queued -= 1
                if time.monotonic() - queued_at > self._limits.max_video_delay_secs:
                    self.video_dropped += 1
                    continue
            else:
                self._unsent_bytes -= len(message)
            await self._send(message)
