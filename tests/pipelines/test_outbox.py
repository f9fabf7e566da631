"""Backpressure (issue 27, docs/PROTOCOL.md): a client that stops reading loses video, never audio.

The unit tests drive `SessionOutbox` with a socket that the test opens and
closes (the network peer is the system edge); the e2e test stops reading a real
video session on the real server for 6 s.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from websockets.asyncio.client import connect

from pipelines.server.app import ServerConfig
from pipelines.wire.outbox import OutboxLimits, SessionOutbox, is_video_message
from sdk.protocol import MediaKind, decode_media, encode_media


class Socket:
    """A peer that reads only while `open` is set; records what it read, in order."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.open.set()
        self.read: list[bytes | str] = []

    async def send(self, message: bytes | str) -> None:
        await self.open.wait()
        self.read.append(message)


def audio(n: int) -> bytes:
    return encode_media(MediaKind.AUDIO, bytes(1764), pts_us=n * 40_000)


def video(n: int) -> bytes:
    return encode_media(MediaKind.VIDEO, b"\xff\xd8\xff" + bytes(3000), pts_us=n * 40_000)


def test_only_kind_2_messages_are_video() -> None:
    assert is_video_message(video(0))
    assert not is_video_message(audio(0))
    assert not is_video_message('{"type":"bot-interrupted"}')
    assert not is_video_message(b"\x02")  # shorter than a header: not a media message


async def test_a_reading_client_gets_everything_in_order() -> None:
    peer = Socket()
    outbox = SessionOutbox(peer.send)
    sent = [m for n in range(50) for m in (video(n), audio(n))] + ['{"type":"pong"}']
    for i, message in enumerate(sent):
        outbox.put(message)
        if i % 2:
            await asyncio.sleep(0)  # the pipeline yields between frames (it paces audio)
    assert await outbox.flush(5.0)
    assert peer.read == sent and outbox.video_dropped == 0
    await outbox.close()


async def test_a_stalled_client_loses_old_video_but_no_audio_and_no_event() -> None:
    peer = Socket()
    peer.open.clear()  # the client stops reading
    outbox = SessionOutbox(peer.send, limits=OutboxLimits(max_video_frames=3))
    for n in range(100):  # 4 s of frames while nothing drains
        outbox.put(video(n))
        outbox.put(audio(n))
        if n == 50:
            outbox.put('{"type":"bot-interrupted"}')
    await asyncio.sleep(0)
    peer.open.set()
    assert await outbox.flush(5.0)
    audio_read = [m for m in peer.read if isinstance(m, bytes) and m[0] == MediaKind.AUDIO]
    video_read = [decode_media(m).pts_us // 40_000 for m in peer.read
                  if isinstance(m, bytes) and is_video_message(m)]
    assert audio_read == [audio(n) for n in range(100)]  # every audio message, in order
    assert '{"type":"bot-interrupted"}' in peer.read
    # what waited was the newest video (at most the one in flight besides): the rest dropped
    assert len(video_read) <= 4 and video_read[-3:] == [97, 98, 99]
    assert outbox.video_dropped == 100 - len(video_read)
    await outbox.close()


async def test_video_that_waited_too_long_is_dropped_at_its_turn() -> None:
    peer = Socket()
    peer.open.clear()
    outbox = SessionOutbox(peer.send, limits=OutboxLimits(max_video_delay_secs=0.05))
    outbox.put(audio(0))  # in flight: blocks the writer
    await asyncio.sleep(0)
    outbox.put(video(1))
    outbox.put(audio(1))
    await asyncio.sleep(0.1)  # the frame is now older than it may be shown
    peer.open.set()
    assert await outbox.flush(5.0)
    assert peer.read == [audio(0), audio(1)] and outbox.video_dropped == 1
    await outbox.close()


async def test_a_client_gone_for_good_ends_the_session_once_instead_of_growing() -> None:
    peer = Socket()
    peer.open.clear()
    reasons: list[str] = []

    async def on_overflow(reason: str) -> None:
        reasons.append(reason)

    outbox = SessionOutbox(peer.send, limits=OutboxLimits(max_unsent_bytes=50_000),
                           on_overflow=on_overflow)
    for n in range(100):  # 176 KB of audio, over the 50 KB limit
        outbox.put(audio(n))
    await asyncio.sleep(0.01)
    assert len(reasons) == 1 and "client not reading" in reasons[0]
    assert outbox.queued == 0  # nothing kept for a client that will not read it
    outbox.put(audio(100))
    assert outbox.queued == 0
    await outbox.close()


# --------------------------------------------------------------------------- e2e


@pytest.mark.e2e
async def test_a_client_that_stops_reading_for_6_s_loses_video_not_audio_and_not_the_clock(
    video_runtime: Any, start_server: Any
) -> None:
    """PROTOCOL.md: under backpressure video is dropped, never audio. The session's clock
    runs on while the client does not read: once it reads again, the audio it gets
    covers the wall time since the welcome (pipecat's send blocked the output task
    before, so the stream fell behind by the stall and stayed behind)."""
    server = start_server(video_runtime, ServerConfig(max_sessions=2))
    hello = {"type": "hello", "protocol": 2, "audio_in": {"sample_rate": 16000},
             "video_out": {"size": 256}}
    received: list[tuple[MediaKind, int]] = []
    dropped_reported = 0
    # max_queue: the client library stops reading the socket once 4 messages wait
    async with connect(server.url, max_queue=4, max_size=None) as ws:
        await ws.send(json.dumps(hello))
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        opened = time.monotonic()

        async def read_for(secs: float) -> None:
            nonlocal dropped_reported
            end = time.monotonic() + secs
            while (left := end - time.monotonic()) > 0:
                try:
                    message = await asyncio.wait_for(ws.recv(), left)
                except TimeoutError:
                    return
                if isinstance(message, bytes):
                    chunk = decode_media(message)
                    received.append((chunk.kind, chunk.pts_us))
                else:
                    event = json.loads(message)
                    if event.get("type") == "metrics" and event.get("kind") == "avatar":
                        dropped_reported = max(dropped_reported,
                                               int(event["values"].get("video_dropped", 0)))

        await read_for(3.0)
        before_stall = len(received)
        await asyncio.sleep(6.0)  # the client stops reading
        await read_for(8.0)
        wall_secs = time.monotonic() - opened
    audio_pts = [pts for kind, pts in received if kind == MediaKind.AUDIO]
    video_pts = [pts for kind, pts in received if kind == MediaKind.VIDEO]
    assert before_stall > 0 and audio_pts, "no stream before the stall"
    # no audio dropped: pts counts samples sent, so consecutive messages are 40 ms apart
    steps = {b - a for a, b in zip(audio_pts, audio_pts[1:], strict=False)}
    assert steps <= {39_999, 40_000, 40_001}, sorted(steps)[:5]
    # the clock ran on during the stall: the audio covers most of the wall time
    # (before, a stalled send froze it and the stream ended the stall's 6 s short)
    audio_secs = len(audio_pts) * 0.04
    assert audio_secs > wall_secs - 4.0, (audio_secs, wall_secs)
    # video gave way: frames the socket could not take were dropped and reported
    assert len(video_pts) < len(audio_pts) - 25, (len(video_pts), len(audio_pts))
    assert dropped_reported > 0
