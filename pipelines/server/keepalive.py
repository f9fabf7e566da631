"""A presence session whose network is gone is ended within seconds (protocol v2.2).

A kiosk's page on Wi-Fi that loses the network sends no TCP FIN: the socket stays
open and nothing more arrives. Silence alone cannot tell that apart from a live
client that has nothing to say (a push-to-talk app between questions), so the
server asks: every `interval_secs` it sends a presence session a `ping` event, and
the client answers `pong` at once (the kiosk page and the SDK do). Once a session
has answered one `pong` (so it speaks v2.2), hearing nothing at all from it (no
pong, no audio, no camera frame) for `timeout_secs` ends it: the slot is given
back and the visit forgotten with the session. Sessions without presence are not
pinged; they are left to the websocket's own pings (uvicorn's, 20 s + 20 s), which
any connected client answers however long it is silent. A 2.1 client, which never
answers, is never ended by this.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from sdk.events import KeepalivePing
from sdk.protocol import encode_message

#: how often the silence is looked at: a gone client is noticed this soon after
#: `timeout_secs`
CHECK_SECS = 0.5


@dataclass(frozen=True)
class KeepaliveParams:
    """How often a presence session is pinged and how long it may stay silent."""

    #: one small message every 2 s
    interval_secs: float = 2.0
    #: four pings unanswered: Wi-Fi that drops for a few seconds and comes back keeps
    #: its session; one that does not is let go 8-8.5 s after its last message
    timeout_secs: float = 8.0

    def __post_init__(self) -> None:
        if not 0 < self.interval_secs < self.timeout_secs:
            raise ValueError(f"keepalive needs 0 < interval_secs < timeout_secs, got "
                             f"{self.interval_secs} and {self.timeout_secs}")

    def welcome(self) -> dict[str, float]:
        """`welcome.keepalive`."""
        return {"interval_secs": self.interval_secs, "timeout_secs": self.timeout_secs}


class HeardFrom(Protocol):
    """What a session's serializer knows of the client (pipelines/wire/serializer.py)."""

    last_received_at: float  # monotonic time of its last message of any kind
    pongs: int  # keepalive answers so far


async def watch_keepalive(heard: HeardFrom, send: Callable[[str], None],
                          on_gone: Callable[[float], Awaitable[None]],
                          params: KeepaliveParams | None = None,
                          clock: Callable[[], float] = time.monotonic) -> None:
    """Ping every `interval_secs` through `send` (the session's outbox); once the
    client has answered, call `on_gone(silent_secs)` and return as soon as nothing
    came from it for `timeout_secs` (looked at every `CHECK_SECS`). Runs until
    cancelled otherwise."""
    params = params or KeepaliveParams()
    ping_id, next_ping = 0, clock() + params.interval_secs
    while True:
        await asyncio.sleep(min(CHECK_SECS, params.interval_secs))
        now = clock()
        silent = now - heard.last_received_at
        if heard.pongs and silent > params.timeout_secs:
            await on_gone(silent)
            return
        if now >= next_ping:
            ping_id += 1
            next_ping = now + params.interval_secs
            send(encode_message(KeepalivePing(id=ping_id)))


__all__ = ["HeardFrom", "KeepaliveParams", "watch_keepalive"]
