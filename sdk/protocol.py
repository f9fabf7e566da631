"""Wire protocol v2 (v1 still spoken; additions up to v2.3) between a client and the avatar-forcing server (no I/O).

docs/PROTOCOL.md is the normative description; this module is its executable
form. It holds the versions, codes and limits, the handshake and the other
client messages, the parser of what a server sends, and the binary media header,
pure pydantic and struct, so the server (pipelines.wire), the pipecat serializer
and the client SDK share one schema and one parser and tests need no network.
The events a server sends after `welcome` are sdk.events. The server's state
machine for one connection, `ProtocolSession`, is pipelines/wire/protocol_session.py.

Summary:
- Text messages are JSON objects with a `type` field (RTVI-style names).
- Binary messages are media: a 12-byte little-endian header
  `kind:u8 flags:u8 reserved:u16 pts_us:u64` then the payload. Kind 1 is PCM
  s16le mono audio at the sample rate fixed by the handshake; kind 2 is one
  JPEG frame of the avatar (server -> client) on the same clock as the audio;
  kind 3 is a JPEG camera frame and kind 4 a motion vector the client measured
  itself (client -> server, v2 with `video_in`); kind 5 uploads a portrait;
  kind 6 is the avatar's motion for a client that draws the face itself (v2.3).
- The client opens with `hello` (protocol version + its audio format, in v2
  optionally `video_out`, `video_in`, `portrait`, and from v2.3 `render`); the server
  answers `welcome` (session id + the formats it will send) or an `error` event and
  a close code.
- v2.3, a client that draws: `hello.render` names the asset formats it reads; the
  server sends the portrait's assets once (an `assets` event with a cacheable URL),
  then one motion frame (kind 6) per 40 ms on the audio's clock instead of JPEGs. The
  client may ask for pixels back at any time (`set-render`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from sdk.errors import ProtocolError
from sdk.events import (
    AssetsEvent,
    BotOutput,
    BotTTSText,
    ErrorEvent,
    KeepalivePing,
    MetricsEvent,
    Pong,
    PortraitEvent,
    PresenceEvent,
    RenderEvent,
    ServerMessageBase,
    SimpleEvent,
    UserTranscription,
    VideoQualityEvent,
    VisitorArrived,
    VisitorLeft,
)

PROTOCOL_VERSION = 2
#: Additions to version 2 that a client may ask for (`welcome.protocol_minor`):
#: 1 = presence (`hello.presence`, the `presence` / `visitor-arrived` / `visitor-left`
#: events, `welcome.presence`); 2 = keepalive (`welcome.keepalive`, the server's `ping`
#: to a presence session answered by the client's `pong`); 3 = the face drawn by the
#: client (`hello.render`, `welcome.render`, the `assets` and `render` events, the
#: client's `assets-loaded` and `set-render`, media kind 6).
PROTOCOL_MINOR = 3
#: Versions a server accepts: v1 clients keep working unchanged (audio only).
SUPPORTED_VERSIONS: tuple[int, ...] = (1, 2)

#: Sample rates a client may send; the server resamples them to its ASR rate.
SUPPORTED_INPUT_RATES: tuple[int, ...] = (8000, 16000, 22050, 24000, 32000, 44100, 48000)

#: Binary media header: kind, flags, reserved, pts in microseconds (little-endian).
MEDIA_HEADER = struct.Struct("<BBHQ")
MEDIA_HEADER_SIZE = MEDIA_HEADER.size  # 12: keeps the PCM payload 2-byte aligned for Int16Array


class MediaKind(IntEnum):
    """First byte of every binary message."""

    AUDIO = 1  # PCM s16le mono at the negotiated rate (both directions)
    VIDEO = 2  # one JPEG frame of the avatar (server -> client), same clock as audio
    CAMERA = 3  # one JPEG frame of the user's camera (client -> server, v2 video_in)
    MOTION = 4  # the user's face motion measured by the client (client -> server, v2)
    PORTRAIT = 5  # a portrait image to animate, JPEG or PNG (client -> server, v2)
    FACE_MOTION = 6  # the avatar's motion for a client that draws it (server -> client, v2.3)


#: `flags` bit of a MOTION message: set when a face was found (payload = motion),
#: clear when not (empty payload: "no face this frame", not a zero vector).
FLAG_FACE_FOUND = 0x01


class CloseCode(IntEnum):
    """Websocket close codes the server uses, each with one meaning."""

    NORMAL = 1000  # session ended normally (client left or server shut down)
    GOING_AWAY = 1001  # server shutting down
    PROTOCOL_ERROR = 1002  # handshake broken: no/invalid hello, unsupported version
    UNSUPPORTED_DATA = 1003  # handshake asked for a format we cannot take (sample rate)
    POLICY = 1008  # authentication failed
    INTERNAL = 1011  # the server failed (models, pipeline crash)
    TRY_AGAIN_LATER = 1013  # all session slots are busy


class ErrorCode(StrEnum):
    """Stable `code` values of the `error` event (clients switch on these)."""

    MALFORMED = "malformed_message"  # text that is not a JSON object with a `type`
    UNKNOWN_TYPE = "unknown_message_type"
    INVALID = "invalid_message"  # known type, wrong fields
    EXPECTED_BINARY = "expected_binary"  # audio sent as text
    BAD_MEDIA = "bad_media"  # binary too short, unknown kind, odd PCM length
    BAD_CAMERA_FRAME = "bad_camera_frame"  # camera frame not a decodable JPEG, bad motion
    VIDEO_IN_DISABLED = "video_in_disabled"  # camera/motion sent without hello.video_in
    UNKNOWN_PORTRAIT = "unknown_portrait"  # no portrait of that name on the server
    BAD_PORTRAIT = "bad_portrait"  # upload not an image, no face, face too small
    FRAME_TOO_LARGE = "frame_too_large"
    RATE_LIMITED = "rate_limited"  # audio arriving faster than real time allows
    HANDSHAKE_REQUIRED = "handshake_required"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNSUPPORTED_SAMPLE_RATE = "unsupported_sample_rate"
    UNAUTHORIZED = "unauthorized"
    SERVER_BUSY = "server_busy"
    LLM_UNAVAILABLE = "llm_unavailable"
    EMPTY_TRANSCRIPT = "empty_transcript"  # no longer sent (a sound without words is no error)
    #: the face's worker process was lost (a crash) and replaced; the video goes on
    AVATAR_RESTARTED = "avatar_restarted"
    #: v2.3: a client that said it draws never said it loaded the portrait's assets
    #: (`assets-loaded`) within `welcome.render.assets_timeout_secs`: pixels from now on
    ASSETS_NOT_LOADED = "assets_not_loaded"
    #: v2.3: `assets-loaded` or `set-render` that does not fit the session (an unknown
    #: assets id, a session the server draws); nothing changes
    BAD_RENDER = "bad_render"
    INTERNAL = "internal_error"


@dataclass(frozen=True)
class Limits:
    """Per-session bounds that keep one client from hurting the others."""

    #: Largest audio or text message accepted (bytes). 64 KiB = 2 s of 16 kHz audio.
    max_message_bytes: int = 65536
    #: Largest camera frame or portrait upload (bytes): a 640x480 JPEG is ~50 KiB.
    max_image_bytes: int = 1_048_576
    #: Camera (kind 3) and motion (kind 4) messages per second a client may send,
    #: sustained, the two kinds counted together; more are dropped on arrival
    #: (`rate_limited`), before any decoding, so one flooding client cannot take
    #: the event loop and CPU the other sessions' video needs.
    max_camera_fps: float = 25.0
    #: ...after a burst allowance of this many messages (a browser's timers bunch up).
    camera_burst_frames: int = 10
    #: Audio may arrive at most this many times faster than real time (sustained)...
    max_audio_rate: float = 4.0
    #: ...after a burst allowance of this many seconds of audio.
    audio_burst_secs: float = 4.0
    #: Seconds the server waits for `hello` before closing.
    hello_timeout_secs: float = 10.0

    def as_dict(self) -> dict[str, float | int]:
        """The limits as sent in `welcome`."""
        return {
            "max_message_bytes": self.max_message_bytes,
            "max_image_bytes": self.max_image_bytes,
            "max_audio_rate": self.max_audio_rate,
            "audio_burst_secs": self.audio_burst_secs,
            "max_camera_fps": self.max_camera_fps,
            "camera_burst_frames": self.camera_burst_frames,
        }


# --------------------------------------------------------------------------- messages


class _ClientMessage(BaseModel):
    """Base of every client -> server message: strict types, unknown fields refused.

    A client message goes to a server that speaks only versions it knows, so an
    unknown field cannot be a newer feature this server should skip: it is a typo
    (`"video_output"`, `"sample-rate"`) or a field of another product, and
    ignoring it silently gives the client a session it did not ask for. Likewise
    `"size": "512"` is a client bug best named at once. New client
    fields therefore come with a new protocol version (docs/PROTOCOL.md, Versioning).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class AudioFormat(ServerMessageBase):
    """PCM format of one direction of audio."""

    sample_rate: int = Field(gt=0)
    channels: Literal[1] = 1
    encoding: Literal["pcm_s16le"] = "pcm_s16le"


