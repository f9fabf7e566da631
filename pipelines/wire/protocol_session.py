"""The server's half of the wire protocol: `ProtocolSession`, one connection's state machine.

It turns raw websocket messages into typed inputs (`AudioInput`, `CameraJpegInput`,
`MotionInput`, `PortraitUpload`, or a client message of sdk.protocol) or
`ProtocolError`s without touching a socket: the handshake, the negotiated
formats, media validation and per-stream rate limits. The schema it checks
against (messages, media header, limits) is sdk.protocol, shared with the
client SDK; docs/PROTOCOL.md is the normative description.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter, ValidationError

from sdk.errors import ProtocolError
from sdk.protocol import (
    IMAGE_MAGIC,
    JPEG_MAGIC,
    SUPPORTED_INPUT_RATES,
    SUPPORTED_VERSIONS,
    AssetsLoaded,
    ClientMessage,
    ErrorCode,
    Hello,
    KeepalivePong,
    Limits,
    MediaKind,
    Ping,
    SetPortrait,
    SetRender,
    decode_media,
    decode_motion,
)

_CLIENT_ADAPTER: TypeAdapter[
    Hello | Ping | KeepalivePong | SetPortrait | AssetsLoaded | SetRender] = TypeAdapter(ClientMessage)


class SessionState(StrEnum):
    """Where a session is in its life."""

    AWAITING_HELLO = "awaiting_hello"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class AudioInput:
    """A validated chunk of client audio (PCM s16le mono at `sample_rate`)."""

    pcm: bytes
    sample_rate: int
    pts_us: int


@dataclass(frozen=True)
class CameraJpegInput:
    """A JPEG frame of the user's camera (decoded and analysed by the face service)."""

    jpeg: bytes
    pts_us: int


@dataclass(frozen=True)
class MotionInput:
    """The user's motion as the client measured it; None = no face this frame."""

    motion: tuple[float, ...] | None
    pts_us: int


@dataclass(frozen=True)
class PortraitUpload:
    """An image the client wants animated (validated as a face by the server)."""

    image: bytes


class RateLimitedError(ProtocolError):
    """`rate_limited`: one message dropped because its stream arrives too fast.

    `unit` names what was dropped ("audio chunk", "camera frame", "motion
    message"), so the serializer can coalesce the events per stream and say how
    many of which were dropped.
    """

    def __init__(self, unit: str, message: str) -> None:
        super().__init__(ErrorCode.RATE_LIMITED.value, message)
        self.unit = unit


Parsed = (Hello | Ping | KeepalivePong | SetPortrait | AssetsLoaded | SetRender | AudioInput
          | CameraJpegInput | MotionInput | PortraitUpload)


