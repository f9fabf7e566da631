"""The Python SDK reconnects after a drop, like the browser SDK (issue 37).

Against a real server of ours (whisper, piper, SmolLM2): the connection is cut
under the client by a loopback TCP relay that drops every connection at once (a
network cut: no close frame, 1006), or the server itself is stopped and started
again on the same port. With `reconnect` the client opens a new session with
back-off and `receive()` says so with a `SessionRestarted` (the new session
remembers nothing), then the conversation goes on in the new session; without it
`receive()` ends with `Closed`, as before; a policy that gives up ends with
`Closed` too.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from sdk.client import VoiceClient
from sdk.items import BotVideo, Closed
from sdk.reconnect import ReconnectPolicy, SessionRestarted, may_reconnect, reconnect_policy
from sdk.talk import talk
from tests.loopback_relay import FrozenRelay

QUICK = ReconnectPolicy(first_delay_secs=0.2, max_delay_secs=1.0, max_attempts=30)


@pytest.fixture
async def relay(voice_server: Any) -> AsyncIterator[FrozenRelay]:
    port = int(voice_server.http.rsplit(":", 1)[1])
    relay = await FrozenRelay(port).start()
    yield relay
    await relay.close()


async def _until(client: VoiceClient, kinds: tuple[type, ...], within: float = 30.0) -> Any:
    """Read `receive()` until an item of one of `kinds` (media and events skipped)."""

    async def read() -> Any:
        async for item in client.receive():
            if isinstance(item, kinds):
                return item
        raise AssertionError("receive() ended without a Closed")

    return await asyncio.wait_for(read(), within)


# ------------------------------------------------------------------ the policy (no I/O)


def test_the_default_back_off_is_the_browser_sdks_with_jitter() -> None:
    steady = ReconnectPolicy(jitter=0.0)
    assert [steady.delay_secs(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    jittered = ReconnectPolicy()
    rng = random.Random(7)
    for attempt in range(40):
        base = steady.delay_secs(attempt)
        delays = {jittered.delay_secs(attempt, rng) for _ in range(20)}
        assert all(0.8 * base <= d <= 1.2 * base for d in delays), (attempt, delays)
        assert len(delays) > 1  # spread, so cut clients do not all knock at once
    assert jittered.gives_up_after(10) and not jittered.gives_up_after(9)
    assert not ReconnectPolicy(max_attempts=0).gives_up_after(10_000)


@pytest.mark.parametrize("bad", [dict(first_delay_secs=-1), dict(first_delay_secs=6.0),
                                 dict(factor=0.5), dict(jitter=1.0), dict(max_attempts=-1)])
def test_a_bad_policy_is_refused_with_the_field_named(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="reconnect|max_attempts"):
        ReconnectPolicy(**bad)


def test_reconnect_switch_and_close_codes() -> None:
    assert reconnect_policy(False) is None and reconnect_policy(None) is None
    assert reconnect_policy(True) == ReconnectPolicy()
    assert reconnect_policy(QUICK) is QUICK
    with pytest.raises(ValueError, match="reconnect must be"):
        reconnect_policy("yes")  # type: ignore[arg-type]
    # a drop, a restart, a crash, a busy server: again; a refused token, bad data: never
    assert all(may_reconnect(code) for code in (None, 1000, 1001, 1006, 1011, 1012, 1013))
    assert not any(may_reconnect(code) for code in (1002, 1003, 1007, 1008, 1009))


# ------------------------------------------------------------------ against a real server


@pytest.mark.e2e
async def test_a_cut_connection_restarts_the_session_and_the_conversation_goes_on(
        relay: FrozenRelay, voice_server: Any, say: Callable[[str], bytes]) -> None:
    async with await VoiceClient.connect(relay.url, reconnect=QUICK,
                                         busy_retry_secs=60) as client:
        first_session = client.welcome.session_id
        await client.ping("before")
        relay.cut()
        restarted = await _until(client, (SessionRestarted, Closed))
        assert isinstance(restarted, SessionRestarted), restarted
        assert restarted.type == "session-restarted"
        assert restarted.previous_session_id == first_session
        assert restarted.session_id == client.welcome.session_id != first_session
        assert restarted.code is None  # no close frame: a cut, not a close
        assert restarted.attempts >= 1 and restarted.downtime_secs > 0
        assert client.reconnects == 1 and relay.connections == 2
        # the old session is gone from the server, the new one talks
        for _ in range(100):
            if first_session not in voice_server.registry.active:
                break
            await asyncio.sleep(0.1)
        assert first_session not in voice_server.registry.active
        question = "Where can I find the cafe?"
        result = await talk(client, say(question), timeout_secs=90)
        assert result.completed and result.reply_text and result.restarted is None


@pytest.mark.e2e
async def test_a_restarted_server_gets_the_client_back(
        runtime: Any, start_server: Any, say: Callable[[str], bytes]) -> None:
    from tests.pipelines.conftest import free_port

    port = free_port()
    server = start_server(runtime, port=port)
    async with await VoiceClient.connect(server.http, reconnect=QUICK) as client:
        first_session = client.welcome.session_id
        waiting = asyncio.create_task(_until(client, (SessionRestarted, Closed), within=60))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(server.stop)  # a graceful shutdown: every session is ended
        await asyncio.sleep(1.0)  # down for a while: the client keeps trying
        await client.ping("while down")  # dropped and counted, not raised
        assert client.dropped_sends == 1
        start_server(runtime, port=port)
        restarted = await waiting
        assert isinstance(restarted, SessionRestarted), restarted
        assert restarted.previous_session_id == first_session != restarted.session_id
        assert restarted.attempts >= 2 and restarted.downtime_secs >= 1.0
        result = await talk(client, say("What time do you close today?"), timeout_secs=90)
        assert result.completed and result.reply_text


@pytest.mark.e2e
async def test_a_frozen_face_session_counts_as_dropped_and_is_reopened(
        video_runtime: Any, start_server: Any) -> None:
    server = start_server(video_runtime)
    relay = await FrozenRelay(int(server.http.rsplit(":", 1)[1])).start()
    try:
        policy = ReconnectPolicy(first_delay_secs=0.2, max_delay_secs=1.0, max_attempts=30,
                                 stall_secs=2.0)
        async with await VoiceClient.connect(relay.url, reconnect=policy, busy_retry_secs=60,
                                             video_out={"size": 256}) as client:
            first_session = client.welcome.session_id
            await _until(client, (BotVideo,))  # the face streams
            relay.freeze()  # no data and no close: only the stall can tell
            restarted = await _until(client, (SessionRestarted, Closed), within=30)
            assert isinstance(restarted, SessionRestarted), restarted
            assert restarted.previous_session_id == first_session != restarted.session_id
            assert restarted.code is None and restarted.reason == "no data for 2 s"
            assert relay.connections == 2
            frame = await _until(client, (BotVideo,))  # the new session has a face
            assert frame.rgb().shape[0] == 256
    finally:
        await relay.close()


@pytest.mark.e2e
async def test_without_reconnect_a_cut_ends_receive_with_closed(relay: FrozenRelay) -> None:
    async with await VoiceClient.connect(relay.url, busy_retry_secs=60) as client:
        relay.cut()
        closed = await _until(client, (SessionRestarted, Closed))
        assert isinstance(closed, Closed) and closed.code is None
        assert client.reconnects == 0 and relay.connections == 1
        with pytest.raises(Exception, match="1006|no close frame"):
            await client.ping("after")  # off: a send on a dead socket still raises


@pytest.mark.e2e
async def test_a_policy_that_gives_up_ends_with_the_drops_closed(relay: FrozenRelay) -> None:
    policy = ReconnectPolicy(first_delay_secs=0.1, max_delay_secs=0.2, max_attempts=3)
    async with await VoiceClient.connect(relay.url, reconnect=policy,
                                         busy_retry_secs=60) as client:
        await relay.close()  # cut, and nothing listens any more
        closed = await _until(client, (SessionRestarted, Closed))
        assert isinstance(closed, Closed) and closed.code is None
        assert client.reconnects == 0 and relay.connections == 1
        with pytest.raises(Exception, match="1006|no close frame"):
            await client.ping("after")  # given up: a send raises as without reconnect