class AudioInFormat(AudioFormat):
    """`hello.audio_in`: an `AudioFormat` held to the client-message rules
    (strict types, no unknown fields), since it is what the client will send."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


#: Avatar video sizes a client may ask for (square frames).
VIDEO_SIZES: tuple[int, ...] = (256, 384, 512)


class VideoOutRequest(_ClientMessage):
    """What avatar video a v2 client wants (`hello.video_out`)."""

    size: int = Field(default=512, ge=256, le=512)  # square frame edge in pixels
    fps: Literal[25] = 25
    codec: Literal["jpeg"] = "jpeg"


class VideoInOffer(_ClientMessage):
    """What the client will send of its user's face (`hello.video_in`)."""

    #: "camera": JPEG frames (kind 3) analysed by the server; "motion": the
    #: client runs the face landmarker itself and sends motion vectors (kind 4).
    kind: Literal["camera", "motion"] = "camera"


#: Versions of a portrait's drawing assets (the browser bundle) this side speaks.
ASSET_FORMATS: tuple[int, ...] = (1,)
#: Payload formats of a motion frame (media kind 6); 1: `FACE_MOTION_DIM` float32 LE.
FACE_MOTION_FORMAT = 1


class RenderOffer(_ClientMessage):
    """`hello.render` (v2.3): the client draws the face itself (WebGL) from the
    portrait's assets and one motion frame per 40 ms, instead of receiving JPEGs."""

    mode: Literal["client"] = "client"
    #: the asset bundle versions the client reads (`ASSET_FORMATS`), most preferred first
    asset_formats: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, max_length=16)


