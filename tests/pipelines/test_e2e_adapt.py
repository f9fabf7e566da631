"""Adapting to the machine while a session runs, seen on the wire.

A server whose assets were loaded (and its costs probed) while busy loops held
more cores than the machine has serves a session that asks for 512 px and the
camera: it runs at the cheapest level while the machine is busy, and once the
hog stops the same session climbs back to the requested size and camera rate,
each change announced by a `video-quality` event, and the frames received
change size with it. While the session has not stepped down, more busy loops
join (a fast machine needs more of them to make its frames late). Every bound here is a time-out for something to happen,
never a speed: a slower machine takes longer and still passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
import urllib.request
from typing import Any

import cv2
import numpy as np
import pytest

from avatar.face_analysis import FaceAnalyzer
from avatar.portrait import default_portrait_path, read_image
from sdk.client import VoiceClient
from sdk.events import VideoQualityEvent
from sdk.items import BotVideo, Closed
from tests.load import CpuHog, load_average

pytestmark = pytest.mark.e2e

#: busy loops beside the server at first: more than the 2 cores, so the avatar's
#: worker gets a small share whatever else the machine runs
HOG_CORES = 4
#: ...and more, HOG_STEP at a time, while the session has not stepped down: how many
#: it takes is the machine's speed (a 256 px session on a fast 2-core machine ran
#: 36 % busy beside 4 of them, and the governor was right to stay where it was)
HOG_STEP, HOG_MAX = 4, 16
#: how long the test waits for the session to reach a level (a time-out, not a goal)
WAIT_SECS = 90.0
#: how long each hog size is given to push the session down before more loops come
HOG_STEP_SECS = 25.0


def healthz(http: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{http}/healthz", timeout=10) as response:
        return dict(json.load(response))


class Session:
    """A v2 client with the camera on: mic silence and camera frames in, items out."""

    def __init__(self, client: VoiceClient, camera_jpeg: bytes | None) -> None:
        self.client = client
        self.items: list[tuple[float, Any]] = []
        self._camera = camera_jpeg
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Session:
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._mic())]
        if self._camera is not None:
            self._tasks.append(asyncio.create_task(self._cam()))
        return self

    async def __aexit__(self, *_: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _listen(self) -> None:
        async for item in self.client.receive():
            self.items.append((time.monotonic(), item))
            if isinstance(item, Closed):
                return

    async def _mic(self) -> None:
        while True:
            await self.client.stream_pcm(bytes(16000 * 2))  # 1 s of silence, paced

    async def _cam(self) -> None:
        assert self._camera is not None
        while True:  # 10 frames a second, like the kiosk page
            await self.client.send_camera_jpeg(self._camera)
            await asyncio.sleep(0.1)

    def qualities(self, since: float = 0.0) -> list[VideoQualityEvent]:
        return [i for t, i in self.items if isinstance(i, VideoQualityEvent) and t >= since]

    def frames(self, since: float = 0.0) -> list[BotVideo]:
        return [i for t, i in self.items if isinstance(i, BotVideo) and t >= since]

    async def wait_until(self, done: Any, what: str, secs: float = WAIT_SECS) -> None:
        deadline = time.monotonic() + secs
        while not done():
            if time.monotonic() > deadline:
                events = [(q.direction, q.level, q.reason) for q in self.qualities()]
                metrics = [i.values for _, i in self.items
                           if getattr(i, "type", "") == "metrics" and i.kind == "avatar"][-3:]
                raise AssertionError(f"timed out waiting for {what}; quality events: {events}; "
                                     f"the node's last counters: {metrics}")
            if any(isinstance(i, Closed) for _, i in self.items):
                raise AssertionError(f"the session closed while waiting for {what}")
            await asyncio.sleep(0.2)


async def refused_while_full(server: Any, assets: Any) -> None:
    """With no slot left on /healthz, a second video client is refused with 1013
    and a reason naming the machine's capacity (the same live measure); with a
    slot left (a machine fast enough to hold two even under the hog) it is taken."""
    from sdk.errors import HandshakeError

    slots = healthz(server.http)["video"]["slots"]
    if slots >= 1:
        async with await VoiceClient.connect(server.url, video_out={"size": 256}) as second:
            assert second.video_out is not None
        return
    with pytest.raises(HandshakeError) as refused:
        await VoiceClient.connect(server.url, video_out={"size": 256})
    assert refused.value.code == "server_busy" and "capacity" in str(refused.value), refused.value


async def hog_until(session: Session, hog: CpuHog, done: Any, what: str) -> None:
    """Wait for `done` while `hog` runs, adding HOG_STEP busy loops each HOG_STEP_SECS
    it has not happened, up to HOG_MAX: the load that makes frames late is whatever
    this machine needs, so a fast machine is tested as hard as a slow one."""
    while hog.cores < HOG_MAX:
        try:
            await session.wait_until(done, f"{what} ({hog.cores} busy loops)", HOG_STEP_SECS)
            return
        except AssertionError:
            if any(isinstance(i, Closed) for _, i in session.items):
                raise
        hog.cores = min(HOG_MAX, hog.cores + HOG_STEP)
        hog.start()
    await session.wait_until(done, f"{what} ({hog.cores} busy loops)")


def busy_elsewhere(session: Session, ladder: list[Any]) -> None:
    """Skip loudly when the machine stayed too busy for the requested quality after
    the test's hog stopped (another job, or `--cpu-hog` on a slow machine): the
    governor was right not to climb. Returns when it should have climbed."""
    from avatar.live.quality import GovernorParams

    stats = [i.values for _, i in session.items
             if getattr(i, "type", "") == "metrics" and i.kind == "avatar"]
    if not stats or "asked_busy_percent" not in stats[-1]:
        return
    last = stats[-1]
    needed = float(last["asked_busy_percent"]) / 100  # the governor's own prediction
    if needed > GovernorParams().up_busy:
        pytest.skip(f"SKIPPED LOUDLY: after the hog stopped this machine stayed too busy for "
                    f"{ladder[0].describe()} (load average {load_average():.1f}; the "
                    f"avatar's worker busy {last['busy_percent']}% at level "
                    f"{last['quality_level']}, {needed:.0%} predicted as asked): the "
                    "session was right not to climb, so the climb back was NOT tested here")


@pytest.mark.parametrize(("size", "camera"), [(512, True), (256, False)],
                         ids=["512px-camera", "256px-no-camera"])
async def test_a_session_steps_down_under_a_hog_and_climbs_back_when_it_stops(
        video_runtime: Any, start_server: Any, size: int, camera: bool) -> None:
    """512 px with the camera is what the issue asks for; 256 px without a camera
    is a ladder a 3x slower machine (render ~20 ms a frame in the live server)
    can climb back up too, so the climb is tested on every machine."""
    from avatar.live import AvatarAssets
    from avatar.live.assets import encode_jpeg
    from avatar.live.quality import quality_ladder
    from pipelines.server.app import ServerConfig

    ladder = quality_ladder(size, camera=camera)
    asked, cheapest = ladder[0], ladder[-1]
    face = read_image(default_portrait_path())[40:560, 40:560]
    camera_jpeg = encode_jpeg(cv2.resize(face, (320, 320)), 80) if camera else None
    hog = CpuHog(HOG_CORES).start()
    try:
        assets = await asyncio.to_thread(AvatarAssets.load)  # probed under the hog
        server = start_server(dataclasses.replace(video_runtime, avatar=assets),
                              ServerConfig(max_sessions=2))
        async with await VoiceClient.connect(server.url, video_out={"size": size},
                                             video_in="camera" if camera else None,
                                             busy_retry_secs=60) as client:
            welcome = client.video_out
            assert welcome is not None and welcome["adaptive"] and welcome["requested_size"] == size
            levels = int(welcome["quality_levels"])
            assert levels == len(ladder)
            async with Session(client, camera_jpeg) as session:

                def at_cheapest() -> bool:
                    quality = client.video_quality
                    level = quality.level if quality else int(welcome["quality_level"])
                    return level == levels - 1

                await hog_until(session, hog, at_cheapest, "the cheapest level under the hog")
                cheapest_at = time.monotonic()
                now = client.video_out
                assert now is not None
                assert (now["width"], now["camera_fps"]) == (cheapest.size, cheapest.camera_fps)
                health = healthz(server.http)
                assert health["video"]["levels"] == [levels - 1], health
                # frames sent from here on are of the cheapest size (one queued may be larger)
                await session.wait_until(lambda: len(session.frames(cheapest_at + 1.0)) >= 5,
                                         "frames at the cheapest level")
                assert {f.rgb().shape[:2] for f in session.frames(cheapest_at + 1.0)[:5]} == {
                    (cheapest.size, cheapest.size)}
                await refused_while_full(server, assets)

                hog.stop()
                quiet_at = time.monotonic()
                try:
                    await session.wait_until(
                        lambda: bool(client.video_quality) and client.video_quality.level == 0,
                        "the requested quality after the hog stopped")
                except AssertionError:
                    busy_elsewhere(session, ladder)
                    raise
                back_at = time.monotonic()
                up = session.qualities(quiet_at)
                assert up and up[-1].direction == "up" and "headroom" in up[-1].reason
                assert (up[-1].width, up[-1].camera_fps, up[-1].drawn_fps) == (
                    asked.size, asked.camera_fps, asked.drawn_fps)
                await session.wait_until(lambda: len(session.frames(back_at + 1.0)) >= 10,
                                         "frames at the requested size")
            frames = session.frames(back_at + 1.0)[:10]
    finally:
        hog.stop()
    assert {f.rgb().shape for f in frames} == {(asked.size, asked.size, 3)}
    with FaceAnalyzer(mode="image") as analyzer:
        assert all(analyzer.analyze(f.rgb()) is not None for f in frames[::3])
    # every change was told: the events name a size, a camera rate and a reason
    for event in session.qualities():
        assert event.width == event.height and event.reason and event.levels == levels
    for _ in range(100):  # the session leaves the capacity board when it ends
        if healthz(server.http)["video"]["sessions"] == 0:
            break
        await asyncio.sleep(0.1)
    assert healthz(server.http)["video"]["sessions"] == 0
    # audio never stopped: the frames kept their 40 ms pts steps throughout
    pts = np.array([f.pts_us for f in session.frames()])
    assert (np.diff(pts) > 0).all()
