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
    # (no frame sent while the reply is thought up: receive() follows the turn events)
    async for item in client.receive():
        if isinstance(item, BotVideo): show(item.rgb(), at=item.pts_us)

`talk()` does a whole question -> answer exchange from a WAV file (used by
`avatar-forcing talk`, the end-to-end tests and the latency benchmarks) and
times it on the client's own clock; `TalkResult.save_av()` muxes the received
audio and video into an mp4.

The modules, from the wire up:

    sdk.errors       ProtocolError, ClientError, HandshakeError (shared with the server)
    sdk.events       the events a server sends after `welcome` (pydantic only)
    sdk.protocol     the wire protocol's handshake, parser, media header and limits (pydantic only)
    sdk.images       JPEG codecs (OpenCV, on first use)
    sdk.reconnect    ReconnectPolicy, SessionRestarted: when and how soon to reconnect (no I/O)
    sdk.mic_gate     MicGate: a kiosk's quiet microphone held back while nobody is there (no I/O)
    sdk.camera_hold  CameraHold: the camera sources send nothing while a reply is thought up
    sdk.handshake    session_url, hello and welcome: opening one session (websockets)
    sdk.items        BotAudio, BotVideo, Closed: what receive() yields, parsed from the wire
    sdk.redial       opening a dropped session again with the policy's back-off
    sdk.connection   VoiceConnection: the protocol core (websockets; no avatar, no pipecat)
    sdk.media        camera frames from a video file (avatar.video_io), WAV in and out
    sdk.client       VoiceClient: the connection plus camera sources (video file, webcam)
    sdk.talk         talk() and TalkResult: one scripted exchange, measured

Public names are exported lazily, so `import sdk` costs nothing, and heavy
imports (OpenCV, PyAV) happen inside the functions that need them, so an
audio-only client pays nothing for video support.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "VoiceClient": "sdk.client",
    "VoiceConnection": "sdk.connection",
    "BotAudio": "sdk.items",
    "BotVideo": "sdk.items",
    "Closed": "sdk.items",
    "MicGate": "sdk.mic_gate",
    "ReconnectPolicy": "sdk.reconnect",
    "SessionRestarted": "sdk.reconnect",
    "TalkResult": "sdk.talk",
    "talk": "sdk.talk",
    "read_wav_pcm16": "sdk.media",
    "write_wav_pcm16": "sdk.media",
    "PROTOCOL_VERSION": "sdk.protocol",
    "PresenceEvent": "sdk.events",
    "VisitorArrived": "sdk.events",
    "VisitorLeft": "sdk.events",
    "Limits": "sdk.protocol",
    "ErrorCode": "sdk.protocol",
    "CloseCode": "sdk.protocol",
    "ProtocolError": "sdk.errors",
    "PipelineError": "sdk.errors",
    "ClientError": "sdk.errors",
    "HandshakeError": "sdk.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the defining module on first use of a public name."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sdk' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
