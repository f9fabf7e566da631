"""The face service in front of pipecat's output path playing to memory, paced as each
kind of transport paces it: the setup the reply-timing tests share (test_first_frames,
test_reply_lead, test_hand_over, test_late_mouths), and the events they note."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from enum import Enum
from typing import Any

import numpy as np
from pipecat.frames.frames import VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame

from avatar.live import AvatarFrame, PlannedFrame
from benchkit.pipecat_sink import FaceRun, start_face_run
from pipelines import AvatarForcingVideoService

OUT_RATE = 24000
SIZE = 256  # behaviour, not cost: 256 px is cheap on a busy machine


class Pacing(Enum):
    """How the transport takes the face's images."""

    #: pipecat's live video: each image shown when it comes, one frame ahead of its audio
    LIVE_VIDEO = "live-video"
    #: each image released behind the audio before it (our WebRTC door)
    IMAGES_WITH_AUDIO = "images-with-audio"
    #: our websocket: no image lead, images not held behind their audio (the transport
    #: stamps each with the audio clock where it is queued)
    WEBSOCKET = "websocket"


async def start_run(avatar_assets: Any, pacing: Pacing) -> FaceRun:
    """`AvatarForcingVideoService` (the shipped generator, the default portrait) in front
    of the memory transport, paced as `pacing`."""
    with_audio = pacing is Pacing.IMAGES_WITH_AUDIO
    settings = AvatarForcingVideoService.Settings(
        size=SIZE, adapt_video=False, camera_fps=0.0, images_sync_with_audio=with_audio,
        image_lead_frames=1 if pacing is Pacing.LIVE_VIDEO else 0)
    service = AvatarForcingVideoService(settings=settings, assets=avatar_assets)
    return await start_face_run(service, out_rate=OUT_RATE, size=SIZE,
                                video_live=pacing is Pacing.LIVE_VIDEO,
                                video_framerate=30 if with_audio else 25)


async def visitor_asks_then_reply_is_thought_up(run: FaceRun) -> None:
    """The visitor speaks for 0.5 s and stops; 0.6 s later the face holds its image (the
    reply is thought up), ready for the reply's audio."""
    await run.send(VADUserStartedSpeakingFrame())
    await asyncio.sleep(0.5)
    await run.send(VADUserStoppedSpeakingFrame())
    await asyncio.sleep(0.6)


class SessionEvents:
    """(what, frame index) events a test notes from any thread, in the order they
    happened, around a session's real methods."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def note(self, what: str, index: int) -> None:
        with self._lock:
            self.events.append((what, index))

    def noting(self, what: str, show: Callable[[PlannedFrame], AvatarFrame | None]
               ) -> Callable[[PlannedFrame], AvatarFrame | None]:
        """`show` (a session method that may show a frame without drawing it) called
        through, noting `what` for each frame it does show."""

        def noted(frame: PlannedFrame) -> AvatarFrame | None:
            shown = show(frame)
            if shown is not None:
                self.note(what, frame.index)
            return shown

        return noted


def piper_speech(text: str) -> tuple[np.ndarray, int]:
    """`text` spoken by the bundled piper voice (int16) and its sample rate."""
    from benchkit.speech import load_test_voice, piper_int16

    voice = load_test_voice()
    return piper_int16(voice, text), voice.config.sample_rate


__all__ = ["OUT_RATE", "SIZE", "Pacing", "SessionEvents", "piper_speech", "start_run",
           "visitor_asks_then_reply_is_thought_up"]