class Hello(_ClientMessage):
    """Client -> server, first message: protocol version and the client's formats."""

    type: Literal["hello"] = "hello"
    protocol: int
    audio_in: AudioInFormat
    client: str | None = None
    token: str | None = None  # alternative to the Authorization header / ?token= query
    #: v2: ask for avatar video; `true` means the defaults of `VideoOutRequest`.
    video_out: VideoOutRequest | None = None
    #: v2: the client will send its user's camera or motion.
    video_in: VideoInOffer | None = None
    #: v2: the portrait to animate, by name (see `GET /portraits`).
    portrait: str | None = None
    #: v2.1 video sessions: the client is a kiosk. The server watches who is in front
    #: (camera and microphone), greets a visitor who walks up, ends and forgets the
    #: conversation when they leave, and idles cheaply while nobody is there.
    presence: bool | None = None  # absent (not false) on the wire: a 2.0 server takes it
    #: v2.3 video sessions: the client draws the face (absent: the server sends pixels)
    render: RenderOffer | None = None

    @field_validator("video_out", "video_in", mode="before")
    @classmethod
    def _true_means_defaults(cls, value: Any) -> Any:
        """`true` asks for the defaults, `false`/absent for nothing."""
        if value is True:
            return {}
        if value is False:
            return None
        return value

    @model_validator(mode="after")
    def _presence_needs_video(self) -> Hello:
        """A kiosk's presence is watched by its face: without `video_out` there is none."""
        if self.presence and self.video_out is None:
            raise ValueError("presence needs video_out (the kiosk's face watches for visitors)")
        if self.render is not None and self.video_out is None:
            raise ValueError("render needs video_out (a session without a face draws none)")
        return self

    @field_validator("audio_in", mode="before")
    @classmethod
    def _plain_audio_format(cls, value: Any) -> Any:
        """Accept an `AudioFormat` built in Python (the client SDK does) as its fields;
        strict mode would otherwise refuse an instance of the parent class."""
        if isinstance(value, AudioFormat) and not isinstance(value, AudioInFormat):
            return value.model_dump()
        return value


