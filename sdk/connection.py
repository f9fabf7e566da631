"""The SDK's protocol core: one wire-protocol session over a websocket (docs/PROTOCOL.md).

`VoiceConnection` opens the socket, sends `hello`, waits for `welcome`, sends
audio, camera JPEGs, motion vectors and portraits, and yields what the server
sends as events (pydantic models), `BotAudio` and `BotVideo`. It needs only
websockets, pydantic and numpy (OpenCV on first use of an image, in
sdk.images): neither the avatar nor pipecat, so a client installs little
(import-linter checks it). `sdk.client.VoiceClient` adds camera sources.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import numpy as np
from pydantic import BaseModel, ValidationError
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage

from sdk.errors import ClientError, HandshakeError, ProtocolError
from sdk.images import DEFAULT_CAMERA_WIDTH, DEFAULT_JPEG_QUALITY, decode_jpeg, encode_camera_jpeg
from sdk.protocol import (
    MEDIA_HEADER_SIZE,
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    AudioInFormat,
    ErrorEvent,
    Hello,
    Limits,
    MediaKind,
    PresenceEvent,
    SetPortrait,
    VideoInOffer,
    VideoOutRequest,
    VideoQualityEvent,
    Welcome,
    decode_media,
    encode_media,
    encode_message,
    encode_motion,
    parse_server_message,
)
from sdk.reconnect import (
    FATAL_HANDSHAKE_CODES,
    ReconnectPolicy,
    SessionRestarted,
    may_reconnect,
    reconnect_policy,
)

#: Frame rate of the avatar video when `welcome.video_out` does not say (protocol v2: 25).
DEFAULT_VIDEO_FPS = 25.0
_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class BotAudio:
    """A chunk of the bot's speech: PCM s16le mono at `sample_rate`, starting at `pts_us`."""

    pcm: bytes
    sample_rate: int
    pts_us: int
    received_at: float  # time.monotonic() when it arrived

    type: str = "bot-audio"

    @property
    def duration_secs(self) -> float:
        """Length of this chunk in seconds."""
        return len(self.pcm) / 2 / self.sample_rate


@dataclass(frozen=True)
class BotVideo:
    """One frame of the avatar (protocol v2, kind 2): a JPEG at the pts of its audio chunk.

    The server sends each frame right before the audio chunk of the same 40 ms,
    with that chunk's `pts_us`: show the frame when the audio clock reaches it.
    Decoding is left to `rgb()`, so a client that only counts or forwards
    frames never pays for it.
    """

    jpeg: bytes
    pts_us: int
    received_at: float  # time.monotonic() when it arrived
    #: user-audio frames (40 ms, mod 65536) the server had heard when it generated
    #: this frame (header `aux`): reaction latency measured from the wire
    user_frames: int = 0

    type: str = "bot-video"

    def rgb(self) -> np.ndarray:
        """Decode the frame to an (H, W, 3) uint8 RGB array (each call decodes again).

        Raises:
            ValueError: the payload is not a decodable image.
        """
        return decode_jpeg(self.jpeg)


@dataclass(frozen=True)
class Closed:
    """The server closed the connection (last item `receive()` yields)."""

    code: int | None
    reason: str

    type: str = "closed"


ServerItem = BaseModel | BotAudio | BotVideo | Closed | SessionRestarted


