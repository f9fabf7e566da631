"""Async Python client SDK for wire protocol v2 (docs/PROTOCOL.md; v1 servers' audio works too).

    async with await VoiceClient.connect("ws://127.0.0.1:8765/ws") as client:
        asyncio.create_task(client.stream_pcm(pcm16k))      # your mic, in real time
        async for item in client.receive():                 # events and bot audio
            if isinstance(item, BotAudio): play(item.pcm)
            elif item.type == "bot-output": print(item.text)

With the live avatar (protocol v2) the server also sends one JPEG per 40 ms,
each carrying the pts of the audio chunk it belongs to, and reads the user's
camera:

    client = await VoiceClient.connect(url, video_out={"size": 512}, video_in="camera")
    asyncio.create_task(client.stream_webcam())             # or stream_video_file(path)
    async for item in client.receive():
        if isinstance(item, BotVideo): show(item.rgb(), at=item.pts_us)

`talk()` does a whole question -> answer exchange from a WAV file (used by
`avatar-forcing talk`, the end-to-end tests and bench/voice_latency.py) and
times it on the client's own clock; `TalkResult.save_av()` muxes the received
audio and video into an mp4.

Heavy imports (OpenCV, PyAV) happen inside the functions that need them, so an
audio-only client pays nothing for video support.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
import wave
from collections.abc import AsyncIterator, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ValidationError
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from pipelines.errors import ClientError, HandshakeError, ProtocolError
from pipelines.protocol import (
    MEDIA_HEADER_SIZE,
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    AudioInFormat,
    BotOutput,
    ErrorEvent,
    Hello,
    Limits,
    MediaKind,
    PortraitEvent,
    SetPortrait,
    UserTranscription,
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

#: Frame rate of the avatar video when `welcome.video_out` does not say (protocol v2: 25).
DEFAULT_VIDEO_FPS = 25.0
#: Camera frames: 320 px wide is plenty for face analysis and ~15 KiB as JPEG.
DEFAULT_CAMERA_WIDTH = 320
DEFAULT_CAMERA_FPS = 15.0
DEFAULT_JPEG_QUALITY = 75
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


ServerItem = BaseModel | BotAudio | BotVideo | Closed


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


# --------------------------------------------------------------------------- images


def decode_jpeg(data: bytes) -> np.ndarray:
    """A JPEG (or PNG) as an (H, W, 3) uint8 RGB array.

    Raises:
        ValueError: the bytes are not a decodable image.
    """
    import cv2

    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"not a decodable image ({len(data)} bytes, starts {data[:4]!r})")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def encode_camera_jpeg(
    rgb: np.ndarray, *, width: int = DEFAULT_CAMERA_WIDTH, quality: int = DEFAULT_JPEG_QUALITY
) -> bytes:
    """An RGB frame resized to `width` (aspect kept) and encoded as a camera JPEG.

    Face analysis needs no more than 320-480 px of width; smaller frames keep
    the upload (and the server's decode) cheap.

    Raises:
        ValueError: not an (H, W, 3) uint8 image, or a width/quality out of range.
    """
    return _encode_jpeg(rgb, width=width, quality=quality, bgr=False)


def _encode_jpeg(image: np.ndarray, *, width: int, quality: int, bgr: bool) -> bytes:
    """Resize then encode; `bgr` says the channels are already in OpenCV's order."""
    import cv2

    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"a camera frame is (H, W, 3) uint8, got {array.shape} {array.dtype}")
    if not 16 <= width <= 4096:
        raise ValueError(f"camera frame width must be 16-4096 px, got {width}")
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1-100, got {quality}")
    h, w = array.shape[:2]
    if w != width:
        height = max(1, round(h * width / w))
        shrink = cv2.INTER_AREA if width < w else cv2.INTER_LINEAR
        # resize before the colour swap: fewer pixels to convert
        array = cv2.resize(array, (width, height), interpolation=shrink)
    if not bgr:
        array = array[:, :, ::-1]
    ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(array),
                               [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {array.shape} frame as JPEG")
    return encoded.tobytes()


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


class VoiceClient:
    """One protocol session (v2, or v1 on request). Create with `await VoiceClient.connect(...)`.

    Audio only unless `connect()` asks for video: then `receive()` also yields
    `BotVideo`, and with `video_in` the user's camera or motion can be sent.
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
    ) -> VoiceClient:
        """Open the websocket, send `hello`, and wait for `welcome`.

        With `busy_retry_secs` > 0 a `server_busy` refusal is retried every 0.5 s
        for that long (a kiosk waits for a slot rather than failing).

        Args:
            url: the server's websocket URL (ws://host:port/ws).
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

        Raises:
            ValueError: a bad argument (video with protocol 1, unknown video_in, ...).
            HandshakeError: the server answered with an error event (bad token,
                busy, unsupported rate, ...) or did not answer.
            ClientError: the server cannot be reached.
        """
        hello = _build_hello(protocol, sample_rate, client_name, video_out, video_in, portrait)
        deadline = time.monotonic() + busy_retry_secs
        while True:
            try:
                return await cls._connect_once(url, hello, token, open_timeout)
            except HandshakeError as error:
                if error.code != "server_busy" or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(0.5)

    @classmethod
    async def _connect_once(
        cls, url: str, hello: Hello, token: str | None, open_timeout: float
    ) -> VoiceClient:
        """One connection attempt: websocket, `hello`, `welcome`."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            connection = await ws_connect(
                url, additional_headers=headers, open_timeout=open_timeout, max_size=2**22
            )
        except (OSError, TimeoutError) as error:
            raise ClientError(f"cannot connect to {url}: {error}") from error
        try:
            await connection.send(encode_message(hello))
            reply = await asyncio.wait_for(connection.recv(), timeout=open_timeout)
        except (ConnectionClosed, TimeoutError) as error:
            await connection.close()
            raise HandshakeError("no_welcome", f"no welcome from {url}: {error}") from error
        message = parse_server_message(reply) if isinstance(reply, str) else None
        if isinstance(message, ErrorEvent):
            await connection.close()
            raise HandshakeError(message.code, message.message)
        if not isinstance(message, Welcome):
            await connection.close()
            raise HandshakeError("no_welcome", f"expected welcome, got {reply!r:.200}")
        return cls(connection, message, hello)

    async def __aenter__(self) -> VoiceClient:
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
        await self._ws.send(encode_media(MediaKind.AUDIO, pcm, pts_us))

    async def send_raw(self, data: str | bytes) -> None:
        """Send an arbitrary message (tests use it to check the server's error handling)."""
        await self._ws.send(data)

    async def ping(self, ping_id: str | int | None = None) -> None:
        """Send a protocol `ping`; the server answers `pong`."""
        await self._ws.send(encode_message(_Ping(id=ping_id)))

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
        await self._ws.send(encode_media(MediaKind.CAMERA, bytes(jpeg), pts))

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
        await self._ws.send(encode_motion(None if values is None else values.tolist(), pts))

    async def stream_video_file(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float = DEFAULT_CAMERA_FPS,
        width: int = DEFAULT_CAMERA_WIDTH,
        quality: int = DEFAULT_JPEG_QUALITY,
        loop: bool = False,
    ) -> int:
        """Send a video file's frames as the camera, at real-time pace, like a webcam.

        The file's frames are sampled at `fps` (never more than the file has);
        decoding and JPEG encoding run in a worker thread so audio streamed on
        the same event loop keeps its pace. With `loop` the clip restarts at its
        end and this runs until cancelled.

        Returns:
            The number of frames sent.

        Raises:
            FileNotFoundError, ValueError: no such file, not a video, bad fps/width.
        """
        from avatar.video_io import probe_video

        self._require_video_in("stream_video_file")
        rate = _check_camera_fps(fps)
        info = probe_video(Path(path))  # fails now, with the file's name, rather than mid-stream
        step = max(1.0, info.fps / rate)  # source frames per sent frame: never upsample
        period = step / info.fps
        sent = 0
        started = time.monotonic()
        while True:
            frames = _sampled_jpegs(Path(path), step, width, quality)
            sent_this_pass = 0
            try:
                while (jpeg := await asyncio.to_thread(next, frames, None)) is not None:
                    delay = started + sent * period - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    elif delay < -period:  # fell behind (busy machine): rebase, do not burst
                        started -= delay
                    await self.send_camera_jpeg(jpeg)
                    sent += 1
                    sent_this_pass += 1
            finally:
                with contextlib.suppress(ValueError):  # still running in its thread: GC closes it
                    frames.close()
            if not loop:
                return sent
            if sent_this_pass == 0:
                raise ValueError(f"{path}: no decodable frames to loop")

    async def stream_webcam(
        self,
        index: int = 0,
        *,
        fps: float = DEFAULT_CAMERA_FPS,
        width: int = DEFAULT_CAMERA_WIDTH,
        quality: int = DEFAULT_JPEG_QUALITY,
    ) -> None:
        """Send a local camera (OpenCV device `index`) as camera frames until cancelled.

        Raises:
            ClientError: the camera cannot be opened or stops delivering frames.
        """
        import cv2

        self._require_video_in("stream_webcam")
        period = 1.0 / _check_camera_fps(fps)
        capture = cv2.VideoCapture(index)
        if not capture.isOpened():
            capture.release()
            raise ClientError(f"cannot open camera {index}: no such device or no permission "
                              "(stream_video_file() sends a recorded clip instead)")

        def grab() -> bytes | None:
            ok, bgr = capture.read()
            return _encode_jpeg(bgr, width=width, quality=quality, bgr=True) if ok else None

        try:
            next_at = time.monotonic()
            while True:
                jpeg = await asyncio.to_thread(grab)
                if jpeg is None:
                    raise ClientError(f"camera {index} stopped delivering frames")
                await self.send_camera_jpeg(jpeg)
                next_at = max(next_at + period, time.monotonic() - period)
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            capture.release()

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
        await self._ws.send(encode_media(MediaKind.PORTRAIT, data))

    async def set_portrait(self, name: str) -> None:
        """Animate the server's portrait `name` from now on; answered by a `portrait`
        event, or an `error` (`unknown_portrait`)."""
        self._require_video_out("set_portrait")
        await self._ws.send(encode_message(SetPortrait(name=name)))

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
        socket closes (then one `Closed`). Unknown events and media kinds are skipped."""
        while True:
            try:
                data = await self._ws.recv()
            except ConnectionClosed as closed:
                rcvd = closed.rcvd
                yield Closed(rcvd.code if rcvd else None, rcvd.reason if rcvd else "")
                return
            item = parse_item(data, output_rate=self.output_rate)
            if isinstance(item, VideoQualityEvent):
                self.video_quality = item  # frames may change size from now on
            if item is not None:
                yield item

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
        """Close the websocket (idempotent)."""
        with contextlib.suppress(Exception):
            await self._ws.close()


def _build_hello(
    protocol: int,
    sample_rate: int,
    client_name: str,
    video_out: VideoOutRequest | dict[str, Any] | bool | None,
    video_in: str | None,
    portrait: str | None,
) -> Hello:
    """The `hello` for `connect()`'s arguments, checked before any network I/O."""
    if protocol not in SUPPORTED_VERSIONS:
        raise ValueError(f"protocol must be one of {SUPPORTED_VERSIONS}, got {protocol!r}")
    request = _video_out_request(video_out)
    if video_in not in (None, "camera", "motion"):
        raise ValueError(f"video_in must be 'camera', 'motion' or None, got {video_in!r}")
    if protocol < 2 and (request is not None or video_in is not None or portrait is not None):
        raise ValueError("video_out, video_in and portrait need protocol 2")
    return Hello(
        protocol=protocol,
        audio_in=AudioInFormat(sample_rate=sample_rate),
        client=client_name,
        video_out=request,
        video_in=None if video_in is None else VideoInOffer.model_validate({"kind": video_in}),
        portrait=portrait,
    )


