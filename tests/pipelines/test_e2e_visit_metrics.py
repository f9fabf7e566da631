"""The kiosk's visit figures on a real server's /metrics after real visits: a camera
shows a visitor walk up twice (one asks a question, one only listens to the greeting)
and leave; the counters equal the visits, greetings and departures the client saw."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
from collections.abc import Callable
from typing import Any

import cv2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from benchkit.browser_media import room_background, webcam_clip
from pipelines.settings.sections import KioskSettings
from sdk.client import VoiceClient
from sdk.events import BotOutput, UserTranscription, VisitorArrived, VisitorLeft
from sdk.images import encode_camera_jpeg
from sdk.items import Closed

pytestmark = pytest.mark.e2e

AWAY_SECS = 4.0
GREETING = "Hello, welcome to the store."


def metrics_text(http: str) -> str:
    """The server's /metrics page."""
    with urllib.request.urlopen(f"{http}/metrics", timeout=10) as response:
        return response.read().decode()


def scrape(http: str) -> dict[str, float]:
    """Every sample of the server's /metrics without labels, by name."""
    text = metrics_text(http)
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if not sample.labels}


async def test_the_visit_counters_equal_the_visits_greetings_and_departures(
        video_runtime: Any, start_server: Any, say: Callable[[str], bytes]) -> None:
    from pipelines.server.app import ServerConfig

    server = start_server(video_runtime, ServerConfig(
        max_sessions=1, adapt_quality=False,
        kiosk=KioskSettings(away_secs=AWAY_SECS, greeting=GREETING)))
    face = [encode_camera_jpeg(cv2.resize(f, (320, 240))) for f in webcam_clip(2.0, fps=10.0)]
    empty = encode_camera_jpeg(cv2.resize(room_background(640, 480), (320, 240)))
    visitor = False
    items: list[Any] = []
    new_item = asyncio.Event()

    async def camera(client: VoiceClient) -> None:
        k = 0
        while True:
            with contextlib.suppress(Exception):
                await client.send_camera_jpeg(face[k % len(face)] if visitor else empty)
            k += 1
            await asyncio.sleep(0.1)

    async def listen(client: VoiceClient) -> None:
        async for item in client.receive():
            items.append(item)
            new_item.set()
            if isinstance(item, Closed):
                return

    async def wait_until(done: Callable[[], bool], within: float) -> None:
        async with asyncio.timeout(within):
            while not done():
                new_item.clear()
                await new_item.wait()

    async def wait_for(kind: type, count: int, within: float) -> None:
        await wait_until(lambda: sum(isinstance(i, kind) for i in items) >= count, within)

    def answer_ended() -> bool:
        """The bot stopped speaking after the visitor's question was heard: the answer
        is in the session's history (a greeting of two sentences gives two bot-outputs,
        so counting them let the visitor leave before the answer came)."""
        heard = next((n for n, i in enumerate(items) if isinstance(i, UserTranscription)
                      and i.final), None)
        return heard is not None and any(getattr(i, "type", "") == "bot-stopped-speaking"
                                         for i in items[heard:])

    before = scrape(server.http)
    assert before["avatar_forcing_kiosk_visitors_walked_up_total"] == 0
    async with await VoiceClient.connect(server.url, video_out={"size": 256},
                                         video_in="camera", presence=True) as client:
        listener = asyncio.create_task(listen(client))
        mic = asyncio.create_task(client.stream_pcm(bytes(16000 * 2 * 300)))  # live silence
        cam = asyncio.create_task(camera(client))
        try:
            await asyncio.sleep(2.0)
            # visit 1: greeted, asks a question, hears the answer, leaves
            visitor = True
            await wait_for(VisitorArrived, 1, 30)
            await wait_for(BotOutput, 1, 60)
            mic.cancel()
            await client.stream_pcm(say("What time do you open on Sundays?"))
            mic = asyncio.create_task(client.stream_pcm(bytes(16000 * 2 * 300)))
            await wait_until(answer_ended, 90)
            await asyncio.sleep(1.0)
            visitor = False
            await wait_for(VisitorLeft, 1, 60)
            # visit 2: greeted, says nothing, leaves
            await asyncio.sleep(2.0)
            visitor = True
            await wait_for(VisitorArrived, 2, 30)
            await asyncio.sleep(2.0)
            visitor = False
            await wait_for(VisitorLeft, 2, 60)
            during = scrape(server.http)
        finally:
            cam.cancel()
            mic.cancel()
    listener.cancel()
    arrived = sum(isinstance(i, VisitorArrived) for i in items)
    left = sum(isinstance(i, VisitorLeft) for i in items)
    assert (arrived, left) == (2, 2)
    assert during["avatar_forcing_kiosk_visitors_walked_up_total"] == arrived
    assert during["avatar_forcing_kiosk_visitors_greeted_total"] == arrived  # a greeting each
    assert during["avatar_forcing_kiosk_visitors_left_total"] == left
    assert during["avatar_forcing_kiosk_visitors_talked_total"] == 1
    assert during["avatar_forcing_kiosk_visit_turns_sum"] >= 1
    assert during["avatar_forcing_kiosk_visit_seconds_count"] == left
    # each visit lasts at least away_secs (the departure comes that long after the last face)
    assert during["avatar_forcing_kiosk_visit_seconds_sum"] >= left * AWAY_SECS
    assert during["avatar_forcing_kiosk_answers_total"] >= 1
    assert during["avatar_forcing_kiosk_attract_seconds_total"] > 2.0
    text = metrics_text(server.http)
    assert "Sunday" not in text and "welcome" not in text.lower()  # no words
