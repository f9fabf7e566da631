"""pipecat glue: the voice pipeline, the face service, the server and the CLI.

The subpackages, in the order the audio flows:

    wire/      the websocket: the protocol state machine, serializer, events, outbox,
               transport, and all custom pipecat frames
    turns/     whose turn it is: VAD onset, barge-in, turn holds and joins, context
    speech/    the models and services: whisper, the LLM, piper, first-clause cutting
    face/      the live avatar: the face service, its video onto the wire
    voice_pipeline.py   the one pipeline builder that puts them together
    server/    the FastAPI app, per-connection sessions, the shared runtime
    offline/   the same conversation offline, from files (no pipecat pipeline)
    cli.py, commands/   `avatar-forcing`, one module per sub-command

The wire protocol's schema and the client SDK are the top-level `sdk` package
(`from sdk import VoiceClient, talk`; pipelines imports sdk, never the other way round).

Public names are exported lazily so `avatar-forcing --help` (which imports this
package) does not pay for pipecat, faster-whisper and piper:

    from pipelines import build_voice_pipeline          # the pipeline builder
    from pipelines import create_app, ServerConfig      # the server
    from pipelines import AvatarForcingVideoService     # the live face in any pipecat pipeline
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # in the order the audio flows
    "ProtocolSession": "pipelines.wire.protocol_session",
    "ProtocolV1Serializer": "pipelines.wire.serializer",
    "SpeechModels": "pipelines.speech.models",
    "AvatarForcingVideoService": "pipelines.face.video_service",
    "FacePacing": "pipelines.face.face_params",
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
