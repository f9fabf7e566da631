"""While nobody is there, our websocket sends only the images the face draws.

In attract mode the face draws a few images a second (`[kiosk] attract_drawn_fps`)
and repeats the last one in between; each repeat went out again as a JPEG message,
through the transport's queue, the serializer and the socket, 20 a second for an
empty hall. A client keeps showing its last image until the next one comes
(docs/PROTOCOL.md: a frame may be missing), so while the presence state is "away"
(the state the client is told, so both sides agree on "nobody there") the repeats
are left out. From the first face seen every frame goes out again, the drawn rate
back first (the face's own level), so nothing on the screen jumps.
"""

from __future__ import annotations

from collections.abc import Callable

from pipecat.frames.frames import Frame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipelines.wire.frames import AvatarImageFrame


class IdleImageFilter(FrameProcessor):
    """Drops an `AvatarImageFrame` that repeats the image before it while
    `nobody_there()`; every other frame passes unchanged."""

    def __init__(self, nobody_there: Callable[[], bool]) -> None:
        super().__init__()
        self._nobody_there = nobody_there
        self._last_jpeg: bytes | None = None
        #: repeated images left out
        self.dropped = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, AvatarImageFrame) and direction == FrameDirection.DOWNSTREAM:
            if not self._nobody_there():
                self._last_jpeg = None  # someone there: every image goes, none compared
            else:
                # a repeat carries the very bytes of the image before it
                repeat = self._last_jpeg is not None and (frame.jpeg is self._last_jpeg
                                                          or frame.jpeg == self._last_jpeg)
                self._last_jpeg = frame.jpeg
                if repeat:
                    self.dropped += 1
                    return
        await self.push_frame(frame, direction)


__all__ = ["IdleImageFilter"]
