"""Opening one protocol session: where, what to ask for, and the hello/welcome exchange.

`session_url` asks a server's (or a kiosk fleet's door's) HTTP address where the
next conversation goes; `build_hello` turns `VoiceConnection.connect()`'s
arguments into the `hello`, checked before any network I/O; `open_session`
opens the websocket and trades `hello` for `welcome`. `Door` remembers where a
session was opened, so a dropped one can be opened again the same way.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage

from sdk.errors import ClientError, HandshakeError
from sdk.events import ErrorEvent
from sdk.protocol import (
    ASSET_FORMATS,
    SUPPORTED_VERSIONS,
    AudioInFormat,
    Hello,
    RenderOffer,
    VideoInOffer,
    VideoOutRequest,
    Welcome,
    encode_message,
    parse_server_message,
)


@dataclass(frozen=True)
class Door:
    """Where `connect()` opened the session, kept to open the next one after a drop."""

    url: str
    token: str | None
    open_timeout: float
    ssl_context: ssl.SSLContext | None


def build_hello(
    protocol: int,
    sample_rate: int,
    client_name: str,
    video_out: VideoOutRequest | dict[str, Any] | bool | None,
    video_in: str | None,
    portrait: str | None,
    presence: bool = False,
    draws_face: bool = False,
) -> Hello:
    """The `hello` for `connect()`'s arguments, checked before any network I/O."""
    if protocol not in SUPPORTED_VERSIONS:
        raise ValueError(f"protocol must be one of {SUPPORTED_VERSIONS}, got {protocol!r}")
    request = _video_out_request(video_out)
    if video_in not in (None, "camera", "motion"):
        raise ValueError(f"video_in must be 'camera', 'motion' or None, got {video_in!r}")
    if protocol < 2 and (request is not None or video_in is not None or portrait is not None):
        raise ValueError("video_out, video_in and portrait need protocol 2")
    if presence and request is None:
        raise ValueError("presence needs video_out: the kiosk's face watches for visitors")
    if draws_face and request is None:
        raise ValueError("draws_face needs video_out: a session without a face draws none")
    return Hello(
        protocol=protocol,
        audio_in=AudioInFormat(sample_rate=sample_rate),
        client=client_name,
        video_out=request,
        video_in=None if video_in is None else VideoInOffer.model_validate({"kind": video_in}),
        portrait=portrait,
        presence=presence or None,
        render=RenderOffer(asset_formats=list(ASSET_FORMATS)) if draws_face else None,
    )


def _video_out_request(
    value: VideoOutRequest | dict[str, Any] | bool | None,
) -> VideoOutRequest | None:
    """`connect(video_out=...)` as the hello field: True = defaults, False/None = no video."""
    if value is None or value is False:
        return None
    if value is True:
        return VideoOutRequest()
    if isinstance(value, VideoOutRequest):
        return value
    if isinstance(value, dict):
        try:
            return VideoOutRequest.model_validate(value)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                 for e in error.errors())
            raise ValueError(f"bad video_out {value!r}: {problems}") from None
    raise ValueError(f"video_out must be a VideoOutRequest, a dict or a bool, got {value!r}")


async def session_url(server_url: str, http_timeout: float = 10.0,
                      ssl_context: ssl.SSLContext | None = None, *,
                      resuming: bool = False) -> str:
    """Where a server (or a kiosk fleet's public door) wants the next conversation:
    `GET {server_url}/session`, as a websocket URL (`wss://` from an https door,
    or when a fleet's doors have TLS).

    `resuming`: this client lost its session (its machine died) and is coming back;
    a fleet may give it a slot it keeps for that (`[fleet] failover_reserve_slots`).

    Raises:
        HandshakeError: `server_busy` (with `retry_after_s`) when every machine is full.
        ClientError: the server cannot be reached or gave no usable answer.
    """
    door = server_url.rstrip("/") + "/session" + ("?resume=1" if resuming else "")

    def ask() -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(door, timeout=http_timeout,
                                        context=ssl_context) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    try:
        status, body = await asyncio.to_thread(ask)
    except (OSError, ValueError) as error:
        raise ClientError(f"cannot ask {door} where to connect: {error}") from error
    if status == 503 and body.get("full"):
        raise HandshakeError("server_busy", str(body.get("message", "every machine is full")),
                             body.get("retry_after_s"))
    if status != 200 or not isinstance(body.get("ws_url"), str):
        raise ClientError(f"{door} answered {status} {body!r:.200}")
    absolute = urllib.parse.urljoin(door, body["ws_url"])
    return absolute.replace("https://", "wss://", 1).replace("http://", "ws://", 1)


async def open_door(
    door: Door, hello: Hello, resuming: bool = False
) -> tuple[ClientConnection, Welcome]:
    """One attempt at `door`: an HTTP address asks `GET /session` where first
    (`resuming`: after a drop, which a fleet may give a spare slot)."""
    url = door.url
    ws_url = (await session_url(url, door.open_timeout, door.ssl_context, resuming=resuming)
              if url.startswith(("http://", "https://")) else url)
    return await open_session(ws_url, hello, door.token, door.open_timeout, door.ssl_context)


async def open_session(
    url: str, hello: Hello, token: str | None, open_timeout: float,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[ClientConnection, Welcome]:
    """One connection attempt: websocket, `hello`, `welcome`; the greeted socket."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    tls = ssl_context if url.startswith("wss://") else None  # ws:// refuses a context
    try:
        connection = await ws_connect(
            url, additional_headers=headers, open_timeout=open_timeout, max_size=2**22,
            ssl=tls,
        )
    except (OSError, TimeoutError) as error:
        raise ClientError(f"cannot connect to {url}: {error}") from error
    except InvalidHandshake as error:  # no websocket answered there
        hint = (" (if the server has TLS, it answers only wss://)"
                if isinstance(error, InvalidMessage) and url.startswith("ws://") else "")
        raise ClientError(f"cannot connect to {url}: {error}{hint}") from error
    try:
        await connection.send(encode_message(hello))
        reply = await asyncio.wait_for(connection.recv(), timeout=open_timeout)
    except (ConnectionClosed, TimeoutError) as error:
        await connection.close()
        raise HandshakeError("no_welcome", f"no welcome from {url}: {error}") from error
    message = parse_server_message(reply) if isinstance(reply, str) else None
    if isinstance(message, ErrorEvent):
        await connection.close()
        raise HandshakeError(message.code, message.message, message.retry_after_s)
    if not isinstance(message, Welcome):
        await connection.close()
        raise HandshakeError("no_welcome", f"expected welcome, got {reply!r:.200}")
    return connection, message
