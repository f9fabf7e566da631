"""`ServerSeam`: the one way what only our server adds reaches the face service.

A pipecat app builds `AvatarForcingVideoService(...)` with pipecat's arguments and
sends it pipecat's frames; nothing here is asked of it. Our server installs, once the
service is built and before its pipeline starts, `service.install(hooks, presence=...)`:

- `ServerHooks` (server_hooks.py): pacing, our protocol's events, portrait loading,
  JPEG for our websocket, the load board and memory care after the session;
- a `Presence` (the kiosk's: pipelines/kiosk/presence.py), fed with the user's voice
  and the camera's analysis, started and stopped with the face;
- the frames only our pipeline sends (`SERVER_FRAMES`: the barge-in's
  `ReplyPauseFrame` / `ReplyResumeFrame`, the early transcript's `UserPausedFrame`,
  our websocket's `UserCameraFrame`, `UserMotionFrame`, `PortraitRequestFrame`), taken
  here in one step of the service's `process_frame`.

The service always holds a seam: with nothing installed it is a pipecat app's (no
presence, default hooks), and our frames, which such an app never sends, are still
understood the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
from pipecat.frames.frames import Frame
from pipecat.processors.frame_processor import FrameDirection

from pipelines.face.face_host import FaceHost
from pipelines.face.server_hooks import ServerHooks
from pipelines.wire.frames import (
    PortraitRequestFrame,
    ReplyPauseFrame,
    ReplyResumeFrame,
    UserCameraFrame,
    UserMotionFrame,
    UserPausedFrame,
)

#: the pipecat events a face with a presence raises, in this order for one change
#: (registered on every service, so an app may add its handlers before installing)
PRESENCE_EVENTS = ("on_presence_changed", "on_visitor_arrived", "on_visitor_left")
#: from the user's first pause (whisper's guess starting) the face gives way this long,
#: enough for the VAD's stop (200 ms of quiet) and its frame to come
PAUSE_YIELD_SECS = 0.5
#: the frames only our own pipeline sends
SERVER_FRAMES = (ReplyPauseFrame, ReplyResumeFrame, UserPausedFrame, UserCameraFrame,
                 UserMotionFrame, PortraitRequestFrame)
#: of those, the ones that stop here (the others are passed on once handled)
_CONSUMED = (UserCameraFrame, UserMotionFrame, PortraitRequestFrame)


class Presence(Protocol):
    """Who is in front of the face (the kiosk's: pipelines/kiosk/presence.py)."""

    @property
    def nobody_there(self) -> bool:
        """Nobody is in front (attract mode)."""
        ...

    def voice(self, speaking: bool) -> None:
        """The user's VAD started or stopped."""

    def camera(self, motion: np.ndarray | None) -> None:
        """The camera's analysis of one frame (None: no face in it)."""

    def camera_lost(self) -> None:
        """The camera analysis failed for good: go on from the voice alone."""

    def quiet(self) -> bool:
        """Nobody is there and the face may idle quietly (face_clock.py's quiet blocks)."""
        ...

    def start(self, face: FaceHost) -> None:
        """The face runs: watch until `stop`."""

    async def stop(self) -> None:
        """The face stops."""


class ServerSeam:
    """What our server installed on one face service (see the module docstring)."""

    def __init__(self, hooks: ServerHooks | None = None,
                 presence: Presence | None = None) -> None:
        self.hooks = hooks or ServerHooks()
        self.presence = presence

    @property
    def quiet_block(self) -> Callable[[], bool] | None:
        """The clock's test for a quiet block (None: never quiet, no presence)."""
        return self.presence.quiet if self.presence is not None else None

    @property
    def on_motion(self) -> Callable[[np.ndarray | None], None] | None:
        """Where the camera's analysis goes besides the face (None: nowhere)."""
        return self.presence.camera if self.presence is not None else None

    def voice(self, speaking: bool) -> None:
        if self.presence is not None:
            self.presence.voice(speaking)

    def camera_lost(self) -> None:
        if self.presence is not None:
            self.presence.camera_lost()

    def start(self, face: FaceHost) -> None:
        """The face's clock started."""
        if self.presence is not None:
            self.presence.start(face)

    async def stop(self) -> None:
        if self.presence is not None:
            await self.presence.stop()

    async def take(self, face: FaceHost, frame: Frame, direction: FrameDirection) -> bool:
        """Handle `frame` if it is one only our pipeline sends (False: it is not).

        While no face runs (starting, or failed) the voice goes on without it: the
        camera's and motion frames are dropped, the others passed on untouched."""
        if not isinstance(frame, SERVER_FRAMES):
            return False
        if not face.ready:
            if not isinstance(frame, UserCameraFrame | UserMotionFrame):
                await face.push_frame(frame, direction)
            return True
        reply = face._held.reply
        if isinstance(frame, ReplyPauseFrame):
            # a sound over the reply: silent from the next frame, the rest kept (a
            # reply not started yet waits; the face listens either way)
            face.session.pause_reply()
            face.counters.reply_pauses += 1
        elif isinstance(frame, ReplyResumeFrame):
            face.session.resume_reply()
        elif isinstance(frame, UserPausedFrame):
            # whisper started on the user's pause: give way from now for as long as the
            # VAD's stop takes to come (its frame then opens the whole window); if the
            # user goes on, the short window runs out by itself
            reply.think_for(PAUSE_YIELD_SECS)
        elif isinstance(frame, UserCameraFrame):
            face._camera.offer(frame)
        elif isinstance(frame, UserMotionFrame):
            motion = None if frame.motion is None else np.asarray(frame.motion, np.float32)
            face.session.push_user_motion(motion)
        else:
            face.create_task(face.answer_portrait_request(frame))
        if not isinstance(frame, _CONSUMED):
            await face.push_frame(frame, direction)
        return True


__all__ = ["PAUSE_YIELD_SECS", "PRESENCE_EVENTS", "SERVER_FRAMES", "Presence", "ServerSeam"]
