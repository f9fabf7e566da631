"""pipecat glue: wire protocol v2, voice pipeline, avatar node, server, client SDK and CLI.

Public names are exported lazily so `avatar-forcing --help` (which imports this
package) does not pay for pipecat, faster-whisper and piper:

    from pipelines import VoiceClient, talk            # client SDK
    from pipelines import build_voice_pipeline          # the pipeline builder
    from pipelines import create_app, ServerConfig      # the server
    from pipelines import AvatarNode                    # the live avatar in a pipeline
"""

from __future__ import annotations

import importlib
from typing import Any

from avatar.memory import limit_malloc_arenas

# Before any thread allocates: a server process imports this package first, and
# glibc's default of 8 malloc arenas per core left 2.5-4 MB of RSS behind with
# every video session (issue 27; avatar/memory.py). A no-op off glibc.
limit_malloc_arenas()

_EXPORTS = {
    "VoiceClient": "pipelines.client",
    "BotAudio": "pipelines.client",
    "BotVideo": "pipelines.client",
    "AvatarNode": "pipelines.avatar_node",
    "AvatarNodeParams": "pipelines.avatar_node",
    "SessionContext": "pipelines.runtime",
    "TalkResult": "pipelines.client",
    "talk": "pipelines.client",
    "read_wav_pcm16": "pipelines.client",
    "write_wav_pcm16": "pipelines.client",
    "PROTOCOL_VERSION": "pipelines.protocol",
    "ProtocolSession": "pipelines.protocol",
    "Limits": "pipelines.protocol",
    "ErrorCode": "pipelines.protocol",
    "CloseCode": "pipelines.protocol",
    "ProtocolV1Serializer": "pipelines.serializer",
    "SpeechModels": "pipelines.services",
    "build_voice_pipeline": "pipelines.voice_pipeline",
    "LLMParams": "pipelines.voice_pipeline",
    "TurnParams": "pipelines.voice_pipeline",
    "VoiceSession": "pipelines.voice_pipeline",
    "create_app": "pipelines.server",
    "run_server": "pipelines.server",
    "ServerConfig": "pipelines.runtime",
    "VoiceRuntime": "pipelines.runtime",
    "ProtocolError": "pipelines.errors",
    "PipelineError": "pipelines.errors",
    "ClientError": "pipelines.errors",
    "HandshakeError": "pipelines.errors",
    "ServerError": "pipelines.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the defining module on first use of a public name."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipelines' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
