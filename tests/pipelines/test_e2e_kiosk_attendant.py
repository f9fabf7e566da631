"""The kiosk attendant end to end: real models, real LLM, a loopback websocket, a camera.

A presence session (`hello.presence`) watches the camera the face analyses: a
visitor who walks up is greeted unasked, and one who walks away is forgotten,
so the next visitor inherits nothing. The camera here is a room with a real
photographed face in it (benchkit/browser_media.py) or the same room empty.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import cv2
import pytest
from pipecat.frames.frames import Frame, LLMContextFrame
from pipecat.observers.base_observer import BaseObserver, FramePushed

from benchkit.browser_media import room_background, webcam_clip
from pipelines.settings.sections import KioskSettings
from sdk.client import VoiceClient
from sdk.events import (
    BotOutput,
    ErrorEvent,
    PresenceEvent,
    UserTranscription,
    VisitorArrived,
    VisitorLeft,
)
from sdk.images import encode_camera_jpeg
from sdk.items import BotAudio, Closed

pytestmark = pytest.mark.e2e

SECRET = "pineapple"
AWAY_SECS = 4.0
GREETING = "Hello, welcome to the store."


class LLMRequests(BaseObserver):
    """Every context the LLM service is asked to answer (what its request sends)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[list[Any]] = []

    async def on_push_frame(self, data: FramePushed) -> None:
        frame: Frame = data.frame
        if isinstance(frame, LLMContextFrame) and "LLM" in type(data.destination).__name__:
            self.requests.append([dict(m) for m in frame.context.get_messages()
                                  if isinstance(m, dict)])


@pytest.fixture(scope="module")
def kiosk_server(video_runtime: Any, start_server: Any) -> tuple[Any, LLMRequests]:
    """A server whose presence sessions forget a visitor after AWAY_SECS."""
    from pipelines.server.app import ServerConfig

    observer = LLMRequests()
    config = ServerConfig(max_sessions=2, adapt_quality=False,
                          kiosk=KioskSettings(away_secs=AWAY_SECS, greeting=GREETING),
                          on_session=lambda voice: voice.task.add_observer(observer))
    return start_server(video_runtime, config), observer


class Camera:
    """A 10 frames-a-second camera that shows the visitor or the empty room."""

    def __init__(self) -> None:
        self.face = [encode_camera_jpeg(cv2.resize(f, (320, 240)))
                     for f in webcam_clip(2.0, fps=10.0)]
        self.empty = encode_camera_jpeg(cv2.resize(room_background(640, 480), (320, 240)))
        self.visitor = False

    async def run(self, client: VoiceClient) -> None:
        k = 0
        while True:
            jpeg = self.face[k % len(self.face)] if self.visitor else self.empty
            with contextlib.suppress(Exception):
                await client.send_camera_jpeg(jpeg)
            k += 1
            await asyncio.sleep(0.1)


class Visit:
    """Everything one client received, and waiting for the next event of a kind."""

    def __init__(self, client: VoiceClient) -> None:
        self.items: list[Any] = []
        self._new = asyncio.Event()
        self.task = asyncio.create_task(self._listen(client))

    async def _listen(self, client: VoiceClient) -> None:
        async for item in client.receive():
            self.items.append(item)
            self._new.set()
            if isinstance(item, Closed):
                return

    async def wait_for(self, test: Callable[[Any], bool], within: float, after: int = 0) -> int:
        """Index of the first item from `after` on that passes `test`."""
        async with asyncio.timeout(within):
            while True:
                for index in range(after, len(self.items)):
                    if test(self.items[index]):
                        return index
                self._new.clear()
                await self._new.wait()


def said(items: list[Any]) -> str:
    """The bot's spoken text among `items`."""
    return " ".join(i.text for i in items if isinstance(i, BotOutput))


