"""Two aiortc peer connections in one process, for the WebRTC benches.

Why: the benches measure our sending side (pacers, links, writer processes) against
a real aiortc receiver on loopback; each needs the same offer and answer exchange
and a receiver that takes every track's frames, so that its jitter buffers run.
"""

from __future__ import annotations

import asyncio
from typing import Any


def drain_tracks(receiver: Any) -> None:
    """Take (and drop) every frame of every track `receiver` (an RTCPeerConnection)
    gets, from the moment it gets it."""

    @receiver.on("track")
    def on_track(received: Any) -> None:
        async def drain() -> None:
            while True:
                try:
                    await received.recv()
                except Exception:  # the track ended
                    return
        asyncio.ensure_future(drain())


async def offer_and_answer(sender: Any, receiver: Any) -> None:
    """Connect `sender` (which offers) and `receiver` (which answers) on loopback."""
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