class Ping(_ClientMessage):
    """Client -> server keep-alive; answered by `pong` with the same id."""

    type: Literal["ping"] = "ping"
    id: str | int | None = None


class KeepalivePong(_ClientMessage):
    """Client -> server (v2.2): the answer to the server's keepalive `ping`, same id."""

    type: Literal["pong"] = "pong"
    id: int = 0


class SetPortrait(_ClientMessage):
    """Client -> server (v2 video sessions): animate another portrait from now on."""

    type: Literal["set-portrait"] = "set-portrait"
    name: str = Field(min_length=1, max_length=128)


class AssetsLoaded(_ClientMessage):
    """Client -> server (v2.3): the assets of an `assets` event are loaded and drawable."""

    type: Literal["assets-loaded"] = "assets-loaded"
    id: str = Field(min_length=1, max_length=128)


class SetRender(_ClientMessage):
    """Client -> server (v2.3): send pixels from now on (no WebGL2, a lost GL context,
    assets that failed to load or that the browser refused). `reason` goes to the
    server's log. Going back to the client's drawing takes a new session."""

    type: Literal["set-render"] = "set-render"
    mode: Literal["pixels"] = "pixels"
    reason: str = Field(default="", max_length=500)


ClientMessage = Annotated[Hello | Ping | KeepalivePong | SetPortrait | AssetsLoaded | SetRender,
                          Field(discriminator="type")]


class Welcome(ServerMessageBase):
    """Server -> client answer to `hello`: the session and the formats in use."""

    type: Literal["welcome"] = "welcome"
    protocol: int = PROTOCOL_VERSION
    session_id: str
    audio_in: AudioFormat
    audio_out: AudioFormat
    #: v2 video sessions: the video actually sent (size, fps, codec, portrait,
    #: camera analysis rate) as the server chose it to keep real time here.
    video_out: dict[str, Any] | None = None
    limits: dict[str, float | int]
    #: additions to `protocol` this server speaks (PROTOCOL_MINOR)
    protocol_minor: int = PROTOCOL_MINOR
    #: v2.1, a session with `hello.presence`: the kiosk's presence settings
    #: (`state`, `away_secs`, `attract_text`, `greeting`; optionally `mic_gate`: true when
    #: a quiet microphone may be held back while nobody is there, sdk/mic_gate.py)
    presence: dict[str, Any] | None = None
    #: v2.2, a presence session over the websocket: the server's `ping` comes every
    #: `interval_secs`; answer each with `pong`. Once one was answered, a session the
    #: server hears nothing from for `timeout_secs` is ended (its network is gone)
    keepalive: dict[str, float] | None = None
    #: v2.3, a session whose hello offered `render`: who draws (`mode` "client", with
    #: `asset_format`, `motion_format` and `assets_timeout_secs`; or "pixels" with the
    #: `reason` the server draws after all)
    render: dict[str, Any] | None = None


