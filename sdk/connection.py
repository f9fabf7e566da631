"""The SDK's protocol core: one wire-protocol session over a websocket (docs/PROTOCOL.md).

`VoiceConnection` opens the session (sdk.handshake), sends audio, camera JPEGs,
motion vectors and portraits, and yields what the server sends (sdk.items:
events as pydantic models, `BotAudio`, `BotVideo`, `Closed`); with a
`ReconnectPolicy` it opens a dropped session again. It needs only websockets,
pydantic and numpy (OpenCV on first use of an image, in sdk.images): neither
the avatar nor pipecat, so a client installs little (import-linter checks it).
`sdk.client.VoiceClient` adds camera sources.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import numpy as np
from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from sdk.camera_hold import CameraHold
from sdk.errors import ClientError, HandshakeError
from sdk.events import AssetsEvent, KeepalivePing, PresenceEvent, SimpleEvent, VideoQualityEvent
from sdk.handshake import Door, build_hello, open_door
from sdk.images import DEFAULT_CAMERA_WIDTH, DEFAULT_JPEG_QUALITY, encode_camera_jpeg
from sdk.items import Closed, ServerItem, parse_item
from sdk.mic_gate import MicGate
from sdk.protocol import (
    IMAGE_MAGIC,
    JPEG_MAGIC,
    PROTOCOL_VERSION,
    AssetsLoaded,
    Hello,
    KeepalivePong,
    Limits,
    MediaKind,
    SetPortrait,
    VideoOutRequest,
    Welcome,
    encode_media,
    encode_message,
    encode_motion,
)
from sdk.reconnect import ReconnectPolicy, SessionRestarted, may_reconnect, reconnect_policy
from sdk.redial import redial

#: Frame rate of the avatar video when `welcome.video_out` does not say (protocol v2: 25).
DEFAULT_VIDEO_FPS = 25.0


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
        self._door: Door | None = None  # where and how `connect()` opened the session
        self._closing = False  # close() was called: a drop is ours, not one to repair
        self._closed_for_good = False  # receive() yielded Closed: sends raise again
        #: sessions restarted after a drop (each one a `SessionRestarted` from `receive()`)
        self.reconnects = 0
        #: messages not sent because the connection was down and being reopened
        self.dropped_sends = 0
        #: the server's keepalive pings answered (v2.2 presence sessions)
        self.keepalive_pongs = 0
        #: a kiosk's microphone held back while nobody is there and it is quiet
        #: (`welcome.presence.mic_gate`; None: every chunk is sent), set by `connect()`
        self.mic_gate: MicGate | None = None
        self._wants_mic_gate = False
        #: the camera sources (`VoiceClient.stream_video_file`, `stream_webcam`) send no
        #: frame while the server thinks up a reply (it analyses none then), followed
        #: from the turn events `receive()` reads; `camera_hold.secs = 0` sends every frame
        self.camera_hold = CameraHold()

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
        mic_gate: bool = True,
        draws_face: bool = False,
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
            mic_gate: with presence, where the server offers it
                (`welcome.presence.mic_gate`): `send_audio` holds back quiet audio
                while nobody is there and sends the held second first when a sound
                or a visitor comes (`sdk.mic_gate.MicGate`). False: every chunk is sent.
            draws_face: this client draws the face itself (protocol 2.3, needs
                `video_out`): where the server takes the offer (`welcome.render`),
                `receive()` yields an `AssetsEvent` (fetch it with `fetch_assets`, then
                say `assets_loaded`) and `BotMotion` frames instead of `BotVideo`.

        Raises:
            ValueError: a bad argument (video with protocol 1, unknown video_in, ...).
            HandshakeError: the server answered with an error event (bad token,
                busy, unsupported rate, ...) or did not answer.
            ClientError: the server cannot be reached.
        """
        hello = build_hello(protocol, sample_rate, client_name, video_out, video_in, portrait,
                             presence, draws_face)
        door = Door(url, token, open_timeout, ssl_context)
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
        client._wants_mic_gate = mic_gate
        client._start_mic_gate()
        return client

    def _start_mic_gate(self) -> None:
        """A fresh gate for this session, where asked for and the server offers it."""
        offered = bool((self.welcome.presence or {}).get("mic_gate"))
        self.mic_gate = (MicGate(self.input_rate) if self._wants_mic_gate and offered
                         else None)

    @classmethod
    async def _connect_door(cls, door: Door, hello: Hello, resuming: bool = False) -> Self:
        """One attempt at `door` (sdk.handshake.open_door), wrapped as a connection."""
        connection, welcome = await open_door(door, hello, resuming)
        return cls(connection, welcome, hello)

    async def _reopen(self, code: int | None, reason: str) -> SessionRestarted | None:
        """After a drop: connect again with the same `hello`, with the policy's back-off
        (sdk.redial); the new session's item, or None when the policy gives up (or
        cannot help) or `close()` was called meanwhile."""
        policy, door, hello = self.reconnect_policy, self._door, self.hello
        if policy is None or door is None or hello is None or not may_reconnect(code):
            return None
        dropped_at = time.monotonic()
        previous = self.welcome.session_id
        opened = await redial(door, hello, policy, lambda: self._closing)
        if opened is None:
            return None
        connection, welcome, attempts = opened
        if self._closing:
            with contextlib.suppress(Exception):
                await connection.close()
            return None
        self._ws, self.welcome = connection, welcome
        self._pts_samples, self._media_clock_start, self.video_quality = 0, None, None
        self.presence_state = (welcome.presence or {}).get("state")
        self._start_mic_gate()
        self.reconnects += 1
        return SessionRestarted(previous_session_id=previous, session_id=self.welcome.session_id,
                                code=code, reason=reason, attempts=attempts,
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
        """Send one chunk of PCM s16le mono at `input_rate` (keep chunks 20-100 ms);
        with the mic gate (a kiosk's, while nobody is there) quiet chunks are held."""
        if self._media_clock_start is None:
            self._media_clock_start = time.monotonic()
        if self.mic_gate is None:
            await self._send_audio_now(pcm)
            return
        for chunk in self.mic_gate.offer(pcm, self.presence_state):
            await self._send_audio_now(chunk)

    async def _send_audio_now(self, pcm: bytes) -> None:
        pts_us = self._pts_samples * 1_000_000 // self.input_rate
        self._pts_samples += len(pcm) // 2
        await self._send(encode_media(MediaKind.AUDIO, pcm, pts_us))

    async def send_raw(self, data: str | bytes) -> None:
        """Send an arbitrary message (tests use it to check the server's error handling)."""
        await self._send(data)

    async def fetch_assets(self, event: AssetsEvent, http_timeout: float = 30.0) -> bytes:
        """The drawing assets an `assets` event names (v2.3), fetched over HTTP from
        the server this session is on and checked against their hash (`event.id`).

        Raises:
            ClientError: the server did not answer them, or they are not what was named.
        """
        secure = self._ws.transport.get_extra_info("ssl_object") is not None
        host = self._ws.request.headers.get("Host") if self._ws.request is not None else None
        if not host:
            raise ClientError("this connection does not know its server's address")
        url = urllib.parse.urljoin(f"{'https' if secure else 'http'}://{host}/", event.url)
        context = self._door.ssl_context if self._door is not None else None

        def get() -> bytes:
            with urllib.request.urlopen(url, timeout=http_timeout,
                                        context=context if secure else None) as response:
                return bytes(response.read())

        try:
            data = await asyncio.to_thread(get)
        except (OSError, ValueError) as error:
            raise ClientError(f"cannot fetch the face's assets at {url}: {error}") from error
        if hashlib.sha256(data).hexdigest() != event.id:
            raise ClientError(f"the assets at {url} are not the ones named {event.id!r}")
        return data

    async def assets_loaded(self, asset_id: str) -> None:
        """Tell the server the assets `asset_id` are drawable (v2.3): its motion frames
        go on; without it within `welcome.render.assets_timeout_secs` it sends pixels."""
        await self._send(encode_message(AssetsLoaded(id=asset_id)))

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
        if bytes(jpeg[:3]) != JPEG_MAGIC:
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
        if not data.startswith(IMAGE_MAGIC):
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
        """Yield server events (pydantic models), `BotAudio` and `BotVideo` (`BotMotion`
        for a client that draws the face) until the
        socket closes (then one `Closed`). Unknown events and media kinds are skipped;
        the server's keepalive `ping` (presence sessions, v2.2) is answered with `pong`
        here, so a kiosk's client that reads its events is known to be there.

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
            if isinstance(item, KeepalivePing):  # v2.2: answered here, not yielded
                await self._answer_keepalive(item)
                continue
            if isinstance(item, VideoQualityEvent):
                self.video_quality = item  # frames may change size from now on
            elif isinstance(item, PresenceEvent):
                self.presence_state = item.state
            elif isinstance(item, SimpleEvent):
                self.camera_hold.follow(item.type)
            if item is not None:
                yield item

    async def _answer_keepalive(self, ping: KeepalivePing) -> None:
        """Answer the server's keepalive `ping` with `pong` (v2.2), and count it."""
        with contextlib.suppress(ConnectionClosed):
            await self._send(encode_message(KeepalivePong(id=ping.id)))
            self.keepalive_pongs += 1

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


class _Ping(BaseModel):
    type: str = "ping"
    id: str | int | None = None
