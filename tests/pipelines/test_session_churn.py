"""Many short video sessions leave no memory behind (issue 27).

A kiosk serves hundreds of short conversations a day without a restart: a few
MB kept per session is gigabytes a week. The server runs in this process (the
`start_server` fixture), so its resident memory is this process's (VmRSS, read by
avatar/procfs.py). Each session is as short as a kiosk's shortest: connect with
video (and a camera, whose face landmarker is built and closed per session),
stream a second of silence and camera frames while receiving, disconnect.
The bench with spoken questions and replies is bench/live/session_churn.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from typing import Any

import cv2
import pytest

from avatar.procfs import rss_bytes
from sdk.client import VoiceClient
from sdk.items import BotVideo, Closed

pytestmark = pytest.mark.e2e

SESSIONS = 30
#: RSS is compared between the end of this session and the last one: the first
#: sessions fill caches and pools that are kept on purpose (allocator pools,
#: per-size renderers' lazily built tables, pipecat's imports).
WARM_UP = 10
#: MiB over the last 20 sessions: a leak of 5 MB a session (100 MB) breaks it,
#: while the allocator's noise (a few MB either way) does not.
BOUND_MB = 50.0


def rss_mb() -> float:
    """This process's resident memory (MiB): the in-process server's."""
    return rss_bytes() / 2**20


@pytest.fixture(scope="module")
def churn_server(video_runtime: Any, start_server: Any) -> Any:
    """A video server admitting by `max_sessions` alone (one session at a time
    here; a busy machine must not turn this into a capacity test)."""
    from pipelines.server.app import ServerConfig

    return start_server(video_runtime, ServerConfig(max_sessions=2, adapt_quality=False))


def camera_jpeg() -> bytes:
    """A real face as the client's camera would send it (Grace Hopper, 320 px)."""
    from avatar.portrait import default_portrait_path, read_image

    image = cv2.resize(read_image(default_portrait_path()), (320, 320))
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    return jpeg.tobytes()


async def short_session(url: str, jpeg: bytes, secs: float = 1.0) -> int:
    """Connect with video and camera, send `secs` of silence and 10 camera frames a
    second while receiving, leave. Returns the avatar frames received."""
    client = await VoiceClient.connect(url, video_out={"size": 256}, video_in="camera",
                                       busy_retry_secs=30.0)
    frames = 0

    async def listen() -> None:
        nonlocal frames
        async for item in client.receive():
            frames += isinstance(item, BotVideo)
            if isinstance(item, Closed):
                return

    listener = asyncio.create_task(listen())
    started = time.monotonic()
    for k in range(round(secs * 50)):  # 20 ms mic chunks at real-time pace
        await client.send_audio(bytes(640))
        if k % 5 == 0:
            await client.send_camera_jpeg(jpeg)
        await asyncio.sleep(max(0.0, started + (k + 1) * 0.02 - time.monotonic()))
    await client.close()
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await asyncio.wait_for(listener, 10)
    return frames


async def wait_until_idle(server: Any, limit_secs: float = 15.0) -> None:
    """The server has torn the last session down (its registry is empty)."""
    for _ in range(round(limit_secs / 0.05)):
        if not server.registry.active:
            break
        await asyncio.sleep(0.05)
    assert not server.registry.active, "a session was still live 15 s after its client left"


def test_video_sessions_leave_no_memory_behind(churn_server: Any) -> None:
    """RSS around session 30 minus RSS around session 10 stays under BOUND_MB."""
    jpeg = camera_jpeg()

    async def run() -> tuple[list[float], list[int]]:
        rss, frames = [], []
        for _ in range(SESSIONS):
            frames.append(await short_session(churn_server.url, jpeg))
            await wait_until_idle(churn_server)
            await asyncio.sleep(0.2)
            rss.append(rss_mb())
        return rss, frames

    rss, frames = asyncio.run(run())
    assert sum(f > 0 for f in frames) >= SESSIONS // 2, (
        f"most sessions got no avatar video, so they did not exercise the avatar: {frames}")
    # medians of the five readings up to session 10 and up to session 30: an ended
    # session's memory comes back when the next one ends (the node's collection
    # after a session), so one reading alone swings by a session's worth
    before, after = statistics.median(rss[WARM_UP - 5:WARM_UP]), statistics.median(rss[-5:])
    growth = after - before
    per_session = growth / (SESSIONS - WARM_UP)
    trace = ", ".join(f"{v:.0f}" for v in rss)
    print(f"RSS {before:.0f} -> {after:.0f} MiB from session {WARM_UP} to "
          f"{SESSIONS} ({per_session:+.2f} MiB a session); all: {trace}")
    assert growth < BOUND_MB, (
        f"RSS grew {growth:.1f} MiB from session {WARM_UP} to {SESSIONS} "
        f"({per_session:.2f} MiB a session; bound {BOUND_MB:g} MiB): each video session "
        f"leaves memory behind. RSS after each session (MiB): {trace}")
