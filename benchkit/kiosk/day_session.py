"""One visitor of a working-day soak (bench/kiosk/day_soak.py): a real v2 client with its
camera on that asks three spoken questions, sometimes cuts the avatar off, and
sometimes walks away without closing.

Why these three kinds: each leaves different state behind in a server. A barge-in
cancels a reply mid-sentence (the face's held frames, the TTS queue, the LLM stream);
a vanished client leaves a socket that sends nothing and never closes (the server
finds out by its keepalive or the next write); a clean close is the common case.
A session that only ever closes cleanly would miss the first two.

The schedule is fixed by the session's number (`kind_of`), so two runs of the soak
(plain server, fleet replica) see the same mix.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sdk.client import VoiceClient
from sdk.errors import ClientError, HandshakeError
from sdk.handshake import session_url
from sdk.items import BotAudio, Closed
from sdk.talk import talk

#: every BARGE_EVERY-th session interrupts its second reply at its first audio
BARGE_EVERY = 3
#: every VANISH_EVERY-th session drops its socket without a close (after its turns)
VANISH_EVERY = 5


def kind_of(number: int) -> tuple[bool, bool]:
    """(barges in, vanishes) for session `number` (from 0)."""
    return number % BARGE_EVERY == 1, number % VANISH_EVERY == 3


@dataclass
class Visit:
    """What one session did, booked by the soak."""

    number: int
    opened: float
    barge_in: bool
    vanished: bool
    turns_ok: int = 0
    turns_failed: int = 0
    frames: int = 0
    ended: float | None = None
    error: str | None = None
    refused: list[str] = field(default_factory=list)


async def _barge_in(client: VoiceClient, question: bytes, within: float) -> bool:
    """Ask, and return at the reply's first audible chunk (the next question then
    speaks over the reply, so the server cancels it): True if the reply started."""
    speaker = asyncio.create_task(client.stream_pcm(question))
    try:
        async def first_audio() -> bool:
            async for item in client.receive():
                if isinstance(item, BotAudio) and item.pcm.strip(b"\x00") and speaker.done():
                    return True
                if isinstance(item, Closed):
                    return False
            return False

        return await asyncio.wait_for(first_audio(), within)
    except TimeoutError:
        return False
    finally:
        speaker.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await speaker


async def _open(base_url: str, size: int, busy_secs: float) -> VoiceClient:
    """A session through the server's `/session` (the fleet's door or one machine's),
    waiting for a slot while the machine is full, as a kiosk page does."""
    deadline = time.monotonic() + busy_secs
    while True:
        try:
            url = await session_url(base_url, http_timeout=10.0)
            return await VoiceClient.connect(url, video_out={"size": size},
                                             video_in="camera", open_timeout=15.0)
        except HandshakeError as error:
            if error.code != "server_busy" or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.5)


async def visit(number: int, base_url: str, questions: Sequence[bytes], camera_clip: Path,
                *, size: int, turns: int = 3, turn_timeout: float = 60.0,
                clock: float = 0.0) -> Visit:
    """One whole session; never raises (a failure is booked on the Visit)."""
    barge, vanish = kind_of(number)
    booked = Visit(number=number, opened=time.monotonic() - clock, barge_in=barge,
                   vanished=vanish)
    try:
        client = await _open(base_url, size, busy_secs=120.0)
    except (ClientError, OSError, TimeoutError) as error:
        booked.error = f"connect: {str(error)[:120]}"
        booked.ended = time.monotonic() - clock
        return booked
    try:
        for turn in range(turns):
            question = questions[(number * turns + turn) % len(questions)]
            if barge and turn == 1:
                booked.turns_ok += await _barge_in(client, question, turn_timeout)
                continue
            result = await talk(client, question, timeout_secs=turn_timeout,
                                video_path=camera_clip, tail_secs=0.2)
            booked.frames += len(result.video)
            if result.completed:
                booked.turns_ok += 1
            else:
                booked.turns_failed += 1
            if result.restarted is not None:
                break
    except (ClientError, OSError, TimeoutError) as error:
        booked.error = f"turn: {type(error).__name__}: {str(error)[:120]}"
    finally:
        if vanish:  # gone without a word: no close frame, the socket just dies
            with contextlib.suppress(Exception):
                client._ws.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close(), 5.0)
        booked.ended = time.monotonic() - clock
    return booked
