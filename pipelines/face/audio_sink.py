"""The transport's audio as its device plays it, and images held to show with it.

A pipecat output transport plays audio in real time (a sound card, Daily's virtual
microphone, a WebRTC track): audio that comes after a pause starts when it comes,
and audio that comes faster than it plays waits behind what came before. The face's
clock pushes audio without a gap (silence while idle), so audio that once came in a
burst (frames the clock caught up after a late one, or pushed before the pipeline
downstream had started) waits in the transport from then on, and every later chunk
plays that much behind its image: a live video output shows an image when it comes.

`AudioSink` follows that device clock from what was pushed and when. The clock then
drops idle silence while the transport holds more than a fraction of a frame (the
wait drains, and the next reply is heard sooner), and `HeldImages` holds each image
until the audio pushed before it has played (a stall inside a reply: the image
waits with its voice instead of running ahead of it).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

from pipecat.frames.frames import Frame

#: an image due this close (s) goes out at once
ON_TIME_SECS = 0.002


class AudioSink:
    """When the audio pushed so far ends playing on a real-time device (monotonic s)."""

    def __init__(self) -> None:
        self.end = 0.0

    def pushed(self, secs: float, now: float) -> None:
        """`secs` of audio were pushed at `now`: they play after what the device holds."""
        self.end = max(self.end, now) + secs

    def held_secs(self, now: float) -> float:
        """Audio the device holds at `now`, pushed and not played yet (s)."""
        return max(0.0, self.end - now)

    def cleared(self, now: float) -> None:
        """An interruption: the transport dropped the audio it held."""
        self.end = min(self.end, now)


class HeldImages:
    """Images held until a time (the audio before them played), pushed in order by `run`."""

    def __init__(self, push: Callable[[Frame], Awaitable[None]]) -> None:
        self._push = push
        self._queue: deque[tuple[float, Frame]] = deque()
        self._more = asyncio.Event()

    def __len__(self) -> int:
        return len(self._queue)

    async def offer(self, frame: Frame, at: float) -> None:
        """Push `frame` at `at` (monotonic s): now when it is due and nothing waits."""
        if not self._queue and at <= time.monotonic() + ON_TIME_SECS:
            await self._push(frame)
            return
        self._queue.append((at, frame))
        self._more.set()

    def clear(self) -> None:
        """An interruption: the images waiting belong to audio the transport dropped."""
        self._queue.clear()

    async def run(self) -> None:
        """Push each held image at its time, until cancelled."""
        while True:
            await self._more.wait()
            while self._queue:
                at, frame = self._queue[0]
                wait = at - time.monotonic()
                if wait > ON_TIME_SECS:
                    await asyncio.sleep(wait)
                    continue  # look again: cleared meanwhile, or due now
                self._queue.popleft()
                await self._push(frame)
            self._more.clear()


__all__ = ["ON_TIME_SECS", "AudioSink", "HeldImages"]
