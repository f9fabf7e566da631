"""Notices a WebRTC visitor who left without hanging up: their packets stop coming.

Why: a browser that closes without a goodbye (the window shut, the laptop closed,
the network gone) tells the server nothing. aiortc gives the peer up only when its
ICE consent checks have failed six times, about 30 s later, and until then the
session draws and sends its face at 25 images a second for nobody (and a kiosk with
a session slot held cannot take the next visitor). A connected browser sends
something all the time: its microphone's RTP (a muted microphone sends silence),
the camera's, and RTCP reports about every second. So when no packet of the peer's
has arrived for `PEER_SILENT_SECS`, it is gone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger

#: no packet from the peer for this long (s): it has left. Chromium sends RTCP at
#: least every second and its microphone 50 packets a second; aiortc's own
#: verdict (ICE consent) takes about 30 s
PEER_SILENT_SECS = 5.0
#: how often the peer's packet counters are read (s)
CHECK_SECS = 1.0


async def packets_received(peer_connection: Any) -> int:
    """Every packet aiortc's `peer_connection` has received so far: its transports'
    datagrams (RTP and RTCP), or its inbound RTP streams' where those are missing."""
    report = await peer_connection.getStats()
    transport = inbound = 0
    for stats in report.values():
        count = getattr(stats, "packetsReceived", None) or 0
        if stats.type == "transport":
            transport += count
        elif stats.type == "inbound-rtp":
            inbound += count
    return transport or inbound


async def watch_peer(peer_connection: Any, on_gone: Callable[[float], Awaitable[None]], *,
                     silent_secs: float = PEER_SILENT_SECS, check_secs: float = CHECK_SECS
                     ) -> None:
    """Call `on_gone(silent_secs_seen)` once, when the peer has sent packets and then
    none for `silent_secs`; runs until then or until cancelled. A peer that never sent
    anything is left to the caller's own connect deadline."""
    last_count, last_change = -1, time.monotonic()
    while True:
        await asyncio.sleep(check_secs)
        try:
            count = await packets_received(peer_connection)
        except Exception as error:  # aiortc's stats changed or the connection is closing
            logger.debug(f"peer watch: no stats ({error!r})")
            continue
        now = time.monotonic()
        if count != last_count:
            last_count, last_change = count, now
            continue
        if count > 0 and now - last_change >= silent_secs:
            await on_gone(now - last_change)
            return
