"""What `VoiceConnection.receive()` yields, and how one websocket message becomes it (no I/O).

Events arrive as the pydantic models of sdk.events and sdk.protocol; media as
`BotAudio`, `BotVideo` and (a client that draws the face) `BotMotion`, stamped with their arrival time; the end of a
session as `Closed` (or `SessionRestarted` when the connection reconnects).
`parse_item` is the decoding, kept apart from the socket so it is tested
without one and a client that reads its own socket can reuse it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from sdk.errors import ProtocolError
from sdk.images import decode_jpeg
from sdk.protocol import (
    MEDIA_HEADER_SIZE,
    MediaKind,
    decode_face_motion,
    decode_media,
    parse_server_message,
)
from sdk.reconnect import SessionRestarted

#: the media kinds a client receives: the bot's audio, its video, its motion (v2.3)
_RECEIVED_KINDS = (MediaKind.AUDIO, MediaKind.VIDEO, MediaKind.FACE_MOTION)


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
class BotMotion:
    """One motion frame of the avatar (protocol v2.3, kind 6) for a client that draws
    the face itself: `FACE_MOTION_DIM` values at the pts of its audio chunk, drawn with
    the assets of the `assets` event whose `serial` is `assets_serial`."""

    values: tuple[float, ...]
    pts_us: int
    received_at: float  # time.monotonic() when it arrived
    #: the `serial` of the `assets` event these values are drawn with (header `aux`)
    assets_serial: int = 0

    type: str = "bot-motion"


@dataclass(frozen=True)
class Closed:
    """The server closed the connection (last item `receive()` yields)."""

    code: int | None
    reason: str

    type: str = "closed"


ServerItem = BaseModel | BotAudio | BotVideo | BotMotion | Closed | SessionRestarted


def parse_item(
    data: str | bytes, *, output_rate: int, received_at: float | None = None
) -> BotAudio | BotVideo | BotMotion | BaseModel | None:
    """One server message as what `receive()` yields, or None for one this SDK skips.

    Skipped, never raised (the protocol asks clients to ignore what they do not
    know, so a newer server never breaks an older client): event types newer
    than this SDK, media kinds other than audio and video, and binary messages
    that do not decode (a motion frame too: the next one is 40 ms away).

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
    if len(data) < MEDIA_HEADER_SIZE or data[0] not in _RECEIVED_KINDS:
        return None  # check the kind first: decode_media raises on kinds it does not know
    try:
        chunk = decode_media(data)
    except ProtocolError:
        return None  # e.g. an odd-length audio payload: nothing playable in it
    now = time.monotonic() if received_at is None else received_at
    if chunk.kind is MediaKind.AUDIO:
        return BotAudio(chunk.payload, output_rate, chunk.pts_us, now)
    if chunk.kind is MediaKind.FACE_MOTION:
        try:
            return BotMotion(decode_face_motion(chunk), chunk.pts_us, now, chunk.aux)
        except ProtocolError:
            return None
    return BotVideo(chunk.payload, chunk.pts_us, now, chunk.aux)
