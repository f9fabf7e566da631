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
until pipecat's live video will draw it as its own audio plays (a stall inside a
reply: the image waits with its voice instead of running ahead of it; the video
schedule's own hold, live_pacer.py, is counted in).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

from pipecat.frames.frames import Frame

from pipelines.face.live_pacer import LiveVideoPacer

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
    """Images held until they will be drawn with their audio, pushed in order by `run`.

    Each is pushed when pipecat's live video schedule (`LiveVideoPacer`) draws it at
    its time: at once when its slot is its time, later when the schedule runs early,
    never when the slot free next is too late for it (the next image takes it)."""

    def __init__(self, push: Callable[[Frame], Awaitable[None]], pacer: LiveVideoPacer) -> None:
        self._push = push
        self.pacer = pacer
        self._queue: deque[tuple[float, Frame]] = deque()
        self._more = asyncio.Event()
        #: images left out because the schedule would have shown them late
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._queue)

    async def offer(self, frame: Frame, show_at: float) -> None:
        """Have `frame` drawn at `show_at` (monotonic s): pushed now when that is now
        and nothing waits, else queued for `run`."""
        self._queue.append((show_at, frame))
        if len(self._queue) == 1 and await self._push_due() is None:
            return
        self._more.set()

    def clear(self) -> None:
        """An interruption: the images waiting belong to audio the transport dropped,
        and pipecat restarts its video schedule."""
        self._queue.clear()
        self.pacer.reset()

    async def run(self) -> None:
        """Push each held image at its time, until cancelled."""
        while True:
            await self._more.wait()
            while self._queue:
                wait = await self._push_due()
                if wait is not None:
                    await asyncio.sleep(wait)  # then look again: cleared, or due
            self._more.clear()

    async def _push_due(self) -> float | None:
        """Push or drop the first image if its time to go is now (None); else the
        seconds until it is."""
        show_at, frame = self._queue[0]
        now = time.monotonic()
        plan = self.pacer.plan(now, show_at)
        if plan.drop:
            self._queue.popleft()
            self.dropped += 1
            return None
        if plan.push_at > now + ON_TIME_SECS:
            return plan.push_at - now
        self._queue.popleft()
        self.pacer.pushed(now)
        await self._push(frame)
        return None


class FollowedOutput:
    """A live video output followed: its audio device and the images held for it,
    which always go together (an interruption clears both)."""

    def __init__(self, push: Callable[[Frame], Awaitable[None]], frame_secs: float) -> None:
        """`frame_secs`: one frame of the output's video schedule (the face's clock)."""
        self.audio = AudioSink()
        self.images = HeldImages(push, LiveVideoPacer(frame_secs))

    async def offer_image(self, frame: Frame, lead_secs: float) -> None:
        """Have `frame` seen as its own audio plays: after what the device holds now
        and `lead_secs` of audio pushed between (the frames an image goes ahead)."""
        await self.images.offer(frame, max(self.audio.end, time.monotonic()) + lead_secs)

    def cleared(self) -> None:
        """An interruption: the transport dropped the audio it held, the images waiting
        for it go too, and its video schedule restarts."""
        self.audio.cleared(time.monotonic())
        self.images.clear()


__all__ = ["ON_TIME_SECS", "AudioSink", "FollowedOutput", "HeldImages"]
