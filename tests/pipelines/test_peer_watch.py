"""A WebRTC visitor who leaves without hanging up is noticed (pipelines/server/peer_watch.py).

Real aiortc peers on loopback: the "browser" sends a microphone track; the server's
watch stays quiet while its packets come (a muted microphone still sends), and
reports the peer gone a few seconds after its sockets close without a goodbye (no
DTLS close, no BYE: a window shut, a laptop closed), long before aiortc's own ICE
consent checks would (about 30 s).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack

from pipelines.server.peer_watch import packets_received, watch_peer

SILENT_SECS = 1.5
CHECK_SECS = 0.25


async def connected_pair() -> tuple[RTCPeerConnection, RTCPeerConnection]:
    """A "browser" sending a microphone (aiortc's silence track) to a "server"."""
    browser, server = RTCPeerConnection(), RTCPeerConnection()
    browser.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await browser.setLocalDescription(await browser.createOffer())
    await server.setRemoteDescription(browser.localDescription)
    await server.setLocalDescription(await server.createAnswer())
    await browser.setRemoteDescription(server.localDescription)
    deadline = time.monotonic() + 10
    while await packets_received(server) == 0:
        assert time.monotonic() < deadline, "no packet reached the server"
        await asyncio.sleep(0.05)
    return browser, server


def vanish(peer: RTCPeerConnection) -> None:
    """Close the peer's sockets without any goodbye (what a closed laptop does)."""
    for transceiver in peer.getTransceivers():
        connection: Any = transceiver.sender.transport.transport._connection
        for protocol in connection._protocols:
            protocol.transport.close()


async def test_a_peer_that_vanishes_is_noticed_and_a_talking_one_is_not() -> None:
    browser, server = await connected_pair()
    gone: list[float] = []

    async def on_gone(silent_secs: float) -> None:
        gone.append(silent_secs)

    watch = asyncio.create_task(watch_peer(server, on_gone, silent_secs=SILENT_SECS,
                                           check_secs=CHECK_SECS))
    try:
        await asyncio.sleep(2 * SILENT_SECS)
        assert gone == [], "the watch gave up on a peer whose microphone was sending"
        vanish(browser)
        left_at = time.monotonic()
        await asyncio.wait_for(watch, 10.0)
        noticed_after = time.monotonic() - left_at
        assert len(gone) == 1 and gone[0] >= SILENT_SECS
        # well before aiortc's own verdict, which the server still sees as connected
        assert noticed_after < 10.0 and server.connectionState == "connected"
    finally:
        watch.cancel()
        await browser.close()
        await server.close()


async def test_a_peer_that_never_sent_is_left_to_the_connect_deadline() -> None:
    idle = RTCPeerConnection()
    gone: list[float] = []

    async def on_gone(silent_secs: float) -> None:
        gone.append(silent_secs)

    watch = asyncio.create_task(watch_peer(idle, on_gone, silent_secs=0.3, check_secs=0.1))
    await asyncio.sleep(1.0)
    assert gone == [] and not watch.done()
    watch.cancel()
    await idle.close()