def parse_item(
    data: str | bytes, *, output_rate: int, received_at: float | None = None
) -> BotAudio | BotVideo | BaseModel | None:
    """One server message as what `receive()` yields, or None for one this SDK skips.

    Skipped, never raised (the protocol asks clients to ignore what they do not
    know, so a newer server never breaks an older client): event types newer
    than this SDK, media kinds other than audio and video, and binary messages
    that do not decode.

    Args:
        data: the websocket message (text or binary).
        output_rate: the sample rate of the server's audio (`welcome.audio_out`).
        received_at: arrival time to stamp on media (default: time.monotonic() now).
    """
    if isinstance(data, str):
        try:
            return parse_server_message(data)
        except ProtocolError:
            return None  # an event type newer than this SDK
    data = bytes(data)
    if len(data) < MEDIA_HEADER_SIZE or data[0] not in (MediaKind.AUDIO, MediaKind.VIDEO):
        return None  # check the kind first: decode_media raises on kinds it does not know
    try:
        chunk = decode_media(data)
    except ProtocolError:
        return None  # e.g. an odd-length audio payload: nothing playable in it
    now = time.monotonic() if received_at is None else received_at
    if chunk.kind is MediaKind.AUDIO:
        return BotAudio(chunk.payload, output_rate, chunk.pts_us, now)
    return BotVideo(chunk.payload, chunk.pts_us, now, chunk.aux)


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


