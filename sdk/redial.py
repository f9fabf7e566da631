"""Opening a dropped session again, waiting between attempts as a `ReconnectPolicy` says.

sdk.reconnect decides when and how soon (no I/O); this is the loop that does it:
it sleeps, knocks on the same door with the same `hello` (as a client coming back,
which a fleet may give a spare slot), and stops when a session opens, when the
policy gives up, when a refusal would only repeat, or when the client closed.
`VoiceConnection.receive()` runs it after a drop and swaps the new socket in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection

from sdk.errors import ClientError, HandshakeError
from sdk.handshake import Door, open_door
from sdk.protocol import Hello, Welcome
from sdk.reconnect import FATAL_HANDSHAKE_CODES, ReconnectPolicy


async def redial(
    door: Door, hello: Hello, policy: ReconnectPolicy, closing: Callable[[], bool]
) -> tuple[ClientConnection, Welcome, int] | None:
    """Open `door` again with `hello`, with the policy's back-off (a busy server's
    `retry_after_s` instead, when it gives one).

    Args:
        door: where the dropped session was opened (and how: token, TLS, timeout).
        hello: what the client asked for; the new session gets the same.
        policy: how long to wait before each attempt, and when to give up.
        closing: says whether the client was closed meanwhile (then no new attempt).

    Returns:
        The greeted socket, its `welcome` and the attempts it took, or None when
        the policy gave up, the refusal would repeat (a bad token...) or `closing()`.
    """
    attempt = 0
    wait = policy.delay_secs(0)
    while True:
        await asyncio.sleep(wait)
        if closing():
            return None
        attempt += 1
        try:
            connection, welcome = await open_door(door, hello, resuming=True)
        except HandshakeError as error:
            if error.code in FATAL_HANDSHAKE_CODES or policy.gives_up_after(attempt):
                return None
            busy = error.code == "server_busy" and error.retry_after_s
            wait = float(error.retry_after_s or 0) if busy else policy.delay_secs(attempt)
            continue
        except ClientError:  # nothing answers yet (a restart, a dead machine)
            if policy.gives_up_after(attempt):
                return None
            wait = policy.delay_secs(attempt)
            continue
        return connection, welcome, attempt