async def test_the_next_visitor_inherits_nothing_of_the_last(
        kiosk_server: tuple[Any, LLMRequests], say: Callable[[str], bytes]) -> None:
    server, observer = kiosk_server
    camera = Camera()
    async with await VoiceClient.connect(server.url, video_out={"size": 256},
                                         video_in="camera", presence=True) as client:
        assert client.welcome.presence is not None
        assert client.welcome.presence["away_secs"] == AWAY_SECS
        assert client.presence_state == "away"
        visit = Visit(client)
        mic = asyncio.create_task(client.stream_pcm(bytes(16000 * 2 * 120)))  # live silence
        cam = asyncio.create_task(camera.run(client))
        try:
            await asyncio.sleep(2.0)
            assert not any(isinstance(i, VisitorArrived) for i in visit.items)  # nobody yet
            # visitor A walks up, is greeted, and tells a secret
            camera.visitor = True
            a_arrived = await visit.wait_for(lambda i: isinstance(i, VisitorArrived), 30)
            greeted = await visit.wait_for(lambda i: isinstance(i, BotOutput), 60, a_arrived)
            assert "welcome" in said(visit.items[greeted:greeted + 1]).lower()
            mic.cancel()
            await client.stream_pcm(say(f"Please remember my secret word. It is {SECRET}."))
            mic = asyncio.create_task(client.stream_pcm(bytes(16000 * 2 * 120)))
            await visit.wait_for(lambda i: isinstance(i, UserTranscription) and i.final
                                 and SECRET in i.text.lower(), 60, greeted)
            answered = await visit.wait_for(
                lambda i: isinstance(i, BotOutput), 90,
                next(k for k in range(len(visit.items) - 1, -1, -1)
                     if isinstance(visit.items[k], UserTranscription)))
            assert any(SECRET in str(m.get("content", "")).lower() for m in observer.requests[-1])
            # A walks away: after AWAY_SECS of nobody the conversation is forgotten
            await asyncio.sleep(1.0)
            camera.visitor = False
            left = await visit.wait_for(lambda i: isinstance(i, VisitorLeft), 60, answered)
            assert visit.items[left].away_secs == AWAY_SECS
            assert client.presence_state == "away"
            requests_before_b = len(observer.requests)
            # visitor B walks up and asks what the last visitor said
            await asyncio.sleep(2.0)
            camera.visitor = True
            b_arrived = await visit.wait_for(lambda i: isinstance(i, VisitorArrived), 30, left)
            b_greeted = await visit.wait_for(lambda i: isinstance(i, BotOutput), 60, b_arrived)
            mic.cancel()
            await client.stream_pcm(say("What was the secret word the last person told you?"))
            mic = asyncio.create_task(client.stream_pcm(bytes(16000 * 2 * 60)))
            asked = await visit.wait_for(lambda i: isinstance(i, UserTranscription) and i.final,
                                         60, b_greeted)
            await visit.wait_for(lambda i: isinstance(i, BotOutput), 90, asked)
            await asyncio.sleep(1.0)
        finally:
            cam.cancel()
            mic.cancel()
    visit.task.cancel()
    after_left = visit.items[left + 1:]
    # B's answer and captions hold nothing of A's
    assert SECRET not in said(after_left).lower()
    assert not any(SECRET in i.text.lower() for i in after_left
                   if isinstance(i, UserTranscription))
    # ...and no request made for B holds a message of A's: the greeting and B's words only
    b_requests = observer.requests[requests_before_b:]
    assert b_requests, "B's question reached the LLM"
    for messages in b_requests:
        contents = " ".join(str(m.get("content", "")).lower() for m in messages)
        assert SECRET not in contents
        assert sum(m.get("role") == "user" for m in messages) == 1  # B's question alone
    states = [i.state for i in visit.items if isinstance(i, PresenceEvent)]
    assert states[:2] == ["approaching", "engaged"]
    assert "away" in states
    assert any(isinstance(i, BotAudio) for i in visit.items[a_arrived:greeted + 1])


async def test_a_kiosk_whose_camera_sends_garbage_engages_on_words_and_ends_on_silence(
        kiosk_server: tuple[Any, LLMRequests], say: Callable[[str], bytes]) -> None:
    """Garbage frames are refused (one error event) and never engage; presence falls
    back to the voice: the first words engage, silence for AWAY_SECS ends the visit."""
    server, _ = kiosk_server
    async with await VoiceClient.connect(server.url, video_out={"size": 256},
                                         video_in="camera", presence=True) as client:
        visit = Visit(client)
        for _ in range(10):
            await client.send_camera_jpeg(b"\xff\xd8\xff" + bytes(range(200)))
            await client.stream_pcm(bytes(3200))
        await client.stream_pcm(bytes(16000 * 2 * 1))
        assert any(isinstance(i, ErrorEvent) and i.code == "bad_camera_frame" for i in visit.items)
        assert not any(isinstance(i, VisitorArrived) for i in visit.items)
        await client.stream_pcm(say("Hello, is anybody there?"))
        mic = asyncio.create_task(client.stream_pcm(bytes(16000 * 2 * 90)))
        try:
            arrived = await visit.wait_for(lambda i: isinstance(i, VisitorArrived), 30)
            assert "no camera" in visit.items[arrived].reason
            await visit.wait_for(lambda i: isinstance(i, VisitorLeft), 90, arrived)
        finally:
            mic.cancel()
    visit.task.cancel()