ServerMessage = Annotated[
    Welcome | Pong | KeepalivePing | ErrorEvent | SimpleEvent | UserTranscription | BotOutput | BotTTSText
    | MetricsEvent | PortraitEvent | VideoQualityEvent | PresenceEvent | VisitorArrived
    | VisitorLeft | AssetsEvent | RenderEvent,
    Field(discriminator="type"),
]
_SERVER_ADAPTER: TypeAdapter[Any] = TypeAdapter(ServerMessage)

#: Every server -> client event type, for clients and the serializer's allow-list.
SERVER_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "welcome",
        "pong",
        "ping",
        "error",
        "user-started-speaking",
        "user-stopped-speaking",
        "bot-started-speaking",
        "bot-stopped-speaking",
        "bot-interrupted",
        "user-transcription",
        "bot-output",
        "bot-tts-text",
        "metrics",
        "portrait",
        "video-quality",
        "presence",
        "visitor-arrived",
        "visitor-left",
        "assets",
        "render",
    }
)


def error_event(code: ErrorCode | str, message: str, *, fatal: bool = False,
                retry_after_s: float | None = None) -> ErrorEvent:
    """Build an `error` event from a code (enum or string)."""
    value = code.value if isinstance(code, ErrorCode) else code
    return ErrorEvent(code=value, message=message, fatal=fatal, retry_after_s=retry_after_s)


def encode_message(message: BaseModel) -> str:
    """A message as the compact JSON text sent on the wire."""
    return message.model_dump_json(exclude_none=True)


def parse_server_message(text: str) -> BaseModel:
    """Parse a server -> client text message (used by clients).

    Raises:
        ProtocolError: if the text is not JSON or not a known server message.
    """
    try:
        return _SERVER_ADAPTER.validate_json(text)
    except ValidationError as error:
        raise ProtocolError(ErrorCode.INVALID.value, f"bad server message: {error}") from error


# --------------------------------------------------------------------------- media


@dataclass(frozen=True)
class MediaChunk:
    """One decoded binary message."""

    kind: MediaKind
    pts_us: int
    payload: bytes
    flags: int = 0
    #: the header's u16 after `flags`: 0 except on video (kind 2), where it is the
    #: number of 40 ms user-audio frames (mod 65536) the generator had heard when
    #: it made this frame, so a client can measure reaction latency from the wire
    aux: int = 0


def encode_media(kind: MediaKind, payload: bytes, pts_us: int = 0, flags: int = 0,
                 aux: int = 0) -> bytes:
    """Header + payload as one binary message (`aux`: see `MediaChunk.aux`)."""
    if pts_us < 0:
        raise ValueError(f"pts_us must be >= 0, got {pts_us}")
    return MEDIA_HEADER.pack(int(kind), flags, aux & 0xFFFF, pts_us) + payload


#: Columns of a motion vector (kind 4): 6 pose values + 52 blendshapes, as
#: `avatar.motion` defines them (a test keeps the two equal).
MOTION_VECTOR_DIM = 58
_MOTION_VECTOR = struct.Struct(f"<{MOTION_VECTOR_DIM}f")
JPEG_MAGIC = b"\xff\xd8\xff"
IMAGE_MAGIC = (JPEG_MAGIC, b"\x89PNG\r\n\x1a\n")


def encode_motion(motion: Sequence[float] | None, pts_us: int = 0) -> bytes:
    """A kind-4 message: the user's motion, or None for "no face this frame"."""
    if motion is None:
        return encode_media(MediaKind.MOTION, b"", pts_us, 0)
    values = [float(v) for v in motion]
    if len(values) != MOTION_VECTOR_DIM:
        raise ValueError(f"a motion vector has {MOTION_VECTOR_DIM} values, got {len(values)}")
    return encode_media(MediaKind.MOTION, _MOTION_VECTOR.pack(*values), pts_us, FLAG_FACE_FOUND)


