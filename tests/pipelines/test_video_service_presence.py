"""Presence in a pipecat app: `service.install(presence=KioskPresence(...))` raises
`on_visitor_arrived` / `on_visitor_left` as pipecat objects raise their events, and
idles cheaply while nobody is there.

Real models and a real pipecat output transport (benchkit/pipecat_sink.py); the
camera arrives as a pipecat transport delivers it (`UserImageRawFrame`, raw RGB):
a room with a real photographed face in it, then the empty room.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest
from pipecat.frames.frames import OutputImageRawFrame, UserImageRawFrame

from avatar.live.presence import PresenceChange, PresenceState
from benchkit.browser_media import room_background, webcam_clip
from benchkit.pipecat_sink import start_face_run
from pipelines import AvatarForcingVideoService
from pipelines.kiosk.presence import KioskPresence
from pipelines.settings.sections import KioskSettings

pytestmark = pytest.mark.e2e

OUT_RATE = 24000
FULL = 384  # the size asked for; attract mode draws 256 px
AWAY_SECS = 2.5


def _camera_frame(rgb: np.ndarray) -> UserImageRawFrame:
    height, width = rgb.shape[:2]
    return UserImageRawFrame(image=rgb.tobytes(), size=(width, height), format="RGB",
                             user_id="visitor")


def _distinct(images: list[tuple[float, OutputImageRawFrame]], start: float,
              end: float) -> int:
    """Different images shown between two moments (repeats left out)."""
    seen, last = 0, None
    for at, frame in images:
        if start <= at < end and frame.image != last:
            seen, last = seen + 1, frame.image
    return seen


async def test_a_pipecat_app_hears_visitors_arrive_and_leave_and_the_face_idles_meanwhile(
        avatar_assets: Any) -> None:
    settings = AvatarForcingVideoService.Settings(size=FULL, adapt_video=False, camera_fps=10.0)
    service = AvatarForcingVideoService(settings=settings, assets=avatar_assets)
    presence = KioskPresence(KioskSettings(away_secs=AWAY_SECS))
    service.install(presence=presence)
    events: list[tuple[str, PresenceChange, float]] = []
    full_size: list[int] = []  # the session's own size (the machine may choose < FULL)

    @service.event_handler("on_visitor_arrived")
    async def _arrived(_service: Any, change: PresenceChange) -> None:
        events.append(("arrived", change, time.monotonic()))
        full_size.append(service.session.options.size)

    @service.event_handler("on_visitor_left")
    async def _left(_service: Any, change: PresenceChange) -> None:
        events.append(("left", change, time.monotonic()))

    run = await start_face_run(service, out_rate=OUT_RATE, size=FULL)
    empty = room_background(640, 480)
    visitor = webcam_clip(3.0, width=640, height=480, fps=10.0)
    #: (time, the size the face draws at): the transport scales images to its own size
    drawn: list[tuple[float, int]] = []

    async def show(rgb: np.ndarray) -> None:
        await run.send(_camera_frame(rgb))
        await asyncio.sleep(0.1)
        drawn.append((time.monotonic(), service.session.options.size))

    for _ in range(40):  # 4 s of nobody: attract mode
        await show(empty)
    quiet_start, quiet_end = time.monotonic() - 2.0, time.monotonic()
    for rgb in visitor:  # someone walks up and stays 3 s
        await show(rgb)
    for _ in range(round((AWAY_SECS + 2.5) / 0.1)):  # then nobody again
        await show(empty)
    await run.end()

    assert [name for name, _, _ in events] == ["arrived", "left"]
    arrived_at = events[0][2]
    assert events[1][1].state is PresenceState.AWAY
    assert service.presence is presence and presence.visitors.arrivals == 1
    images = run.played.images
    # nobody there: small images, few of them
    idle = [frame for at, frame in images if quiet_start <= at < quiet_end]
    assert all(size == 256 for at, size in drawn if quiet_start <= at < quiet_end)
    assert idle and _distinct(images, quiet_start, quiet_end) <= 0.5 * len(idle)
    # a visitor: every image from the arrival on is at the full size
    greeted = [frame for at, frame in images if arrived_at <= at < arrived_at + 1.0]
    assert all(size == full_size[0] for at, size in drawn if arrived_at <= at < arrived_at + 1.0)
    assert all(size == 256 for at, size in drawn[-5:])  # nobody again: attract mode
    assert _distinct(images, arrived_at, arrived_at + 1.0) > 0.5 * len(greeted)
