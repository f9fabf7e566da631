"""While nobody is there the face's clock ticks once a block on our websocket: one
200 ms audio message and at most one image each block (pipelines/face/face_clock.py,
pipelines/wire/ws_transport.py). A visitor who walks up gets every 40 ms frame again,
on the same unbroken audio clock, and the greeting.

Real models, the real server over a loopback websocket, the Python SDK with a camera:
a room with a real photographed face in it, or the same room empty.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import cv2
import pytest

from benchkit.browser_media import room_background, webcam_clip
from pipelines.settings.sections import KioskSettings
from sdk.client import VoiceClient
from sdk.events import BotOutput, VisitorArrived
from sdk.images import encode_camera_jpeg
from sdk.items import BotAudio, BotVideo

pytestmark = pytest.mark.e2e

GREETING = "Hello, welcome to the store."
BLOCK_FRAMES = 5  # a generator block: 5 frames of 40 ms


@pytest.fixture(scope="module")
def quiet_server(video_runtime: Any, start_server: Any) -> Any:
    from pipelines.server.app import ServerConfig

    config = ServerConfig(max_sessions=2, adapt_quality=False,
                          kiosk=KioskSettings(away_secs=4.0, greeting=GREETING))
    return start_server(video_runtime, config)


async def _camera(client: VoiceClient, visitor: list[bool]) -> None:
    """10 camera frames a second: the empty room, or the visitor while `visitor[0]`."""
    face = [encode_camera_jpeg(cv2.resize(f, (320, 240))) for f in webcam_clip(2.0, fps=10.0)]
    empty = encode_camera_jpeg(cv2.resize(room_background(640, 480), (320, 240)))
    k = 0
    while True:
        with contextlib.suppress(Exception):
            await client.send_camera_jpeg(face[k % len(face)] if visitor[0] else empty)
        k += 1
        await asyncio.sleep(0.1)


async def test_nobody_there_gets_a_block_a_message_and_a_visitor_every_frame_again(
        quiet_server: Any) -> None:
    items: list[Any] = []
    greeted_event = asyncio.Event()
    visitor = [False]
    async with await VoiceClient.connect(quiet_server.url, video_out={"size": 256},
                                         video_in="camera", presence=True) as client:
        frame_samples = client.welcome.audio_out.sample_rate // 25

        async def listen() -> None:
            async for item in client.receive():
                items.append(item)
                if isinstance(item, BotOutput) and visitor[0]:
                    greeted_event.set()

        tasks = [asyncio.create_task(listen()), asyncio.create_task(_camera(client, visitor)),
                 asyncio.create_task(client.stream_pcm(bytes(16000 * 2 * 60)))]  # live silence
        try:
            await asyncio.sleep(4.0)
            away = len(items)
            visitor[0] = True  # someone walks up and stays
            await asyncio.wait_for(greeted_event.wait(), 60)
            await asyncio.sleep(1.0)
        finally:
            for task in tasks:
                task.cancel()

    audio = [i for i in items if isinstance(i, BotAudio)]
    # one unbroken audio clock: each message starts where the one before ended
    for before, after in zip(audio, audio[1:], strict=False):
        ends = (before.pts_us * before.sample_rate // 1_000_000 + len(before.pcm) // 2)
        assert abs(after.pts_us * after.sample_rate // 1_000_000 - ends) <= 1, (before, after)
    # nobody there: the audio came a block a message, silent, with at most one image each
    quiet = [i for i in items[:away] if isinstance(i, BotAudio)][2:]  # the start settles
    assert quiet, "audio while nobody was there"
    sizes = {len(i.pcm) // 2 for i in quiet}
    assert sizes == {BLOCK_FRAMES * frame_samples}, sizes
    assert not any(i.pcm.strip(b"\x00") for i in quiet)
    starts = {i.pts_us for i in quiet}
    quiet_images = [i for i in items[:away] if isinstance(i, BotVideo) and i.pts_us >= min(starts)]
    assert quiet_images, "the attract face is drawn"
    assert all(i.pts_us in starts for i in quiet_images), "each image at its block's audio"
    # the visitor: every frame's 40 ms message again, the images with them, the greeting
    arrived = next(k for k, i in enumerate(items) if isinstance(i, VisitorArrived))
    later = [i for i in items[arrived:] if isinstance(i, BotAudio)][BLOCK_FRAMES:]
    assert later and {len(i.pcm) // 2 for i in later} == {frame_samples}
    assert any(i.pcm.strip(b"\x00") for i in later), "the greeting was heard"
    assert len([i for i in items[arrived:] if isinstance(i, BotVideo)]) > len(later) // 2
    greeted = " ".join(i.text for i in items[arrived:] if isinstance(i, BotOutput))
    assert "welcome" in greeted.lower(), greeted
