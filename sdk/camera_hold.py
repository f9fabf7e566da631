"""The camera held while the server thinks up a reply.

From the user's end of turn (`user-stopped-speaking`) until the reply starts
(`bot-started-speaking`) the server analyses no camera frame (for up to
`CAMERA_HOLD_SECS`, its own window): its CPU goes to the last read of the speech,
the answer and its voice. A frame sent then is encoded, sent and dropped for
nothing, on the client's CPU and the server's socket. So the camera sources of
`sdk.client.VoiceClient` send none meanwhile; the user speaking again, the reply
starting, an interruption or the window's end resume them. The server's presence
(a kiosk's visitor) keeps the visitor through such a pause: their voice was heard
at its start (docs/KIOSK.md, "Who counts as a visitor").
"""

from __future__ import annotations

import asyncio
import time

#: the longest hold (s): the server's own window for analysing no camera frame
#: while a reply is thought up (pipelines/face/face_params.py)
CAMERA_HOLD_SECS = 3.0

_RESUMES = frozenset({"user-started-speaking", "bot-started-speaking", "bot-interrupted",
                      "bot-stopped-speaking"})


class CameraHold:
    """Whether the camera waits now, from the server's turn events (`follow`)."""

    def __init__(self, secs: float = CAMERA_HOLD_SECS) -> None:
        if not secs >= 0:
            raise ValueError(f"camera hold must be >= 0 s, got {secs}")
        #: the longest hold (0: never hold, every frame is sent)
        self.secs = secs
        #: frames a camera source did not send while held
        self.frames_held = 0
        self._until = 0.0  # time.monotonic() until which the camera waits

    def follow(self, event_type: str, now: float | None = None) -> None:
        """A server event's `type`: the user's end of turn holds the camera, the
        reply's start (or the user speaking again) releases it."""
        if event_type == "user-stopped-speaking":
            self._until = (time.monotonic() if now is None else now) + self.secs
        elif event_type in _RESUMES:
            self._until = 0.0

    def held(self, now: float | None = None) -> bool:
        """The camera waits now."""
        return (time.monotonic() if now is None else now) < self._until

    async def wait(self, period: float) -> float:
        """Sleep while held, a frame `period` at a time (one frame not sent each);
        returns the seconds waited (0.0 at once when not held)."""
        started = time.monotonic()
        while self.held():
            self.frames_held += 1
            await asyncio.sleep(min(period, max(0.0, self._until - time.monotonic())))
        return time.monotonic() - started


__all__ = ["CAMERA_HOLD_SECS", "CameraHold"]
