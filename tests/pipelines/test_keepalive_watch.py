"""The keepalive watch (pipelines/server/keepalive.py) and its wire messages, without a
server: pings go out every interval; a client that answered once and then went
silent is reported gone; one that never answered (a v2.1 client) never is."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import pytest

from pipelines.server.keepalive import KeepaliveParams, watch_keepalive
from pipelines.wire.protocol_session import ProtocolSession
from pipelines.wire.serializer import ProtocolV1Serializer
from sdk.events import KeepalivePing
from sdk.protocol import KeepalivePong, parse_server_message

FAST = KeepaliveParams(interval_secs=0.05, timeout_secs=0.3)


@dataclass
class Client:
    """What the watch reads of a client (the serializer's two fields)."""

    last_received_at: float = field(default_factory=time.monotonic)
    pongs: int = 0
    pings: list[int] = field(default_factory=list)

    def send(self, text: str) -> None:
        self.pings.append(parse_server_message(text).id)  # type: ignore[attr-defined]


async def test_an_answering_client_is_pinged_and_kept_then_let_go_once_silent() -> None:
    client, gone = Client(), asyncio.Event()

    async def on_gone(silent: float) -> None:
        assert silent > FAST.timeout_secs
        gone.set()

    watch = asyncio.create_task(watch_keepalive(client, client.send, on_gone, FAST))
    for _ in range(12):  # 0.6 s of answers: twice the timeout, kept
        await asyncio.sleep(0.05)
        client.last_received_at, client.pongs = time.monotonic(), client.pongs + 1
    assert not gone.is_set() and not watch.done()
    assert client.pings[:3] == [1, 2, 3]
    async with asyncio.timeout(2):  # then nothing: let go
        await gone.wait()
    await watch


async def test_a_client_that_never_answered_is_never_let_go() -> None:
    client = Client()
    watch = asyncio.create_task(
        watch_keepalive(client, client.send, lambda _s: asyncio.sleep(0), FAST))
    await asyncio.sleep(4 * FAST.timeout_secs)
    assert not watch.done() and len(client.pings) >= 10
    watch.cancel()


def test_bad_params_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="interval_secs < timeout_secs"):
        KeepaliveParams(interval_secs=8.0, timeout_secs=2.0)


async def test_the_serializer_counts_pongs_and_every_message_as_heard() -> None:
    session = ProtocolSession()
    session.receive(json.dumps({"type": "hello", "protocol": 2,
                                "audio_in": {"sample_rate": 16000}}))
    ticks = iter([10.0, 11.0, 12.0])
    serializer = ProtocolV1Serializer(session, clock=lambda: next(ticks))
    assert await serializer.deserialize(KeepalivePong(id=3).model_dump_json()) is None
    assert (serializer.pongs, serializer.last_received_at) == (1, 11.0)
    await serializer.deserialize(json.dumps({"type": "ping", "id": 1}))
    assert (serializer.pongs, serializer.last_received_at) == (1, 12.0)
    assert KeepalivePing(id=4).model_dump(exclude_none=True) == {"type": "ping", "id": 4}
