"""Over pipecat's WebRTC transport, the face's video and voice carry one media clock.

An outside WebRTC client (a real aiortc peer, no browser) connects to the real
server's `/api/offer` as the kiosk page does, sends a microphone (a spoken
question) and a camera (a real face), and records every audio and video frame the
bot sends, with its RTP timestamp and its arrival time, for a minute: idle video,
the question, the answer, idle again.

Each stream's RTP time must advance with the wall clock, within a frame (40 ms),
over the whole minute, and the two must advance together: that is what any
receiver's own audio/video sync (RTCP sender reports) needs to put the lips on the
voice. With pipecat's stock tracks the video's RTP time ran 30 frames a second
whatever the images' real spacing and fell 1.5 s behind the wall clock in 40 s
(bench/webrtc_media_clock.py, the same run as after).

The offset of a window is the 10th percentile of arrival minus media time: a
receiver on a busy 2-core machine sometimes decodes late, which only ever adds.
Behaviour only, never speed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

LISTEN_SECS = 60.0
QUESTION_AT = 4.0  # s after the peer connected
WINDOW_SECS = 5.0
FRAME_SECS = 0.04
LOUD = 300  # int16 peak of a 20 ms chunk holding sound
QUESTION = "What time do you open on Sunday?"
#: connection attempts while the server says it is busy (its Retry-After apart)
ADMISSION_TRIES = 8


def window_offsets(samples: list[tuple[float, float]], start: float) -> np.ndarray:
    """Per WINDOW_SECS window from `start`: the 10th percentile of arrival time minus
    media time, relative to the first window's."""
    arrival = np.array([a for a, _ in samples])
    media = np.array([m for _, m in samples])
    offset = (arrival - start) - (media - media[0])
    values = []
    for begin in np.arange(start, arrival[-1] - WINDOW_SECS / 2, WINDOW_SECS):
        inside = (arrival >= begin) & (arrival < begin + WINDOW_SECS)
        if inside.sum() >= 10:
            values.append(float(np.percentile(offset[inside], 10)))
    return np.asarray(values) - values[0]


async def connect_when_admitted(http: str, camera: Any) -> Any:
    """Connect as a client does: a `server_busy` refusal (the machine's measured load, as
    when an earlier test's browser is still closing) is retried after its Retry-After."""
    import httpx

    from benchkit.webrtc_peer import connect

    for _ in range(ADMISSION_TRIES - 1):
        try:
            return await connect(http, camera, keep_every=0, direct_offer={
                "video": True, "size": 256, "camera": True, "client": "aiortc-clock-test"})
        except httpx.HTTPStatusError as error:
            if error.response.status_code != 503:
                raise
            await asyncio.sleep(float(error.response.headers.get("Retry-After", "5")))
    return await connect(http, camera, keep_every=0, direct_offer={
        "video": True, "size": 256, "camera": True, "client": "aiortc-clock-test"})


@pytest.fixture(scope="module")
def webrtc_server(video_runtime: Any, start_server: Any) -> Any:
    from pipelines.server.app import ServerConfig

    return start_server(video_runtime, ServerConfig(max_sessions=2))


async def test_video_and_audio_timestamps_advance_with_the_wall_clock_for_a_minute(
        webrtc_server: Any) -> None:
    from benchkit.browser_media import webcam_clip
    from benchkit.webrtc_peer import CameraTrack, spoken_48k

    camera = CameraTrack(webcam_clip(2.0, width=320, height=240, fps=10.0), fps=10.0)
    question = spoken_48k(QUESTION)  # before connecting: piper would block this peer's loop
    peer = await connect_when_admitted(webrtc_server.http, camera)
    try:
        received = peer.received
        for _ in range(300):  # the first images: the session is up
            if len(received.video_pts) >= 10 and len(received.audio_pts) >= 10:
                break
            await asyncio.sleep(0.1)
        start = max(received.video_pts[0][0], received.audio_pts[0][0])
        await asyncio.sleep(QUESTION_AT)
        peer.mic.say(question)
        await asyncio.sleep(LISTEN_SECS - QUESTION_AT)
    finally:
        await peer.close()

    asked = peer.mic.spoken[0][1] if peer.mic.spoken else start
    loud = [t for t, pcm in received.audio if t > asked and np.abs(pcm).max(initial=0) > LOUD]
    assert loud, "no answer was heard: the minute must hold speech as well as idle video"

    video = [(a, m) for a, m in received.video_pts if a >= start]
    audio = [(a, m) for a, m in received.audio_pts if a >= start]
    span = video[-1][0] - video[0][0]
    fps = (len(video) - 1) / span
    assert span >= LISTEN_SECS - 5, f"only {span:.0f} s of video"
    # one timestamp per distinct image: never the 30 a second of aiortc's default clock
    media_fps = (len(video) - 1) / (video[-1][1] - video[0][1])
    assert media_fps <= 25.5, f"video stamped {media_fps:.1f} images per media second"

    video_offsets, audio_offsets = window_offsets(video, start), window_offsets(audio, start)
    report = (f"video {fps:.1f} images/s; per {WINDOW_SECS:g} s window, arrival minus media "
              f"time (ms): video {np.round(video_offsets * 1000).tolist()}, audio "
              f"{np.round(audio_offsets * 1000).tolist()}")
    print(report)
    assert np.abs(video_offsets).max() <= FRAME_SECS, report
    assert np.abs(audio_offsets).max() <= FRAME_SECS, report
    together = video_offsets[: len(audio_offsets)] - audio_offsets[: len(video_offsets)]
    assert np.abs(together).max() <= FRAME_SECS, report