class ProtocolSession:
    """Server side of protocol v1 for one connection, without I/O.

    Feed every received message to `receive()`; it returns the typed input or
    raises `ProtocolError` (non-fatal ones mean: answer the error, drop the
    message, keep going). `clock` is injectable so rate limiting is testable.
    """

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        supported_rates: tuple[int, ...] = SUPPORTED_INPUT_RATES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or Limits()
        self.supported_rates = supported_rates
        self.state = SessionState.AWAITING_HELLO
        self.hello: Hello | None = None
        self._clock = clock
        self._bucket_secs = self.limits.audio_burst_secs  # token bucket of audio seconds
        self._bucket_time = clock()
        self._face_tokens = float(self.limits.camera_burst_frames)  # camera + motion bucket
        self._face_time = clock()

    @property
    def input_rate(self) -> int:
        """The client's audio sample rate (only valid once open)."""
        if self.hello is None:
            raise RuntimeError("no hello yet: the input rate is unknown")
        return self.hello.audio_in.sample_rate

    def close(self) -> None:
        """Mark the session closed; every later message is refused."""
        self.state = SessionState.CLOSED

    def receive(self, data: str | bytes) -> Parsed:
        """Validate one websocket message and return what it means.

        Raises:
            ProtocolError: the message breaks the protocol (see `.fatal`).
        """
        if self.state is SessionState.CLOSED:
            raise ProtocolError(ErrorCode.INVALID.value, "session is closed", fatal=True)
        is_binary = isinstance(data, bytes | bytearray | memoryview)
        is_image = is_binary and len(data) > 0 and data[0] in (MediaKind.CAMERA, MediaKind.PORTRAIT)
        limit = self.limits.max_image_bytes if is_image else self.limits.max_message_bytes
        if len(data) > limit:
            hint = ("send smaller JPEGs (640x480 at quality 70 is ~40 KiB)" if is_image
                    else "send audio in chunks of 20-100 ms")
            name = "max_image_bytes" if is_image else "max_message_bytes"
            raise ProtocolError(
                ErrorCode.FRAME_TOO_LARGE.value,
                f"message of {len(data)} bytes exceeds {name}={limit}; {hint}",
            )
        if isinstance(data, bytes | bytearray | memoryview):
            return self._receive_binary(bytes(data))
        return self._receive_text(data)

    # -- text

    def _receive_text(self, text: str) -> Parsed:
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ProtocolError(
                ErrorCode.MALFORMED.value,
                "text message is not JSON; text messages are JSON objects with a 'type', "
                "audio goes in binary messages",
            ) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            raise ProtocolError(
                ErrorCode.MALFORMED.value, "text message must be a JSON object with a 'type'"
            )
        kind = obj["type"]
        if kind in ("audio", "input-audio", "audio-in"):
            raise ProtocolError(
                ErrorCode.EXPECTED_BINARY.value,
                "audio must be sent as binary messages (12-byte media header + PCM s16le), "
                "not as text",
            )
        if kind not in ("hello", "ping", "pong", "set-portrait", "assets-loaded", "set-render"):
            raise ProtocolError(ErrorCode.UNKNOWN_TYPE.value, f"unknown message type '{kind}'")
        if kind == "hello" and self.state is SessionState.AWAITING_HELLO:
            return self._receive_hello(obj)
        if kind == "hello":
            raise ProtocolError(ErrorCode.INVALID.value, "hello was already received")
        if self.state is SessionState.AWAITING_HELLO:
            raise ProtocolError(
                ErrorCode.HANDSHAKE_REQUIRED.value, "the first message must be 'hello'", fatal=True
            )
        try:
            return _CLIENT_ADAPTER.validate_python(obj)
        except ValidationError as error:
            raise ProtocolError(ErrorCode.INVALID.value, _short(error)) from None

    def _receive_hello(self, obj: dict[str, Any]) -> Hello:
        protocol = obj.get("protocol")
        if isinstance(protocol, bool) or protocol not in SUPPORTED_VERSIONS:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED_VERSION.value,
                f"protocol {protocol!r} is not supported; this server speaks "
                f"{', '.join(map(str, SUPPORTED_VERSIONS))}",
                fatal=True,
            )
        audio_in = obj.get("audio_in")
        if not isinstance(audio_in, dict) or "sample_rate" not in audio_in:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED_SAMPLE_RATE.value,
                "hello.audio_in.sample_rate is missing: state the rate of the PCM you will send",
                fatal=True,
            )
        rate = audio_in.get("sample_rate")
        if not isinstance(rate, int) or isinstance(rate, bool) or rate not in self.supported_rates:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED_SAMPLE_RATE.value,
                f"sample_rate {rate!r} is not supported; use one of {list(self.supported_rates)}",
                fatal=True,
            )
        try:
            hello = Hello.model_validate(obj)
        except ValidationError as error:
            raise ProtocolError(ErrorCode.INVALID.value, _short(error), fatal=True) from None
        if hello.protocol == 1:  # v1 reserved video_out and never sent video: ignore it
            hello = hello.model_copy(update={"video_out": None, "video_in": None,
                                             "portrait": None, "render": None})
        self.hello = hello
        self.state = SessionState.OPEN
        self._bucket_time = self._face_time = self._clock()
        return hello

    # -- binary

    def _receive_binary(
        self, data: bytes
    ) -> AudioInput | CameraJpegInput | MotionInput | PortraitUpload:
        if self.state is SessionState.AWAITING_HELLO:
            raise ProtocolError(
                ErrorCode.HANDSHAKE_REQUIRED.value,
                "send 'hello' (with audio_in.sample_rate) before any audio",
                fatal=True,
            )
        chunk = decode_media(data)
        if chunk.kind is MediaKind.AUDIO:
            self._charge(len(chunk.payload) / 2 / self.input_rate)
            return AudioInput(chunk.payload, self.input_rate, chunk.pts_us)
        if chunk.kind is MediaKind.VIDEO:
            raise ProtocolError(
                ErrorCode.BAD_MEDIA.value,
                "clients may not send avatar video (kind 2); camera frames are kind 3",
            )
        if chunk.kind is MediaKind.FACE_MOTION:
            raise ProtocolError(
                ErrorCode.BAD_MEDIA.value,
                "clients may not send the avatar's motion (kind 6); the user's motion is kind 4",
            )
        assert self.hello is not None  # state OPEN
        if chunk.kind is MediaKind.PORTRAIT:
            if self.hello.video_out is None:
                raise ProtocolError(
                    ErrorCode.BAD_PORTRAIT.value,
                    "a portrait upload needs a video session (hello.video_out, protocol 2)",
                )
            if not chunk.payload.startswith(IMAGE_MAGIC):
                raise ProtocolError(ErrorCode.BAD_PORTRAIT.value,
                                    "a portrait upload must be a JPEG or PNG image")
            return PortraitUpload(chunk.payload)
        if self.hello.video_in is None:
            raise ProtocolError(
                ErrorCode.VIDEO_IN_DISABLED.value,
                f"{chunk.kind.name.lower()} messages need hello.video_in (protocol 2); "
                "this one was dropped",
            )
        self._charge_face(chunk.kind)
        if chunk.kind is MediaKind.CAMERA:
            if not chunk.payload.startswith(JPEG_MAGIC):
                raise ProtocolError(
                    ErrorCode.BAD_CAMERA_FRAME.value,
                    "a camera frame must be one JPEG image (starts with FF D8 FF); dropped",
                )
            return CameraJpegInput(chunk.payload, chunk.pts_us)
        return MotionInput(decode_motion(chunk), chunk.pts_us)

    def _charge(self, secs: float) -> None:
        """Token bucket: audio may come at most max_audio_rate x real time after a burst.

        This bounds the per-session input queue: a client that floods audio gets
        `rate_limited` errors and its excess is dropped instead of piling up.
        """
        now = self._clock()
        limits = self.limits
        self._bucket_secs = min(
            limits.audio_burst_secs,
            self._bucket_secs + (now - self._bucket_time) * limits.max_audio_rate,
        )
        self._bucket_time = now
        if secs > self._bucket_secs + 1e-6:  # tolerance: float sums of chunk lengths
            raise RateLimitedError(
                "audio chunk",
                f"audio arrives faster than {limits.max_audio_rate}x real time; "
                "chunk dropped, send at real-time pace",
            )
        self._bucket_secs -= secs

    def _charge_face(self, kind: MediaKind) -> None:
        """Token bucket of camera and motion messages: `max_camera_fps` a second after
        a burst of `camera_burst_frames`.

        Checked on the header alone, before the payload is looked at: a flood
        (250 frames a second were seen) is dropped here at the cost of a few
        arithmetic operations, instead of reaching the pipeline and the JPEG
        decoder and slowing every other session's video.
        """
        now = self._clock()
        limits = self.limits
        self._face_tokens = min(
            float(limits.camera_burst_frames),
            self._face_tokens + (now - self._face_time) * limits.max_camera_fps,
        )
        self._face_time = now
        if self._face_tokens < 1.0 - 1e-9:
            unit = "camera frame" if kind is MediaKind.CAMERA else "motion message"
            raise RateLimitedError(
                unit,
                f"camera and motion messages arrive faster than {limits.max_camera_fps:g} "
                "a second; dropped, send at most that many",
            )
        self._face_tokens -= 1.0


def _short(error: ValidationError) -> str:
    """One line per validation problem, without pydantic's URLs."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'message'}: {e['msg']}" for e in error.errors()
    )