def _check_camera_fps(fps: float) -> float:
    """Camera rate within what the server analyses (it skips frames beyond 25 fps)."""
    limit = Limits().max_camera_fps
    if not 0 < fps <= limit:
        raise ValueError(f"camera fps must be in (0, {limit:g}], got {fps}")
    return float(fps)


def _sampled_jpegs(
    path: Path, step: float, width: int, quality: int
) -> Generator[bytes, None, None]:
    """Every `step`-th frame of a video (fractional steps spread evenly) as camera JPEGs."""
    from avatar.video_io import iter_frames

    next_index = 0.0
    for index, frame in enumerate(iter_frames(path)):
        if index + 1e-9 >= next_index:
            next_index += step
            yield encode_camera_jpeg(frame, width=width, quality=quality)


class _Ping(BaseModel):
    type: str = "ping"
    id: str | int | None = None


# --------------------------------------------------------------------------- WAV helpers


def read_wav_pcm16(path: Path, *, target_rate: int | None = None) -> tuple[bytes, int]:
    """Read a WAV as mono PCM s16le; resample to `target_rate` when given.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a PCM WAV file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"WAV file not found: {path}")
    try:
        with wave.open(str(path), "rb") as wav:
            rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as error:
        raise ValueError(f"{path} is not a PCM WAV file: {error}") from error
    if width != 2:
        raise ValueError(f"{path}: only 16-bit PCM WAV is supported (got {8 * width}-bit)")
    samples = np.frombuffer(frames, dtype=np.int16)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
    if target_rate is not None and target_rate != rate:
        import soxr

        samples = soxr.resample(samples, rate, target_rate).astype(np.int16)
        rate = target_rate
    return samples.tobytes(), rate


def write_wav_pcm16(path: Path, pcm: bytes, sample_rate: int) -> None:
    """Write mono PCM s16le as a WAV file (creating parent folders)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)


