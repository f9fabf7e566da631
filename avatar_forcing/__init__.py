"""avatar-forcing as a library: the live face for your own pipecat app.

    from avatar_forcing import AvatarForcingVideoService

    Pipeline([transport.input(), stt, user_aggregator, llm, tts,
              AvatarForcingVideoService(), transport.output(), assistant_aggregator])

With `avatar-forcing[example]` the rest of a fully local bot comes from here too:
`whisper_model_dir()` and `piper_voice()` (the bundled whisper tiny.en and piper joe,
for pipecat's `WhisperSTTService` and `PiperTTSService`) and `local_llm()` (an
OpenAI-compatible endpoint for `OpenAILLMService`: `OPENAI_BASE_URL` if set, else
the bundled Qwen2.5-0.5B, started once per process). See examples/pipecat_webrtc.

The installed wheel puts every package under this one name (`avatar_forcing.avatar`,
`avatar_forcing.pipelines`, `avatar_forcing.sdk`, `avatar_forcing.agent`,
`avatar_forcing.fleet`), because distributions on PyPI already own the bare names;
this module is its root (docs/PACKAGING.md). In the repository's editable install
the packages stay at the top (`from pipelines import ...`) and this module is a
facade, so the import line above is the same in both.

Exported lazily: `import avatar_forcing` costs nothing; the service's first use
loads pipecat, torch and the renderer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers see (py.typed); at run time the names load lazily
    from agent.bundled_models import piper_voice, whisper_model_dir
    from agent.local_llm import local_llm
    from avatar.live import AvatarAssets
    from avatar.live.presence import PresenceChange, PresenceState
    from avatar.portrait import Portrait
    from pipelines.face.face_metrics import AvatarVideoMetricsData
    from pipelines.face.video_service import AvatarForcingVideoService
    from pipelines.kiosk.presence import KioskPresence
    from pipelines.settings.sections import KioskSettings

# Module paths are rewritten under `avatar_forcing.` when the wheel is built
# (build_backend/avatar_forcing_build/rewrite.py).
_EXPORTS = {
    "AvatarForcingVideoService": "pipelines.face.video_service",
    # what `assets=` and `portrait=` take, and the face's own pipecat metrics data
    "AvatarAssets": "avatar.live",
    "Portrait": "avatar.portrait",
    "AvatarVideoMetricsData": "pipelines.face.face_metrics",
    # the kiosk attendant: `install(presence=KioskPresence(KioskSettings(...)))` and what
    # its event handlers receive
    "KioskPresence": "pipelines.kiosk.presence",
    "KioskSettings": "pipelines.settings.sections",
    "PresenceChange": "avatar.live.presence",
    "PresenceState": "avatar.live.presence",
    "local_llm": "agent.local_llm",
    "piper_voice": "agent.bundled_models",
    "whisper_model_dir": "agent.bundled_models",
}

__all__ = ["AvatarAssets", "AvatarForcingVideoService", "AvatarVideoMetricsData", "KioskPresence",
           "KioskSettings", "Portrait", "PresenceChange", "PresenceState", "local_llm",
           "piper_voice", "whisper_model_dir"]


def __getattr__(name: str) -> Any:
    """Import the defining module on first use of a public name.

    Any other name is an AttributeError, so `from avatar_forcing import avatar` in
    the wheel falls through to importing the subpackage."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'avatar_forcing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