class VoiceConnection:
    """One protocol session (v2, or v1 on request): the protocol core of `VoiceClient`.

    Create with `await VoiceConnection.connect(...)` (or `VoiceClient.connect`,
    which adds camera sources). Audio only unless `connect()` asks for video:
    then `receive()` also yields `BotVideo`, and with `video_in` the user's
    camera or motion can be sent.
    """

    def __init__(
        self, connection: ClientConnection, welcome: Welcome, hello: Hello | None = None
    ) -> None:
        """Use `connect()`; this wraps an already-greeted connection."""
        self._ws = connection
        self.welcome = welcome
        #: What this client asked for (None when wrapped from outside `connect()`).
        self.hello = hello
        self._pts_samples = 0
        self._media_clock_start: float | None = None  # monotonic time of the first media sent
        #: The server's last `video-quality` change (None: the welcome's quality holds).
        self.video_quality: VideoQualityEvent | None = None
        #: presence sessions: who is in front of the kiosk ("away", "approaching",
        #: "engaged", "leaving"), from `welcome.presence` and the `presence` events
        self.presence_state: str | None = (welcome.presence or {}).get("state")
        #: how `receive()` reconnects after a drop (None: it yields `Closed`); set by `connect()`
        self.reconnect_policy: ReconnectPolicy | None = None
        self._door: _Door | None = None  # where and how `connect()` opened the session
        self._closing = False  # close() was called: a drop is ours, not one to repair
        self._closed_for_good = False  # receive() yielded Closed: sends raise again
        #: sessions restarted after a drop (each one a `SessionRestarted` from `receive()`)
        self.reconnects = 0
        #: messages not sent because the connection was down and being reopened
        self.dropped_sends = 0

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        sample_rate: int = 16000,
        token: str | None = None,
        client_name: str = "avatar-forcing-sdk",
        open_timeout: float = 10.0,
        busy_retry_secs: float = 0.0,
        protocol: int = PROTOCOL_VERSION,
        video_out: VideoOutRequest | dict[str, Any] | bool | None = None,
        video_in: Literal["camera", "motion"] | None = None,
        portrait: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        reconnect: ReconnectPolicy | bool | None = False,
        presence: bool = False,
    ) -> Self:
        """Open the websocket, send `hello`, and wait for `welcome`.

        With `busy_retry_secs` > 0 a `server_busy` refusal is retried every 0.5 s
        for that long (a kiosk waits for a slot rather than failing).

        With `reconnect` a connection that drops is opened again by `receive()`,
        with back-off (`sdk.reconnect.ReconnectPolicy`), and `receive()` yields a
        `SessionRestarted` instead of `Closed`: the new session remembers nothing.
        Off by default: scripts, tests and benches want to see the close.

        Args:
            url: the server's websocket URL (ws://host:port/ws), or its HTTP address
                (http://host:port): then `GET /session` says where to open the
                conversation (`/ws` on one machine, a machine's direct address in a
                kiosk fleet; a full fleet counts as `server_busy`).
            sample_rate: rate of the PCM this client will send.
            token: auth token, sent as `Authorization: Bearer`.
            client_name: shown in the server's logs.
            open_timeout: seconds to wait for the socket and for `welcome`.
            busy_retry_secs: keep retrying a busy server this long.
            protocol: 2 (default) or 1; video needs 2.
            video_out: ask for the live avatar: True for the defaults, a dict or
                `VideoOutRequest` for a size (e.g. `{"size": 384}`); `welcome.video_out`
                then says what the server actually sends. None: audio only.
            video_in: "camera" to send JPEG camera frames, "motion" to send motion
                vectors measured on the client; None: neither.
            portrait: name of the server portrait to animate (see `GET /portraits`).
            ssl_context: how to check the server's certificate on `https://` and
                `wss://` (e.g. `ssl.create_default_context(cafile="lab-cert.pem")` for
                a self-signed one); None: the system's trusted authorities.
            reconnect: True for the browser SDK's back-off (0.5, 1, 2, 4, 5 s, with
                jitter, 10 attempts), a `ReconnectPolicy` for another, False: off.
            presence: this client is a kiosk (protocol 2.1, needs `video_out`): the
                server greets a visitor who walks up and forgets the conversation when
                they leave; `receive()` yields `PresenceEvent`, `VisitorArrived` and
                `VisitorLeft`, and `presence_state` follows them.

        Raises:
            ValueError: a bad argument (video with protocol 1, unknown video_in, ...).
            HandshakeError: the server answered with an error event (bad token,
                busy, unsupported rate, ...) or did not answer.
            ClientError: the server cannot be reached.
        """
        hello = _build_hello(protocol, sample_rate, client_name, video_out, video_in, portrait,
                             presence)
        door = _Door(url, token, open_timeout, ssl_context)
        policy = reconnect_policy(reconnect)
        deadline = time.monotonic() + busy_retry_secs
        while True:
            try:
                client = await cls._connect_door(door, hello)
                break
            except HandshakeError as error:
                if error.code != "server_busy" or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(0.5)
        client.reconnect_policy, client._door = policy, door
        return client

    @classmethod
    async def _connect_door(cls, door: _Door, hello: Hello, resuming: bool = False) -> Self:
        """One attempt at `door`: an HTTP address asks `GET /session` where first
        (`resuming`: after a drop, which a fleet may give a spare slot)."""
        url = door.url
        ws_url = (await session_url(url, door.open_timeout, door.ssl_context, resuming=resuming)
                  if url.startswith(("http://", "https://")) else url)
        return await cls._connect_once(ws_url, hello, door.token, door.open_timeout,
                                       door.ssl_context)

    async def _reopen(self, code: int | None, reason: str) -> SessionRestarted | None:
        """After a drop: connect again with the same `hello`, with the policy's back-off;
        the new session's item, or None when the policy gives up (or cannot help)."""
        policy, door, hello = self.reconnect_policy, self._door, self.hello
        if policy is None or door is None or hello is None or not may_reconnect(code):
            return None
        dropped_at = time.monotonic()
        previous = self.welcome.session_id
        attempt = 0
        wait = policy.delay_secs(0)
        while True:
            await asyncio.sleep(wait)
            if self._closing:
                return None
            attempt += 1
            try:
                fresh = await self._connect_door(door, hello, resuming=True)
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
            if self._closing:
                await fresh.close()
                return None
            self._ws, self.welcome = fresh._ws, fresh.welcome
            self._pts_samples, self._media_clock_start, self.video_quality = 0, None, None
            self.reconnects += 1
            return SessionRestarted(previous_session_id=previous, session_id=self.welcome.session_id,
                                    code=code, reason=reason, attempts=attempt,
                                    downtime_secs=time.monotonic() - dropped_at)

    async def _send(self, data: str | bytes) -> None:
        """Send one message; while a dropped connection is being reopened, drop it
        (a live mic's audio of those seconds is gone anyway) and count it."""
        try:
            await self._ws.send(data)
        except ConnectionClosed:
            if self.reconnect_policy is None or self._closing or self._closed_for_good:
                raise
            self.dropped_sends += 1

    @classmethod
    async def _connect_once(
        cls, url: str, hello: Hello, token: str | None, open_timeout: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> Self:
        """One connection attempt: websocket, `hello`, `welcome`."""
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
        return cls(connection, message, hello)

    async def __aenter__(self) -> Self:
        """`async with` support: the connection closes on exit."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection."""
        await self.close()

    @property
    def input_rate(self) -> int:
        """Sample rate of the audio this client sends."""
        return self.welcome.audio_in.sample_rate

    @property
    def output_rate(self) -> int:
        """Sample rate of the bot audio the server sends."""
        return self.welcome.audio_out.sample_rate

    @property
    def video_out(self) -> dict[str, Any] | None:
        """The avatar video the server sends now (`welcome.video_out`: width, height,
        fps, codec, portrait, camera_fps, ...; width, height, camera_fps, drawn_fps
        and quality_level as the last `video-quality` event changed them), or None
        in an audio-only session."""
        video_out = self.welcome.video_out
        if video_out is None or self.video_quality is None:
            return video_out
        quality = self.video_quality
        return {**video_out, "width": quality.width, "height": quality.height,
                "camera_fps": quality.camera_fps, "drawn_fps": quality.drawn_fps,
                "quality_level": quality.level}

    @property
    def video_fps(self) -> float:
        """Frame rate of the avatar video (25 in protocol v2)."""
        return float((self.video_out or {}).get("fps", DEFAULT_VIDEO_FPS))

    def media_clock_us(self) -> int:
        """Now on this client's media clock: microseconds since its first media message.

        Camera and motion messages carry it as pts. A live client streams its mic
        from the start at real-time pace, so this is the pts of the audio sample
        being captured right now: the camera frame and the speech it shows share
        a timestamp.
        """
        now = time.monotonic()
        if self._media_clock_start is None:
            self._media_clock_start = now
        return int((now - self._media_clock_start) * 1_000_000)

    async def send_audio(self, pcm: bytes) -> None:
        """Send one chunk of PCM s16le mono at `input_rate` (keep chunks 20-100 ms)."""
        if self._media_clock_start is None:
            self._media_clock_start = time.monotonic()
        pts_us = self._pts_samples * 1_000_000 // self.input_rate
        self._pts_samples += len(pcm) // 2
        await self._send(encode_media(MediaKind.AUDIO, pcm, pts_us))

    async def send_raw(self, data: str | bytes) -> None:
        """Send an arbitrary message (tests use it to check the server's error handling)."""
        await self._send(data)

    async def ping(self, ping_id: str | int | None = None) -> None:
        """Send a protocol `ping`; the server answers `pong`."""
        await self._send(encode_message(_Ping(id=ping_id)))

    # -- the user's face (protocol v2, hello.video_in)

    async def send_camera_jpeg(self, jpeg: bytes, *, pts_us: int | None = None) -> None:
        """Send one camera frame (kind 3): a JPEG, 320-480 px wide, at most 25 a second.

        Raises:
            ValueError: the client did not offer `video_in`, the bytes are not a
                JPEG, or the frame is larger than the server accepts.
        """
        self._require_video_in("send_camera_jpeg")
        if bytes(jpeg[:3]) != _JPEG_MAGIC:
            raise ValueError("a camera frame must be one JPEG image (starts with FF D8 FF)")
        self._check_image_size(len(jpeg), "camera frame")
        pts = self.media_clock_us() if pts_us is None else pts_us
        await self._send(encode_media(MediaKind.CAMERA, bytes(jpeg), pts))

    async def send_camera_frame(
        self,
        rgb: np.ndarray,
        *,
        width: int = DEFAULT_CAMERA_WIDTH,
        quality: int = DEFAULT_JPEG_QUALITY,
        pts_us: int | None = None,
    ) -> None:
        """Resize an (H, W, 3) uint8 RGB frame to `width` (aspect kept), JPEG it, send it."""
        await self.send_camera_jpeg(encode_camera_jpeg(rgb, width=width, quality=quality),
                                    pts_us=pts_us)

    async def send_motion(
        self, motion: Sequence[float] | np.ndarray | None, *, pts_us: int | None = None
    ) -> None:
        """Send the user's motion measured on the client (kind 4); None = no face this frame.

        Raises:
            ValueError: the client did not offer `video_in`, or the vector is not
                `MOTION_VECTOR_DIM` (58) values.
        """
        self._require_video_in("send_motion")
        values = None if motion is None else np.asarray(motion, dtype=np.float64).reshape(-1)
        if values is not None and not np.isfinite(values).all():
            raise ValueError("a motion vector must not contain NaN or inf")
        pts = self.media_clock_us() if pts_us is None else pts_us
        await self._send(encode_motion(None if values is None else values.tolist(), pts))

    # -- the portrait (protocol v2, hello.video_out)

    async def upload_portrait(self, image: bytes | str | os.PathLike[str]) -> None:
        """Upload a JPEG/PNG portrait to animate (kind 5); the server answers a
        `portrait` event, or an `error` (`bad_portrait`: no face, face too small).

        Raises:
            ValueError: not a video session, not a JPEG/PNG, or too large.
            FileNotFoundError: `image` is a path that does not exist.
        """
        self._require_video_out("upload_portrait")
        if isinstance(image, bytes):
            data = image
        else:
            data = await asyncio.to_thread(Path(image).read_bytes)
        if not data.startswith((_JPEG_MAGIC, _PNG_MAGIC)):
            raise ValueError("a portrait upload must be a JPEG or PNG image")
        self._check_image_size(len(data), "portrait")
        await self._send(encode_media(MediaKind.PORTRAIT, data))

    async def set_portrait(self, name: str) -> None:
        """Animate the server's portrait `name` from now on; answered by a `portrait`
        event, or an `error` (`unknown_portrait`)."""
        self._require_video_out("set_portrait")
        await self._send(encode_message(SetPortrait(name=name)))

    def _require_video_in(self, what: str) -> None:
        if self.hello is not None and self.hello.video_in is None:
            raise ValueError(f"{what}() needs a client connected with video_in='camera' "
                             "(or 'motion'); the server would drop these frames")

    def _require_video_out(self, what: str) -> None:
        if self.hello is not None and self.hello.video_out is None:
            raise ValueError(f"{what}() needs a video session: connect with video_out=True")

    def _check_image_size(self, size: int, what: str) -> None:
        limit = int(self.welcome.limits.get("max_image_bytes", Limits().max_image_bytes))
        if size > limit:
            raise ValueError(f"{what} of {size} bytes exceeds the server's max_image_bytes="
                             f"{limit}; send a smaller or more compressed image")

    async def stream_pcm(
        self, pcm: bytes, *, chunk_ms: int = 20, realtime: bool = True
    ) -> float:
        """Send `pcm` in chunks paced like a live microphone; returns when the last one left.

        Returns:
            time.monotonic() at which the last chunk was sent.
        """
        step = self.input_rate * chunk_ms // 1000 * 2
        started = time.monotonic()
        sent_secs = 0.0
        for offset in range(0, len(pcm), step):
            chunk = pcm[offset : offset + step]
            await self.send_audio(chunk)
            sent_secs += len(chunk) / 2 / self.input_rate
            if realtime:
                delay = started + sent_secs - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        return time.monotonic()

    async def send_silence_until(self, done: asyncio.Event, *, timeout_secs: float = 3600.0,
                                 chunk_ms: int = 20) -> None:
        """Keep the "microphone" open with silence, paced at real time, until `done`
        is set (or `timeout_secs`): the server hears barge-in and turn ends from a
        mic that keeps sending, as a browser's does (docs/PROTOCOL.md, "Audio")."""
        chunk = bytes(self.input_rate * chunk_ms // 1000 * 2)
        deadline = time.monotonic() + timeout_secs
        next_at = time.monotonic()
        while not done.is_set() and time.monotonic() < deadline:
            await self.send_audio(chunk)
            next_at += chunk_ms / 1000
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def speak_until(self, pcm: bytes, done: asyncio.Event, *,
                          timeout_secs: float = 60.0) -> bool:
        """Speak `pcm` like a live mic, then keep it open with silence until `done` is
        set (a reply's first audio, its end...); False if `timeout_secs` passed first."""
        await self.stream_pcm(pcm)
        await self.send_silence_until(done, timeout_secs=timeout_secs)
        return done.is_set()

    async def receive(self) -> AsyncIterator[ServerItem]:
        """Yield server events (pydantic models), `BotAudio` and `BotVideo` until the
        socket closes (then one `Closed`). Unknown events and media kinds are skipped.

        With `connect(reconnect=...)` a drop is repaired here: the connection opens a
        new session and this yields a `SessionRestarted`, then goes on with the new
        session's items; `Closed` only once the policy gives up, after a close that
        reconnecting cannot help (a refused token...) or after `close()`."""
        while True:
            stall = self._stall_secs()
            try:
                # cancelling recv() loses nothing (websockets' asyncio API); a timeout
                # context, not wait_for: no task made per message (~75 a second)
                async with asyncio.timeout(stall or None):
                    data = await self._ws.recv()
            except (ConnectionClosed, TimeoutError) as ended:
                if isinstance(ended, TimeoutError):  # frozen peer: no data and no close
                    self._ws.transport.abort()
                    code, reason = None, f"no data for {stall:g} s"
                else:
                    rcvd = ended.rcvd
                    code, reason = (rcvd.code, rcvd.reason) if rcvd else (None, "")
                restarted = None if self._closing else await self._reopen(code, reason)
                if restarted is None:
                    self._closed_for_good = True
                    yield Closed(code, reason)
                    return
                yield restarted
                continue
            item = parse_item(data, output_rate=self.output_rate)
            if isinstance(item, VideoQualityEvent):
                self.video_quality = item  # frames may change size from now on
            elif isinstance(item, PresenceEvent):
                self.presence_state = item.state
            if item is not None:
                yield item

    def _stall_secs(self) -> float:
        """How long `receive()` waits for the next message before it counts the
        connection as dropped: the policy's `stall_secs` for a session with the live
        face (which streams without pause), else 0 (forever: an audio-only server
        may say nothing between turns)."""
        policy = self.reconnect_policy
        if policy is None or self._closing or self.hello is None or self.hello.video_out is None:
            return 0.0
        return policy.stall_secs

    async def wait_for_event(self, kind: str, within: float = 30.0) -> BaseModel:
        """The next server event of type `kind`; media and other events are skipped.

        Raises:
            ClientError: the connection closed first.
            TimeoutError: none came within `within` seconds.
        """

        async def wait() -> BaseModel:
            async for item in self.receive():
                if isinstance(item, Closed):
                    raise ClientError(f"closed ({item.code}) while waiting for {kind}")
                if isinstance(item, BaseModel) and getattr(item, "type", "") == kind:
                    return item
            raise ClientError(f"stream ended while waiting for {kind}")

        return await asyncio.wait_for(wait(), within)

    async def close(self) -> None:
        """Close the websocket (idempotent); a reconnection under way stops."""
        self._closing = True
        with contextlib.suppress(Exception):
            await self._ws.close()

@dataclass(frozen=True)
class _Door:
    """Where `connect()` opened the session, kept to open the next one after a drop."""

    url: str
    token: str | None
    open_timeout: float
    ssl_context: ssl.SSLContext | None


def _build_hello(
    protocol: int,
    sample_rate: int,
    client_name: str,
    video_out: VideoOutRequest | dict[str, Any] | bool | None,
    video_in: str | None,
    portrait: str | None,
    presence: bool = False,
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
    return Hello(
        protocol=protocol,
        audio_in=AudioInFormat(sample_rate=sample_rate),
        client=client_name,
        video_out=request,
        video_in=None if video_in is None else VideoInOffer.model_validate({"kind": video_in}),
        portrait=portrait,
        presence=presence or None,
    )

class _Ping(BaseModel):
    type: str = "ping"
    id: str | int | None = None