# --------------------------------------------------------------------------- one exchange


@dataclass
class TalkResult:
    """Everything one question -> answer exchange produced, on the client's clock."""

    events: list[BaseModel] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    sample_rate: int = 0
    speech_end_at: float | None = None  # monotonic time the last speech sample was sent
    first_audio_at: float | None = None  # monotonic time the first reply audio arrived
    completed: bool = False  # the bot finished speaking (vs timeout / close)
    #: Avatar frames received (video sessions), in arrival order.
    video: list[BotVideo] = field(default_factory=list)
    #: pts of the first audio chunk in `audio`: where the video's pts are measured from.
    audio_start_pts_us: int | None = None
    #: `welcome.video_out` of the session (None: audio only).
    video_out: dict[str, Any] | None = None

    @property
    def transcript(self) -> str:
        """What the server heard (the final `user-transcription` texts of this exchange;
        the live captions before them are left out)."""
        return " ".join(e.text for e in self.events
                        if isinstance(e, UserTranscription) and e.final)

    @property
    def reply_text(self) -> str:
        """What the bot said (all `bot-output` texts)."""
        return " ".join(e.text for e in self.events if isinstance(e, BotOutput))

    @property
    def voice_to_voice_ms(self) -> float | None:
        """End of the user's speech -> first reply audio byte at the client."""
        if self.speech_end_at is None or self.first_audio_at is None:
            return None
        return (self.first_audio_at - self.speech_end_at) * 1000.0

    @property
    def audio_secs(self) -> float:
        """Seconds of audio received (in a video session: silence included)."""
        return len(self.audio) / 2 / max(self.sample_rate, 1)

    @property
    def video_fps(self) -> float:
        """Frames received per second of audio received (25 when the server keeps up)."""
        return len(self.video) / self.audio_secs if self.audio else 0.0

    @property
    def nominal_fps(self) -> float:
        """The frame rate the server announced (`welcome.video_out.fps`, else 25)."""
        return float((self.video_out or {}).get("fps", DEFAULT_VIDEO_FPS))

    @property
    def portrait(self) -> str | None:
        """The portrait animated last (its `portrait` event, else the welcome's)."""
        named = [e.name for e in self.events if isinstance(e, PortraitEvent)]
        if named:
            return named[-1]
        value = (self.video_out or {}).get("portrait")
        return None if value is None else str(value)

    def frame_schedule(self) -> list[BotVideo]:
        """The video as the output frames of a file: frame k is the one at pts k/fps.

        Frame k shows the received frame whose pts is k frame periods after the
        first audio sample (`audio_start_pts_us`): where the server's frame is
        missing the previous one is repeated, a second frame for the same pts is
        dropped, and the length follows the audio (ceil), so the mp4's picture
        and sound stay in sync however the frames arrived.
        """
        if not self.video:
            return []
        fps = self.nominal_fps
        start = (self.audio_start_pts_us if self.audio_start_pts_us is not None
                 else min(v.pts_us for v in self.video))
        slots: dict[int, BotVideo] = {}
        for frame in self.video:
            slots.setdefault(round((frame.pts_us - start) * fps / 1_000_000), frame)
        samples = len(self.audio) // 2
        if samples and self.sample_rate:
            count = math.ceil(samples * fps / self.sample_rate - 1e-6)
        else:
            count = max(slots) + 1
        ordered = sorted(slots.items())
        schedule: list[BotVideo] = []
        current = ordered[0][1]  # before the first frame's slot: show the first frame
        i = 0
        for k in range(count):
            while i < len(ordered) and ordered[i][0] <= k:
                current = ordered[i][1]
                i += 1
            schedule.append(current)
        return schedule

    def save_av(self, path: str | os.PathLike[str]) -> int:
        """Write the received audio and video, in sync, as an mp4 (H.264 + AAC).

        Returns:
            The number of video frames written (`frame_schedule()`).

        Raises:
            ValueError: no video was received (connect with `video_out`), or a
                frame does not decode.
        """
        import cv2

        from avatar.video_io import VideoWriter

        schedule = self.frame_schedule()
        if not schedule:
            raise ValueError("no avatar video was received: connect with video_out=True "
                             "to get some (or save the audio with write_wav_pcm16)")
        first = schedule[0].rgb()
        # the server may change the frame size mid-session (`video-quality`): the file
        # takes the size asked for, and frames of another size are resized to it
        edge = int((self.video_out or {}).get("requested_size") or first.shape[1])
        height, width = (edge, edge) if first.shape[0] == first.shape[1] else first.shape[:2]
        height, width = height // 2 * 2, width // 2 * 2  # encoders want even
        audio = np.frombuffer(bytes(self.audio), dtype=np.int16) if self.audio else None
        previous: BotVideo | None = None
        image = first
        with VideoWriter(Path(path), self.nominal_fps, (width, height), audio,
                         self.sample_rate or 16_000) as writer:
            for frame in schedule:
                if frame is not previous:  # a repeated frame is decoded once
                    image = frame.rgb()
                    if image.shape[:2] != (height, width):
                        image = (image[:height, :width] if image.shape[0] - height < 2
                                 and image.shape[1] - width < 2
                                 else cv2.resize(image, (width, height)))
                    previous = frame
                writer.write(np.ascontiguousarray(image))
            return writer.frames_written

    def report(self, out: Path | None = None) -> int:
        """Print what was heard and said (and save the reply to `out`: mp4 or WAV).

        The one summary both `avatar-forcing talk` and the examples print;
        returns a process exit code: 0 when the bot finished its reply. An `out`
        ending in .mp4 gets the audio and video muxed; without video it falls
        back to a WAV beside it.
        """
        print(f"heard: {self.transcript!r}")
        print(f"reply: {self.reply_text!r} ({self.audio_secs:.2f} s of audio)")
        if self.voice_to_voice_ms is not None:
            print(f"voice-to-voice: {self.voice_to_voice_ms:.0f} ms")
        if self.video or self.video_out is not None:
            size = self.video_out or {}
            print(f"video: {len(self.video)} frames, {self.video_fps:.1f} fps "
                  f"(per second of audio), {size.get('width', '?')}x{size.get('height', '?')}, "
                  f"portrait {self.portrait!r}")
        if out is not None and (self.audio or self.video):
            out = Path(out)
            if out.suffix.lower() == ".mp4" and self.video:
                frames = self.save_av(out)
                print(f"saved {out} ({frames} frames at {self.nominal_fps:g} fps)")
            elif self.audio:
                if out.suffix.lower() == ".mp4":
                    out = out.with_suffix(".wav")
                    print("no video received: saving the audio only")
                write_wav_pcm16(out, bytes(self.audio), self.sample_rate)
                print(f"saved {out}")
        return 0 if self.completed else 1

    def metrics(self, processor_prefix: str, kind: str) -> list[float]:
        """`metrics` event values (ms) whose processor name starts with `processor_prefix`."""
        return [
            float(getattr(e, "value_ms", 0.0))
            for e in self.events
            if getattr(e, "type", "") == "metrics"
            and getattr(e, "kind", "") == kind
            and str(getattr(e, "processor", "")).startswith(processor_prefix)
        ]


