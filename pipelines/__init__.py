"""pipecat glue: the voice pipeline, the avatar node, the server and the CLI.

The subpackages, in the order the audio flows:

    wire/      the websocket: the protocol state machine, serializer, events, outbox,
               transport, and all custom pipecat frames
    turns/     whose turn it is: VAD onset, barge-in, turn holds and joins, context
    speech/    the models and services: whisper, the LLM, piper, first-clause cutting
    face/      the live avatar: the avatar node, its video onto the wire
    voice_pipeline.py   the one pipeline builder that puts them together
    server/    the FastAPI app, per-connection sessions, the shared runtime
    converse.py         the same conversation offline, from files (no pipecat pipeline)
    cli.py, commands/   `avatar-forcing`, one module per sub-command

The wire protocol's schema and the client SDK are the top-level `sdk` package
(pipelines imports sdk, never the other way round).

Public names are exported lazily so `avatar-forcing --help` (which imports this
package) does not pay for pipecat, faster-whisper and piper:

    from sdk import VoiceClient, talk                   # client SDK (also from pipelines)
    from pipelines import build_voice_pipeline          # the pipeline builder
    from pipelines import create_app, ServerConfig      # the server
    from pipelines import AvatarForcingVideoService     # the live face in any pipecat pipeline
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # the client SDK lives in the top-level `sdk` package (import it from there:
    # `from sdk import VoiceClient, talk`); these names stay here for compatibility
    "VoiceClient": "sdk.client",
    "BotAudio": "sdk.connection",
    "BotVideo": "sdk.connection",
    "TalkResult": "sdk.talk",
    "talk": "sdk.talk",
    "read_wav_pcm16": "sdk.media",
    "write_wav_pcm16": "sdk.media",
    "PROTOCOL_VERSION": "sdk.protocol",
    "Limits": "sdk.protocol",
    "ErrorCode": "sdk.protocol",
    "CloseCode": "sdk.protocol",
    "ProtocolError": "sdk.errors",
    "PipelineError": "sdk.errors",
    "ClientError": "sdk.errors",
    "HandshakeError": "sdk.errors",
    # the server side, in the order the audio flows
    "ProtocolSession": "pipelines.wire.protocol",
    "ProtocolV1Serializer": "pipelines.wire.serializer",
    "SpeechModels": "pipelines.speech.models",
    "AvatarForcingVideoService": "pipelines.face.video_service",
    "AvatarNode": "pipelines.face.video_service",  # the service's former name
    "AvatarNodeParams": "pipelines.face.video_service",
    "build_voice_pipeline": "pipelines.voice_pipeline",
    "LLMParams": "pipelines.voice_pipeline",
    "TurnParams": "pipelines.voice_pipeline",
    "VoiceSession": "pipelines.voice_pipeline",
    "create_app": "pipelines.server.app",
    "run_server": "pipelines.server.app",
    "SessionContext": "pipelines.server.runtime",
    "ServerConfig": "pipelines.server.runtime",
    "VoiceRuntime": "pipelines.server.runtime",
    "ServerError": "pipelines.server.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the defining module on first use of a public name."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipelines' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
