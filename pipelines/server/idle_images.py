"""While the face only idles, our websocket sends only the images it draws.

The face repeats its last image between the ones it draws in two windows:
- in attract mode, while nobody is there, it draws a few images a second
  (`[kiosk] attract_drawn_fps`);
- while a reply is thought up (the user paused, the reply's audio not come) it draws
  nothing for `[avatar] thinking_hold_secs`, then one frame in
  `thinking_frame_stride`, so whisper, the LLM and piper get the CPU.

Each repeat went out again as a JPEG message, through the transport's queue, the
serializer and the socket, and the page decoded and painted it again, on the same
cores the voice needs at a turn's end. A client keeps showing its last image until
the next one comes (docs/PROTOCOL.md: a frame may be missing), so in those windows
the repeats are left out. "Nobody there" is the presence state the client is told, so
both sides agree on it. Outside the windows every frame goes out, repeats included;
a frame without a JPEG (a session its client draws: its motion, new every frame, is
all it carries) always goes;
inside them a repeat still goes out when no image has for `MAX_GAP_FRAMES`, so a face
that falls behind never leaves the client without an image for long.
"""

from __future__ import annotations

from collections.abc import Callable

from pipecat.frames.frames import Frame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipelines.wire.frames import AvatarImageFrame

#: while idling, an image (a repeat if nothing new was drawn) at least every this many
#: frames (40 ms each): clients and tests read a second without one as a frozen face
MAX_GAP_FRAMES = 12


class IdleImageFilter(FrameProcessor):
    """Drops an `AvatarImageFrame` that repeats the image before it while `idling()`
    (nobody there, or the reply thought up); every other frame passes unchanged."""

    def __init__(self, idling: Callable[[], bool]) -> None:
        super().__init__()
        self._idling = idling
        self._last_jpeg: bytes | None = None
        self._last_sent_index: int | None = None
        #: repeated images left out
        self.dropped = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if (isinstance(frame, AvatarImageFrame) and direction == FrameDirection.DOWNSTREAM
                and frame.jpeg):  # no JPEG: a motion frame for a client that draws, each new
            if not self._idling():
                self._last_jpeg = None  # the face is live: every image goes, none compared
            else:
                # a repeat carries the very bytes of the image before it
                repeat = self._last_jpeg is not None and (frame.jpeg is self._last_jpeg
                                                          or frame.jpeg == self._last_jpeg)
                self._last_jpeg = frame.jpeg
                overdue = (self._last_sent_index is not None
                           and frame.frame_index - self._last_sent_index >= MAX_GAP_FRAMES)
                if repeat and not overdue:
                    self.dropped += 1
                    return
            self._last_sent_index = frame.frame_index
        await self.push_frame(frame, direction)


__all__ = ["MAX_GAP_FRAMES", "IdleImageFilter"]