async def talk(
    client: VoiceClient,
    pcm: bytes,
    *,
    speech_end_secs: float | None = None,
    timeout_secs: float = 60.0,
    on_item: Any = None,
    video_path: Path | None = None,
    camera_fps: float = DEFAULT_CAMERA_FPS,
    tail_secs: float = 0.4,
) -> TalkResult:
    """Speak `pcm` (at the client's input rate) like a live mic, collect the reply.

    Silence keeps streaming after the speech (a real mic never stops) until the
    bot stops speaking or `timeout_secs` pass.

    In a video session the server's audio never stops (silence while the avatar
    listens), so the reply's first audio is its first non-silent chunk, and
    `tail_secs` more audio (and video) are kept after `bot-stopped-speaking` so
    a saved clip does not end mid-frame.

    Args:
        client: a connected client.
        pcm: the user's utterance, PCM s16le mono at `client.input_rate`.
        speech_end_secs: where speech ends inside `pcm` (default: its end); the
            voice-to-voice latency is measured from that instant.
        timeout_secs: give up waiting for the reply after this long.
        on_item: optional callback for every received item (the CLI prints events).
        video_path: a clip of the user to send as the camera while speaking and
            after (looped if shorter); needs a client with `video_in="camera"`.
        camera_fps: frames per second sent from `video_path`.
        tail_secs: audio to keep after `bot-stopped-speaking` in a video session.
    """
    if video_path is not None:
        from avatar.video_io import probe_video

        client._require_video_in("talk(video_path=...)")
        probe_video(video_path)  # a missing or broken clip fails before anything is sent
    continuous = client.video_out is not None  # the server sends audio all the time
    result = TalkResult(sample_rate=client.output_rate, video_out=client.video_out)
    rate = client.input_rate
    done = asyncio.Event()

    async def speak() -> None:
        started = time.monotonic()
        await client.stream_pcm(pcm)
        end = len(pcm) / 2 / rate if speech_end_secs is None else speech_end_secs
        result.speech_end_at = started + end
        # keep the "mic" open with silence until the reply is over
        await client.send_silence_until(done, timeout_secs=timeout_secs)

    async def listen() -> None:
        bot_spoke = False
        stop_at_bytes: int | None = None  # after bot-stopped-speaking: the tail's end
        async for item in client.receive():
            if on_item is not None:
                on_item(item)
            if isinstance(item, BotVideo):
                result.video.append(item)
                continue
            if isinstance(item, BotAudio):
                if result.audio_start_pts_us is None:
                    result.audio_start_pts_us = item.pts_us
                if (result.first_audio_at is None and result.speech_end_at is not None
                        and (not continuous or item.pcm.strip(b"\x00"))):
                    result.first_audio_at = item.received_at
                result.audio.extend(item.pcm)
                if stop_at_bytes is not None and len(result.audio) >= stop_at_bytes:
                    break
                continue
            if isinstance(item, Closed):
                break
            result.events.append(item)
            kind = getattr(item, "type", "")
            if kind == "bot-started-speaking":
                bot_spoke = True
            elif kind == "bot-stopped-speaking" and bot_spoke and not result.completed:
                result.completed = True
                if not continuous or tail_secs <= 0:
                    break
                stop_at_bytes = len(result.audio) + 2 * round(tail_secs * result.sample_rate)
            elif isinstance(item, ErrorEvent) and item.fatal:
                break
        done.set()

    speaker = asyncio.create_task(speak())
    camera = (asyncio.create_task(client.stream_video_file(video_path, fps=camera_fps, loop=True))
              if video_path is not None else None)
    try:
        await asyncio.wait_for(listen(), timeout=timeout_secs + len(pcm) / 2 / rate + tail_secs)
    except TimeoutError:
        pass
    finally:
        done.set()
        for task in (speaker, camera):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task
    return result
