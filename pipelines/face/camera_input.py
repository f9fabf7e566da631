"""The user's camera, as a face session reads it: at most `camera_fps` frames a
second (`camera_fps_while_speaking` while the avatar speaks), the newest waiting
frame wins, analysed where the face runs.

Frames come from any pipecat transport with `video_in_enabled`
(`InputImageRawFrame` / `UserImageRawFrame`, raw pixels) or from our websocket
(`UserCameraFrame`, JPEG). Each analysis is a job on the session's worker; its
motion feeds the generator, so the face smiles back and meets the user's gaze.
While the reply is thought up the camera waits: ASR, the LLM and TTS are on the
critical path then, and the face changes little. While the reply plays the
visitor mostly listens: their motion matters less, and a frame left out costs no
landmarker time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import numpy as np
from loguru import logger
from pipecat.frames.frames import InputImageRawFrame

from avatar.errors import AvatarError
from avatar.live import AvatarSession
from avatar.live.camera import raw_to_rgb
from pipelines.face.face_stats import FaceCounters
from pipelines.face.rate_gate import CameraGate
from pipelines.wire.frames import UserCameraFrame

CameraFrame = UserCameraFrame | InputImageRawFrame


class CameraInput:
    """Gates, queues and analyses one session's camera frames."""

    def __init__(self, camera_fps: float, *, speaking_fps: float, counters: FaceCounters,
                 run_job: Callable[..., Awaitable[Any]],
                 start_task: Callable[[Coroutine[Any, Any, None]], object],
                 thinking: Callable[[], bool],
                 refused: Callable[[AvatarError], Awaitable[None]],
                 failed: Callable[[Exception], Awaitable[None]]) -> None:
        """`speaking_fps`: the rate while the avatar speaks (never above the rate set,
        now or later); `run_job(fn, *args)`: runs a job on the session's worker;
        `start_task`: the service's `create_task`; `thinking()`: the reply is being
        thought up (the camera waits); `refused(error)`: a frame the face could not
        read (it is dropped); `failed(error)`: the analysis itself broke (the
        landmarker): the camera is off from then on, and the face goes on without it."""
        self._speaking_fps = speaking_fps
        self._gate = CameraGate(camera_fps, speaking_fps) if camera_fps > 0 else None
        self._rate = camera_fps
        self._counters = counters
        self._run_job = run_job
        self._start_task = start_task
        self._thinking = thinking
        self._refused = refused
        self._failed = failed
        self._waiting: CameraFrame | None = None
        self._busy = False
        self._started_at = time.monotonic()
        self.session: AvatarSession | None = None
        #: the session ended: frames still in the pipeline are ignored (their analysis
        #: would meet a worker that is shut down)
        self.stopped = False
        #: called with each analysed frame's motion (None: no face), on the event loop
        #: (the kiosk's presence reads who is there from it)
        self.on_motion: Callable[[np.ndarray | None], None] | None = None

    def set_rate(self, camera_fps: float) -> None:
        """Analyse at most this many frames a second from now on (0: none), and at most
        `speaking_fps` of them while the avatar speaks."""
        self._gate = CameraGate(camera_fps, self._speaking_fps) if camera_fps > 0 else None
        self._rate = camera_fps

    @property
    def rate(self) -> float:
        """Frames analysed a second at most (0: none)."""
        return self._rate

    def offer(self, frame: CameraFrame) -> None:
        """A camera frame arrived: analyse it now, keep it as the newest waiting one,
        or drop it (over the rate, lower while the avatar speaks, or the reply is being
        thought up)."""
        if self.stopped or self.session is None:
            return
        if self._thinking():
            self._counters.camera_skipped += 1
            return
        if self._busy:
            if self._waiting is not None:
                self._counters.camera_skipped += 1
            self._waiting = frame
            return
        if not self._admit():
            return
        self._busy = True
        self._start_task(self._analyse(frame))

    def _admit(self) -> bool:
        """Whether the frame at hand is analysed (the session says whether the avatar
        speaks: reply audio queued or planned, and not paused)."""
        gate, session = self._gate, self.session
        speaking = session is not None and session.reply_playing
        if gate is None or not gate.admit(time.monotonic(), speaking=speaking):
            self._counters.camera_skipped += 1
            return False
        return True

    async def _analyse(self, frame: CameraFrame) -> None:
        session = self.session
        assert session is not None
        try:
            while True:
                stamp = int((time.monotonic() - self._started_at) * 1000)
                try:
                    if isinstance(frame, UserCameraFrame):
                        motion = await self._run_job(session.analyze_camera_jpeg,
                                                     frame.jpeg, stamp)
                    else:  # a pipecat transport's camera: raw pixels
                        motion = await self._run_job(_analyse_raw, session, frame, stamp)
                except AvatarError as error:
                    self._counters.camera_errors += 1
                    if self._counters.camera_errors == 1:
                        logger.warning(f"avatar: a camera frame was refused: {error}")
                    await self._refused(error)
                else:
                    session.push_user_motion(motion)
                    self._counters.camera_analysed += 1
                    if self.on_motion is not None:
                        self.on_motion(motion)
                waiting, self._waiting = self._waiting, None
                if waiting is None or not self._admit():
                    return
                frame = waiting
        except Exception as error:
            if self.stopped:
                # the session ended while this frame waited for the worker, which is
                # shut down now ("cannot schedule new futures after shutdown")
                return
            logger.exception("avatar: the camera analysis failed; the camera is off")
            self._gate = None
            await self._failed(error)
        finally:
            self._busy = False


def _analyse_raw(session: AvatarSession, frame: InputImageRawFrame,
                 stamp: int) -> np.ndarray | None:
    """A transport's raw camera frame: checked and shrunk, then measured (on the worker)."""
    return session.analyze_camera_rgb(raw_to_rgb(frame.image, frame.size, frame.format), stamp)


__all__ = ["CameraFrame", "CameraInput"]
