"""A reply to a turn end the visitor then talks past is withdrawn without a sound (issue 25).

A real video session on the real models: the visitor asks "Where are the restrooms?",
the server takes the turn (`user-stopped-speaking`), and the visitor goes straight on
("And where is the cafe?") before any reply could be heard. Whatever the server had
prepared for the first half must not reach the visitor: no reply audio, no caption,
no `bot-started-speaking` until the whole request is in, while the face goes on
moving (it listens); then one reply, to one user message holding both halves.

The second half starts the moment the client hears the turn end, the worst case: a
reply ready at the turn end (the eager reply, a store answer) once went out ~0.2 s
later, before the server had heard the visitor go on (a CI run). The reply now waits
for 0.15 s of the visitor's audio past the turn end (pipelines/turns/reply_margin.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from pipelines.server.app import ServerConfig
from sdk.client import VoiceClient
from sdk.items import BotAudio, BotVideo

pytestmark = pytest.mark.e2e

RATE = 16000
#: a chunk louder than this (int16 RMS) is voice, not the silence a video session streams
VOICED_RMS = 200.0


def _voiced(chunk: BotAudio) -> bool:
    samples = np.frombuffer(chunk.pcm, dtype=np.int16).astype(np.float32)
    return bool(samples.size) and float(np.sqrt(np.mean(samples**2))) > VOICED_RMS


def _from_first_word(pcm: bytes) -> bytes:
    samples = np.frombuffer(pcm, dtype=np.int16)
    loud = np.nonzero(np.abs(samples) > 1000)[0]
    return samples[max(0, int(loud[0]) - int(0.02 * RATE)):].tobytes()


async def test_a_reply_the_visitor_talks_past_is_withdrawn_without_a_sound(
        video_runtime: Any, start_server: Any, say: Callable[[str], bytes]) -> None:
    sessions: list[Any] = []
    server = start_server(video_runtime, ServerConfig(on_session=sessions.append))
    # the second half starts at its first word (no lead-in): the visitor goes straight
    # on, before any reply could have been heard
    first, second = say("Where are the restrooms?"), _from_first_word(say("And where is the cafe?"))
    items: list[tuple[float, Any]] = []
    turn_taken = asyncio.Event()
    async with await VoiceClient.connect(server.url, video_out={"size": 256},
                                         busy_retry_secs=60) as client:
        async def listen() -> None:
            async for item in client.receive():
                items.append((time.monotonic(), item))
                if getattr(item, "type", "") == "user-stopped-speaking":
                    turn_taken.set()

        listener = asyncio.create_task(listen())
        await client.stream_pcm(first)
        silence = bytes(int(0.02 * RATE) * 2)
        deadline = time.monotonic() + 10.0
        while not turn_taken.is_set() and time.monotonic() < deadline:
            await client.stream_pcm(silence)  # a live mic: silence until the turn is taken
        assert turn_taken.is_set(), "the server never took the turn after the question"
        resumed_at = time.monotonic()
        await client.stream_pcm(second)
        await client.stream_pcm(bytes(int(8.0 * RATE) * 2))
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener

    def kind(item: Any) -> str:
        return str(getattr(item, "type", ""))

    taken_at = next(t for t, item in items if kind(item) == "user-stopped-speaking")
    # the second half's own start, as the server heard it
    heard_again = next((t for t, item in items
                        if t > taken_at and kind(item) == "user-started-speaking"), None)
    assert heard_again is not None, "the server never heard the second half"
    pending = [(t, item) for t, item in items if taken_at <= t <= heard_again + 0.3]
    said = [kind(item) for _, item in pending
            if kind(item) in ("bot-started-speaking", "bot-tts-text", "bot-output")]
    assert not said, f"the withdrawn reply reached the visitor: {said}"
    assert not [item for _, item in pending if isinstance(item, BotAudio) and _voiced(item)], (
        "reply audio was heard between the turn end and the visitor going on")
    # the face kept moving meanwhile: listening, not frozen and not talking
    frames = [item for _, item in pending if isinstance(item, BotVideo)]
    assert len(frames) >= 5 and len({f.jpeg for f in frames}) > 1
    # then one reply, to the whole request
    replies = [t for t, item in items if kind(item) == "bot-started-speaking"]
    assert len(replies) == 1 and replies[0] > resumed_at, replies
    users = [str(dict(m)["content"]).lower() for m in sessions[-1].context.get_messages()
             if dict(m)["role"] == "user"]
    assert len(users) == 1 and "restroom" in users[0] and "cafe" in users[0], users
