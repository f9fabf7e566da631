"""The face service gives the CPU to the reply path from the user's pause, and listens again
as soon as they speak.

Camera analysis (JPEG decode + face landmarker, ~10 ms a frame) shares the
2 cores with whisper, the LLM and piper. From the VAD's stop (where the early
reply starts, pipelines/turns/speculative_turn.py) until the reply's first audio it
waits; the VAD's next start resumes it at once, so the face keeps reacting to
a user who goes on talking. Real avatar session (shipped student, default
portrait), real landmarker, real webcam-like frames of a face.
"""

from __future__ import annotations

from typing import Any

import cv2
import pytest
from pipecat.frames.frames import VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame
from pipecat.tests.utils import SleepFrame, run_test

from tests.browser.media import webcam_clip

pytestmark = pytest.mark.e2e

GAP_SECS = 0.4  # between camera frames: well above the 10 fps gate's spacing


@pytest.fixture(scope="module")
def camera_jpegs() -> list[bytes]:
    """A few webcam frames of a real face, as the browser sends them (320 px JPEG)."""
    frames = webcam_clip(0.4, width=320, height=240, fps=10.0)
    return [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR))[1].tobytes() for f in frames]


async def test_camera_pauses_from_the_users_pause_and_resumes_when_they_speak(
        avatar_assets: Any, camera_jpegs: list[bytes]) -> None:
    from avatar.live import AvatarSession
    from pipelines.face.video_service import AvatarForcingVideoService
    from pipelines.wire.frames import UserCameraFrame

    session = AvatarSession(avatar_assets.portraits.get(), avatar_assets.checkpoint,
                            output_rate=22050)
    node = AvatarForcingVideoService(session=session)

    def camera(i: int) -> list[Any]:
        return [UserCameraFrame(jpeg=camera_jpegs[i % len(camera_jpegs)]), SleepFrame(GAP_SECS)]

    frames: list[Any] = [VADUserStartedSpeakingFrame(), *camera(0),
                         SleepFrame(1.5),  # the landmarker loads with the first frame
                         *camera(1)]
    frames += [VADUserStoppedSpeakingFrame(), *camera(2), *camera(3)]  # the user paused
    frames += [VADUserStartedSpeakingFrame(), *camera(4), *camera(5), SleepFrame(0.5)]
    await run_test(node, frames_to_send=frames, expected_down_frames=None)

    # 2 analysed while they speak, 2 skipped in the pause (no turn end, no reply
    # yet), 2 analysed again once they speak (before: all 6 analysed)
    counts = {k: getattr(node.counters, k) for k in ("camera_analysed", "camera_skipped", "camera_errors")}
    assert counts == {"camera_analysed": 4, "camera_skipped": 2, "camera_errors": 0}, counts
    assert node.session.stats.block_ms, "the avatar's clock did not run"


async def repeated_while(avatar_assets: Any, *frames: Any, secs: float,
                         hold_secs: float = 0.0) -> tuple[int, int, list[Any]]:
    """(images repeated by choice, frames sent, images out) after `frames` and `secs`,
    the thinking window held for `hold_secs`: repeats of frames rendered too late to be
    on time are left out, so a busy machine changes neither count's meaning."""
    from avatar.live import AvatarSession
    from pipelines.face.video_service import AvatarForcingVideoService
    from pipelines.wire.frames import AvatarImageFrame

    session = AvatarSession(avatar_assets.portraits.get(), avatar_assets.checkpoint,
                            output_rate=22050)
    node = AvatarForcingVideoService(
        session=session, settings=AvatarForcingVideoService.Settings(thinking_hold_secs=hold_secs))
    down, _ = await run_test(node, frames_to_send=[*frames, SleepFrame(secs)],
                             expected_down_frames=None)
    counters = node.counters
    images = [f for f in down if isinstance(f, AvatarImageFrame)]
    return counters.frames_repeated - counters.frames_repeated_late, counters.frames_sent, images


async def test_while_the_reply_is_thought_up_every_other_frame_repeats(
        avatar_assets: Any) -> None:
    """From the user's pause to the reply's first audio the face only idles: with no
    hold, one frame in two is drawn, the other repeats it (the CPU goes to whisper, the
    LLM and piper); while the user speaks every frame is drawn. Whisper's guess at the
    first pause starts a short idle window of its own."""
    speaking_repeated, speaking_sent, _ = await repeated_while(
        avatar_assets, VADUserStartedSpeakingFrame(), secs=2.0)
    thinking_repeated, thinking_sent, _ = await repeated_while(
        avatar_assets, VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame(), secs=2.0)
    assert speaking_sent >= 6 and thinking_sent >= 6, (speaking_sent, thinking_sent)
    assert speaking_repeated == 0, (speaking_repeated, speaking_sent)  # every frame drawn
    # thinking: every other frame repeats the one before
    assert thinking_repeated >= thinking_sent // 2 - 1, (thinking_repeated, thinking_sent)
    # whisper's guess at the user's first pause, before the VAD's stop: the face idles
    # from there, for a moment only (PAUSE_YIELD_SECS) unless the VAD then stops
    from pipelines.wire.frames import UserPausedFrame

    paused_repeated, _, _ = await repeated_while(avatar_assets, VADUserStartedSpeakingFrame(),
                                                 UserPausedFrame(), secs=2.0)
    assert 1 <= paused_repeated < thinking_repeated // 2, (paused_repeated, thinking_repeated)


#: the thinking window's hold in the test below (s), short of the 2 s watched
HOLD_SECS = 0.8