def decode_media(data: bytes) -> MediaChunk:
    """Split a binary message into header fields and payload.

    Raises:
        ProtocolError: (code bad_media) if the header is short, the kind is unknown
            or an audio payload is not whole 16-bit samples.
    """
    if len(data) < MEDIA_HEADER_SIZE:
        raise ProtocolError(
            ErrorCode.BAD_MEDIA.value,
            f"binary message of {len(data)} bytes is shorter than the "
            f"{MEDIA_HEADER_SIZE}-byte media header",
        )
    kind, flags, aux, pts_us = MEDIA_HEADER.unpack_from(data)
    try:
        media_kind = MediaKind(kind)
    except ValueError:
        raise ProtocolError(ErrorCode.BAD_MEDIA.value, f"unknown media kind {kind}") from None
    payload = bytes(data[MEDIA_HEADER_SIZE:])
    if media_kind is MediaKind.AUDIO and len(payload) % 2:
        raise ProtocolError(
            ErrorCode.BAD_MEDIA.value,
            f"audio payload of {len(payload)} bytes is not whole 16-bit samples",
        )
    return MediaChunk(media_kind, pts_us, payload, flags, aux)


def decode_motion(chunk: MediaChunk) -> tuple[float, ...] | None:
    """The motion of a kind-4 message, None for "no face"; raises on a bad payload."""
    if not chunk.flags & FLAG_FACE_FOUND:
        if chunk.payload:
            raise ProtocolError(ErrorCode.BAD_CAMERA_FRAME.value,
                                "a motion message without a face carries no payload")
        return None
    if len(chunk.payload) != _MOTION_VECTOR.size:
        raise ProtocolError(
            ErrorCode.BAD_CAMERA_FRAME.value,
            f"a motion message carries {MOTION_VECTOR_DIM} float32 values "
            f"({_MOTION_VECTOR.size} bytes), got {len(chunk.payload)} bytes",
        )
    values = _MOTION_VECTOR.unpack(chunk.payload)
    if not all(math.isfinite(v) for v in values):
        raise ProtocolError(ErrorCode.BAD_CAMERA_FRAME.value, "motion contains NaN or inf")
    return values


#: Values of a motion frame (kind 6, format 1), float32 little-endian: the head's
#: rotation (3x3), scale, shift, the two irises' shifts, lip rounding and the 42 actuator
#: amplitudes of the portrait's assets (docs/PROTOCOL.md; avatar/render/browser_assets.py
#: `MOTION_FRAME_LEN`, which a test keeps equal).
FACE_MOTION_DIM = 59
_FACE_MOTION = struct.Struct(f"<{FACE_MOTION_DIM}f")


def encode_face_motion(motion: Sequence[float], pts_us: int, serial: int) -> bytes:
    """A kind-6 message: the avatar's motion frame at `pts_us` (the audio clock), for
    the assets announced with `serial` (the header's `aux`)."""
    values = [float(v) for v in motion]
    if len(values) != FACE_MOTION_DIM:
        raise ValueError(f"a face motion frame has {FACE_MOTION_DIM} values, got {len(values)}")
    if not 1 <= serial <= 0xFFFF:
        raise ValueError(f"an assets serial is 1..65535, got {serial}")
    return encode_media(MediaKind.FACE_MOTION, _FACE_MOTION.pack(*values), pts_us, 0, serial)


def decode_face_motion(chunk: MediaChunk) -> tuple[float, ...]:
    """The motion frame of a kind-6 message (a client reads it); its assets: `chunk.aux`.

    Raises:
        ProtocolError: (bad_media) a payload of the wrong length, NaN or inf.
    """
    if len(chunk.payload) != _FACE_MOTION.size:
        raise ProtocolError(
            ErrorCode.BAD_MEDIA.value,
            f"a face motion message carries {FACE_MOTION_DIM} float32 values "
            f"({_FACE_MOTION.size} bytes), got {len(chunk.payload)} bytes")
    values = _FACE_MOTION.unpack(chunk.payload)
    if not all(math.isfinite(v) for v in values):
        raise ProtocolError(ErrorCode.BAD_MEDIA.value, "face motion contains NaN or inf")
    return values
