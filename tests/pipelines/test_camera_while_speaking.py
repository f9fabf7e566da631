"""While the avatar speaks, the face service analyses the visitor's camera at a lower rate
(`camera_fps_while_speaking`), and at the full rate (`camera_fps`) again once the reply
has played.

Issue 57: the visitor mostly listens while the reply plays, so their motion matters
less; a frame left out at the admission costs no landmarker time, which goes to the
other faces of the machine. Real avatar session (shipped student, default portrait),
real landmarker, real webcam frames of a face sent as the browser sends them, a
pipecat pipeline in front of a memory transport.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import cv2
import numpy as np
import pytest

from benchkit.face_inputs import reply_tone
from benchkit.pipecat_sink import FaceRun, start_face_run
from tests.browser.media import webcam_clip

pytestmark = pytest.mark.e2e

OUT_RATE = 24000
SIZE = 256  # small: the test is about the camera, and 256 px is cheap on a busy machine
CAMERA_FPS, SPEAKING_FPS = 10.0, 5.0
#: between camera frames: a client sending at the full rate (every frame is admitted;
#: while the avatar speaks, about one in two)
GAP_SECS = 0.1
OFFERED = 20


@pytest.fixture(scope="module")
def camera_jpegs() -> list[bytes]:
    """Webcam frames of a real face, as the browser sends them (320 px JPEG)."""
    frames = webcam_clip(OFFERED / 10.0, width=320, height=240, fps=10.0)
    return [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR))[1].tobytes() for f in frames]


async def analysed_of(run: FaceRun, jpegs: list[bytes]) -> tuple[int, float]:
    """Offer the frames `GAP_SECS` apart: how many of them the landmarker analysed, and
    the seconds from the first frame offered to the last (a busy machine's sleeps
    run long)."""
    from pipelines.wire.frames import UserCameraFrame

    counters = run.face.counters  # type: ignore[attr-defined]
    before = counters.camera_analysed
    started = time.monotonic()
    for i, jpeg in enumerate(jpegs):
        if i:
            await asyncio.sleep(GAP_SECS)
        await run.send(UserCameraFrame(jpeg=jpeg))
    secs = time.monotonic() - started
    await asyncio.sleep(0.4)  # the last analysis lands
    assert counters.camera_errors == 0, counters
    return int(counters.camera_analysed - before), secs


async def wait_until(condition: Any, secs: float) -> None:
    deadline = time.monotonic() + secs
    while not condition():
        assert time.monotonic() < deadline, f"not within {secs:g} s"
        await asyncio.sleep(0.05)


async def test_the_camera_is_analysed_at_a_lower_rate_while_the_avatar_speaks(
        avatar_assets: Any, camera_jpegs: list[bytes]) -> None:
    from avatar.live import AvatarSession, SessionOptions
    from pipelines.face.video_service import AvatarForcingVideoService
    from pipelines.wire.frames import UserCameraFrame

    session = AvatarSession(avatar_assets.portraits.get(), avatar_assets.checkpoint,
                            output_rate=OUT_RATE, options=SessionOptions(size=SIZE))
    settings = AvatarForcingVideoService.Settings(
        camera_fps=CAMERA_FPS, camera_fps_while_speaking=SPEAKING_FPS, adapt_video=False)
    run = await start_face_run(AvatarForcingVideoService(session=session, settings=settings),
                               out_rate=OUT_RATE, size=SIZE)
    try:
        await run.send(UserCameraFrame(jpeg=camera_jpegs[0]))
        await asyncio.sleep(1.5)  # the landmarker loads with the first frame

        listening, _ = await analysed_of(run, camera_jpegs)
        reply = (reply_tone(4.0, OUT_RATE) * 32767).astype(np.int16)
        await run.speak(reply, OUT_RATE)
        await wait_until(lambda: session.reply_playing, 5.0)
        speaking, speaking_secs = await analysed_of(run, camera_jpegs)
        assert session.reply_playing, "the reply ended before the camera frames did"
        await wait_until(lambda: not session.reply_playing, 30.0)
        listening_again, _ = await analysed_of(run, camera_jpegs)
    finally:
        await run.end()

    counts = {"listening": listening, "speaking": speaking, "listening_again": listening_again,
              "speaking_secs": round(speaking_secs, 2)}
    # listening: every frame offered (a busy machine may skip one that arrives while the
    # one before is still analysed)
    assert listening >= 0.75 * OFFERED, counts
    # speaking: at most 5 a second, about half (the gate lets the second frame in half a
    # period after the first, then one a period)
    assert speaking <= SPEAKING_FPS * speaking_secs + 3, counts
    assert speaking >= 0.3 * OFFERED, counts  # lower, not off
    assert listening_again >= 0.75 * OFFERED, counts  # the full rate is back