async def test_in_the_thinking_windows_hold_the_last_image_stays_and_the_motion_goes_on(
        avatar_assets: Any) -> None:
    """From the VAD's stop the face draws nothing for `thinking_hold_secs`: every image
    out repeats the last one drawn, while the generator steps on (each frame's motion
    is new); after the hold, one frame in two is drawn again, so a slow reply never
    freezes the face for long."""
    import numpy as np

    held, sent, images = await repeated_while(
        avatar_assets, VADUserStartedSpeakingFrame(), SleepFrame(0.5),
        VADUserStoppedSpeakingFrame(), secs=2.0, hold_secs=HOLD_SECS)
    frames_in_hold = round(HOLD_SECS / 0.04)
    assert held >= frames_in_hold - 2, (held, sent)  # the hold, then one in two
    # the images out in order: while the user speaks each is drawn; then a run of one
    # image held (the same bytes), with motion new frame by frame; then drawn ones again
    runs: list[list[Any]] = [[images[0]]]
    for image in images[1:]:
        if image.jpeg == runs[-1][-1].jpeg:
            runs[-1].append(image)
        else:
            runs.append([image])
    longest = max(runs, key=len)
    assert len(longest) >= frames_in_hold - 2, [len(r) for r in runs]
    motions = np.stack([image.motion for image in longest])
    assert len({m.tobytes() for m in motions}) > len(longest) // 2, "the generator stopped"
    after = runs[runs.index(longest) + 1:]
    assert len(after) >= 5, "drawing did not resume after the hold"
    # one in two drawn (a frame drawn too late on a busy machine repeats as well)
    assert max(len(r) for r in after) <= 6, [len(r) for r in after]


async def test_the_worker_yields_the_cpu_by_its_nice_value_while_the_reply_is_thought_up(
        ) -> None:
    """While the reply is thought up the session's jobs run at a lower priority than
    the rest of the process (whisper, piper, the event loop), so the reply path gets
    the cores first; otherwise, and once frames fall behind, at the default one, so a
    busy neighbour cannot starve the face. Linux schedules threads, so only the
    worker's own nice value changes."""
    import os
    import threading

    from pipelines.face.face_threads import FaceThreads

    if not hasattr(os, "setpriority"):
        pytest.skip("no setpriority on this OS: thread priorities are not adjustable")
    worker = FaceThreads(threads=1, nice=5)
    try:
        def own_nice() -> int:
            return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

        process_nice = own_nice()
        assert await worker.run(own_nice) == process_nice  # listening, speaking
        # the user paused: the reply is thought up
        assert await worker.run(own_nice, thinking=True) == min(19, process_nice + 5)
        worker.behind = True  # frames fall behind: the face must not freeze
        assert await worker.run(own_nice, thinking=True) == process_nice
        assert own_nice() == process_nice, "the event loop's thread kept its priority"
        assert worker.busy_secs > 0 and worker.cpu_secs >= 0
    finally:
        worker.shutdown()


def test_once_behind_the_face_yields_no_more_until_the_thinking_is_over() -> None:
    """A frame late by more than BEHIND_SECS stops the face yielding the CPU; the
    clock's rebase then makes the next frames on time, and the face must not go back to
    yielding for the rest of the thinking (with a core busy it fell behind again and
    repeated one image for 3 s). Once the reply plays, lateness decides afresh."""
    from pipelines.face.face_threads import BEHIND_SECS, FaceThreads

    worker = FaceThreads(threads=1, nice=5)
    try:
        worker.note_lateness(0.0, yielding=True)
        assert not worker.behind
        worker.note_lateness(BEHIND_SECS + 0.05, yielding=True)
        assert worker.behind
        worker.note_lateness(0.0, yielding=True)  # after a rebase: on time again
        assert worker.behind, "the face yielded again while the reply was still thought up"
        worker.note_lateness(0.0, yielding=False)  # the reply's audio came
        assert not worker.behind
        worker.note_lateness(0.0, yielding=True)  # the next reply's thinking starts on time
        assert not worker.behind
    finally:
        worker.shutdown()


async def test_stopping_waits_for_a_camera_analysis_in_flight(avatar_assets: Any) -> None:
    """A session that ends while its worker is analysing a camera frame closes the
    landmarker only after that analysis: closing it under a running detection killed
    the whole server with a segfault (CI, the kiosk browser test)."""
    import asyncio
    import time

    from avatar.live import AvatarSession
    from pipelines.face.video_service import AvatarForcingVideoService

    session = AvatarSession(avatar_assets.portraits.get(), avatar_assets.checkpoint,
                            output_rate=22050)  # its face in this process: a LocalFace
    node = AvatarForcingVideoService(session=session)
    face = webcam_clip(0.1, width=320, height=240, fps=10.0)[0]  # a real face, RGB
    await node._in_worker(session.analyze_camera_rgb, face, 0)  # builds the landmarker
    camera = session.face._camera  # type: ignore[attr-defined]

    def slow_analysis() -> Any:
        time.sleep(0.3)  # the session ends meanwhile
        return session.analyze_camera_rgb(face, 1)

    job = asyncio.ensure_future(node._in_worker(slow_analysis))
    await asyncio.sleep(0.05)
    await node.cleanup()
    motion = await job  # it ran to its end on an open landmarker
    assert motion is not None and motion.shape == (58,)
    with pytest.raises(RuntimeError, match="closed"):  # and was closed after it
        camera.analyze_rgb(face, 2)
