"""A session's full garbage collection waits for a moment no other face is mid-reply.

The collection holds the interpreter lock for 20-120 ms, and each live WebRTC voice
waits for it (pipelines/face/quiet_moment.py). These run the real scheduling on a
real event loop, with its delays shortened; the collection itself is passed in so
the test sees when it ran.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from pipelines.face import quiet_moment
from pipelines.face.reply_state import ReplyState
from pipelines.face.server_hooks import ServerHooks


@pytest.fixture
def short_delays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quiet_moment, "COLLECT_AFTER_SECS", 0.05)
    monkeypatch.setattr(quiet_moment, "QUIET_POLL_SECS", 0.02)
    monkeypatch.setattr(quiet_moment, "MAX_DEFER_SECS", 0.5)


@pytest.fixture
def face_mid_reply(short_delays: None) -> Iterator[ReplyState]:
    """Another live face, voicing a reply, for as long as the test runs."""
    reply = ReplyState(in_reply=True)
    quiet_moment.track(reply)
    yield reply
    quiet_moment.forget(reply)


def test_a_face_mid_reply_or_thinking_is_not_quiet() -> None:
    reply = ReplyState()
    quiet_moment.track(reply)
    try:
        assert quiet_moment.quiet()
        reply.in_reply = True
        assert not quiet_moment.quiet()
        reply.in_reply = False
        reply.thinking_until = time.monotonic() + 10
        assert not quiet_moment.quiet()
    finally:
        quiet_moment.forget(reply)
    assert quiet_moment.quiet(), "an ended face no longer counts"


async def test_the_collection_waits_for_the_reply_to_end(face_mid_reply: ReplyState) -> None:
    ran: list[float] = []
    started = time.monotonic()
    quiet_moment.collect_when_quiet(asyncio.get_running_loop(), lambda: ran.append(time.monotonic()))
    await asyncio.sleep(0.2)
    assert ran == [], "collected while another face was voicing a reply"
    face_mid_reply.in_reply = False
    await asyncio.sleep(0.1)
    assert len(ran) == 1 and ran[0] - started >= 0.2


async def test_a_reply_that_never_ends_delays_the_collection_only_so_long(
        face_mid_reply: ReplyState) -> None:
    ran: list[float] = []
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    quiet_moment.collect_when_quiet(loop, lambda: ran.append(time.monotonic()))
    quiet_moment.collect_when_quiet(loop, lambda: ran.append(-1.0))  # joins the pending one
    await asyncio.sleep(0.8)
    assert len(ran) == 1 and ran[0] > 0, "two ended sessions: one collection"
    assert ran[0] - started >= 0.5  # COLLECT_AFTER_SECS + MAX_DEFER_SECS, not before


def test_a_collection_left_pending_on_a_closed_loop_does_not_block_the_next(
        short_delays: None) -> None:
    """A server's loop that closed with a collection pending (a test's, a restart's)."""
    ran: list[str] = []
    old = asyncio.new_event_loop()
    quiet_moment.collect_when_quiet(old, lambda: ran.append("old"))
    old.close()

    async def on_a_new_loop() -> None:
        quiet_moment.collect_when_quiet(asyncio.get_running_loop(), lambda: ran.append("new"))
        await asyncio.sleep(0.2)

    asyncio.run(on_a_new_loop())
    assert ran == ["new"]


async def test_our_servers_hooks_track_a_face_until_it_ends(short_delays: None) -> None:
    hooks = ServerHooks(release_memory_after=True)
    reply = ReplyState(in_reply=True)
    hooks.register(None, reply)
    assert not quiet_moment.quiet()
    hooks.session_ended(reply)  # a collection is scheduled too (the real one)
    assert quiet_moment.quiet()
    await asyncio.sleep(0.1)
    # a pipecat app's hooks (no memory care) leave the registry alone
    ServerHooks().register(None, ReplyState(in_reply=True))
    assert quiet_moment.quiet()
