"""The events a server sends during a session, after `welcome` (pydantic only, no I/O).

docs/PROTOCOL.md lists them; each is one JSON text message with a `type` field.
They sit apart from sdk.protocol, which holds the handshake, the parser that
picks one of these by `type`, and the binary media framing: the events are the
part of the schema that grows, one class per new event, and a client switches
on them by class.
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ServerMessageBase(BaseModel):
    """Base of every server -> client message: a client ignores unknown fields, so the
    server may add optional fields without a new protocol version."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Pong(ServerMessageBase):
    """Server -> client answer to `ping`."""

    type: Literal["pong"] = "pong"
    id: str | int | None = None


class KeepalivePing(ServerMessageBase):
    """Server -> client (v2.2, presence sessions over the websocket): are you there?
    Answer at once with `pong` of the same `id` (`sdk.protocol.KeepalivePong`); the
    SDK's `receive()` does. A presence session that sent nothing for
    `welcome.keepalive.timeout_secs` after answering once is taken as gone."""

    type: Literal["ping"] = "ping"
    id: int = 0


class ErrorEvent(ServerMessageBase):
    """Server -> client: something went wrong; `fatal` means the socket closes next."""

    type: Literal["error"] = "error"
    code: str
    message: str
    fatal: bool = False
    #: with `server_busy`: seconds after which a new try may find a free slot
    retry_after_s: float | None = None


class SimpleEvent(ServerMessageBase):
    """Server -> client event with no payload beyond its timestamp."""

    type: Literal[
        "user-started-speaking",
        "user-stopped-speaking",
        "bot-started-speaking",
        "bot-stopped-speaking",
        "bot-interrupted",
    ]
    ts: float = Field(default_factory=time.time)


class UserTranscription(ServerMessageBase):
    """Server -> client: what the server heard the user say: the utterance so far at its
    pauses (`final` False, live captions), then the final transcript once per utterance."""

    type: Literal["user-transcription"] = "user-transcription"
    text: str
    final: bool = True
    ts: float = Field(default_factory=time.time)


class BotOutput(ServerMessageBase):
    """Server -> client: text the bot has spoken (sent as its audio is sent)."""

    type: Literal["bot-output"] = "bot-output"
    text: str
    spoken: bool = True
    ts: float = Field(default_factory=time.time)


class BotTTSText(ServerMessageBase):
    """Server -> client: a sentence (or first clause) the bot starts saying now,
    sent right before its first audio (for live captions). `bot-output` follows
    with the same text once its audio has been sent; only that text is in the
    conversation context (a barge-in can cut a sentence announced here)."""

    type: Literal["bot-tts-text"] = "bot-tts-text"
    text: str
    ts: float = Field(default_factory=time.time)


class MetricsEvent(ServerMessageBase):
    """Server -> client: one timing of the pipeline (ASR, LLM, TTS) for benchmarks,
    or (kind "avatar") the face service's counters in `values`."""

    type: Literal["metrics"] = "metrics"
    kind: Literal["ttfb", "processing", "avatar"]
    processor: str
    value_ms: float = 0.0
    values: dict[str, float | int | str] | None = None


class PortraitEvent(ServerMessageBase):
    """Server -> client: the portrait now animated (after `hello.portrait`,
    `set-portrait` or an upload)."""

    type: Literal["portrait"] = "portrait"
    name: str


class VideoQualityEvent(ServerMessageBase):
    """Server -> client (v2 video sessions): the avatar's video quality changed
    while the session runs (the machine got busier, or has headroom again).

    Frames from the next video message on are `width` x `height`; `drawn_fps` of
    the 25 frames a second are freshly drawn (the others repeat the last image);
    the server analyses `camera_fps` camera frames a second (0: reactions to the
    visitor's face are paused). Audio is never changed. `level` 0 is what the
    client asked for, `levels - 1` the cheapest."""

    type: Literal["video-quality"] = "video-quality"
    width: int
    height: int
    fps: int = 25
    drawn_fps: float
    camera_fps: float
    level: int
    levels: int
    direction: Literal["down", "up"]
    reason: str
    ts: float = Field(default_factory=time.time)


class PresenceEvent(ServerMessageBase):
    """Server -> client (v2.1 presence sessions): who is in front of the kiosk now:
    `away` (nobody: attract mode), `approaching`, `engaged` (a visitor), `leaving`
    (nobody seen or heard; the visit ends after `away_secs` of it)."""

    type: Literal["presence"] = "presence"
    state: Literal["away", "approaching", "engaged", "leaving"]
    previous: Literal["away", "approaching", "engaged", "leaving"]
    reason: str = ""
    ts: float = Field(default_factory=time.time)


class VisitorArrived(ServerMessageBase):
    """Server -> client (v2.1 presence sessions): a visitor engaged; the greeting,
    if any, follows as ordinary bot speech."""

    type: Literal["visitor-arrived"] = "visitor-arrived"
    reason: str = ""
    ts: float = Field(default_factory=time.time)


class VisitorLeft(ServerMessageBase):
    """Server -> client (v2.1 presence sessions): the visitor left and the
    conversation was forgotten. The client clears its captions and anything it kept
    of the visit: the next visitor starts from nothing."""

    type: Literal["visitor-left"] = "visitor-left"
    reason: str = ""
    away_secs: float = 0.0
    ts: float = Field(default_factory=time.time)



class AssetsEvent(ServerMessageBase):
    """Server -> client (v2.3 client-drawn sessions): the portrait's drawing assets
    (mesh, fields, textures, calibration) for the client to fetch once and cache.

    `url` (relative to the server) answers the bundle with `Cache-Control: immutable`
    and an ETag: `id` is its content hash, so a browser that has it loads it from its
    cache. Motion frames (media kind 6) whose header `aux` is `serial` need these
    assets; the event comes before the first of them. The client answers
    `assets-loaded` with the `id` once it can draw them."""

    type: Literal["assets"] = "assets"
    portrait: str
    id: str
    serial: int
    url: str
    format: int
    bytes: int


class RenderEvent(ServerMessageBase):
    """Server -> client (v2.3): who draws the face from now on. `pixels`: the server
    sends JPEG frames (kind 2) again from the next frame, after the client asked
    (`set-render`) or because it never loaded its assets; `reason` says which."""

    type: Literal["render"] = "render"
    mode: Literal["client", "pixels"]
    reason: str = ""
    ts: float = Field(default_factory=time.time)
