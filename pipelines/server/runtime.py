"""What a voice server's sessions share and how they are configured (no I/O).

`VoiceRuntime` holds the models, the LLM endpoint, the persona and the avatar's
assets, built once by the composition root (pipelines/server/app.py); `ServerConfig`
is the per-server policy; `SessionContext` is what a per-session factory sees.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openai import AsyncOpenAI
from pipecat.processors.frame_processor import FrameProcessor

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import notes
from agent.llm_client import warm_up_notes
from avatar.render.portrait_calibration import calibration_for
from pipelines.face.face_params import FacePacing
from pipelines.kiosk.greeting_lines import kiosk_with_persona
from pipelines.server.browser_faces import BrowserFaces
from pipelines.server.keepalive import KeepaliveParams
from pipelines.server.render_switch import ASSETS_TIMEOUT_SECS
from pipelines.settings.sections import KioskSettings
from pipelines.speech.models import SpeechModels
from pipelines.voice_pipeline import LLMParams, TurnParams, VoiceSession, spoken_system_prompt
from pipelines.wire.outbox import SessionOutbox
from pipelines.wire.serializer import ProtocolV1Serializer
from sdk.protocol import Hello, Limits

if TYPE_CHECKING:
    from avatar.live import AvatarAssets
    from pipelines.settings import Settings

#: The pipeline's input rate: silero VAD and smart-turn run at 16 kHz.
PIPELINE_INPUT_RATE = 16000


@dataclass(frozen=True)
class ServerConfig:
    """Per-server policy (the models and LLM live in `VoiceRuntime`)."""

    auth_token: str | None = None
    max_sessions: int = 2
    limits: Limits = field(default_factory=Limits)
    turn: TurnParams = field(default_factory=TurnParams)
    asr_language: str = "en"
    send_metrics: bool = True  # `metrics` events are cheap and benchmarks need them
    #: builds extra processors inserted between TTS and the transport, fresh for
    #: each session, from that session's context (after the face service, if any)
    session_processors: Callable[[SessionContext], Sequence[FrameProcessor]] | None = None
    #: serve the live avatar to clients whose hello asks for video (when the
    #: runtime has avatar assets); otherwise every session is voice only
    video: bool = True
    face_pacing: FacePacing = field(default_factory=FacePacing)
    #: each video session adapts its quality to the load it meets while it runs
    #: (avatar/live/quality.py); False: it keeps the start-up probe's choice
    adapt_quality: bool = True
    #: the `retry_after_s` a `server_busy` refusal carries (close 1013)
    busy_retry_after_s: float = 5.0
    #: called with each new session before it runs (register LLM tools, add observers)
    on_session: Callable[[VoiceSession], None] | None = None
    #: the kiosk attendant, for sessions whose client asks for presence
    kiosk: KioskSettings = field(default_factory=KioskSettings)
    #: presence sessions on our websocket are pinged, and ended once silent this long
    #: (pipelines/server/keepalive.py)
    keepalive: KeepaliveParams = field(default_factory=KeepaliveParams)
    #: a client that offers to draw the face (v2.3 `hello.render`) gets the portrait's
    #: assets and motion frames instead of JPEGs; False: the server draws every face
    client_render: bool = True
    #: such a client has this long to load the assets it is sent, then gets pixels
    assets_timeout_secs: float = ASSETS_TIMEOUT_SECS

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ServerConfig:
        """The server policy from the settings tree (the one place fields are mapped);
        `overrides` set the fields no file can hold (callbacks). The kiosk's greeting
        and goodbye are read from the persona file unless `[kiosk]` sets them.

        Raises:
            ValueError: the persona file's greeting or goodbye is empty or too long.
        """
        values: dict[str, Any] = {
            "auth_token": settings.server.auth_token,
            "max_sessions": settings.server.max_sessions,
            "limits": settings.limits.params(),
            "turn": TurnParams.from_section(settings.turns),
            "asr_language": settings.asr.language,
            "video": settings.avatar.video,
            "face_pacing": FacePacing.from_section(settings.avatar),
            "adapt_quality": settings.avatar.adapt_video,
            "kiosk": kiosk_with_persona(settings.kiosk, settings.persona.persona_file),
        }
        values.update(overrides)
        return cls(**values)


@dataclass
class VoiceRuntime:
    """What every session shares: speech models, the LLM endpoint, the persona,
    and (for video sessions) the avatar's portraits, checkpoint and measured costs."""

    models: SpeechModels
    llm: LLMParams
    system_prompt: str
    avatar: AvatarAssets | None = None
    #: per-turn routing by the store facts (pipelines/turns/knowledge_injector.py);
    #: None: every message goes to the LLM with the system prompt alone
    knowledge: KnowledgeIndex | None = None
    #: the portraits as browser assets for clients that draw the face (built on first use)
    _browser_faces: BrowserFaces | None = field(default=None, init=False, repr=False)

    def browser_faces(self) -> BrowserFaces:
        """The portraits as browser assets (pipelines/server/browser_faces.py), drawn
        with the render table each portrait's sessions use."""
        if self._browser_faces is None:
            calibrator = self.avatar.calibrator if self.avatar is not None else None

            def table_for(portrait: Any) -> Any:
                return (calibration_for(portrait, calibrator.folder)
                        if calibrator is not None else None)

            self._browser_faces = BrowserFaces(table_for)
        return self._browser_faces

    async def warm_up_llm(self) -> float:
        """Send one short request with the real system prompt, then one per fact note
        the knowledge index can write, the first `llm.warm_notes` of them (the prompt
        cache keeps no more); returns seconds.

        llama.cpp keeps the KV cache of the longest shared prompt prefix, so after
        this the persona + knowledge (~900 tokens, seconds to ingest on 2 cores)
        are never evaluated again on a user's turn; with the embedded server's
        prompt-state cache, neither is the fact in front of an opening question
        (agent/answers/routing.py).
        """
        started = time.perf_counter()
        client = AsyncOpenAI(
            base_url=self.llm.base_url, api_key=self.llm.api_key, timeout=120.0, max_retries=0
        )
        try:
            await warm_up_notes(
                client, model=self.llm.model, system_prompt=spoken_system_prompt(self.system_prompt, self.knowledge),
                notes=warm_up_prompts(self.knowledge, self.llm.warm_notes),
            )
        finally:
            await client.close()
        return time.perf_counter() - started


def warm_up_prompts(knowledge: KnowledgeIndex | None, most_notes: int) -> list[str]:
    """What the start-up warm-up writes in front of a user message, one request each:
    nothing (the system prompt alone), then the knowledge file's first `most_notes`
    one-fact notes (`notes`, in the file's order: the prompt cache keeps no more)."""
    warmed = notes(knowledge)[:most_notes] if knowledge is not None else []
    return ["", *warmed]


@dataclass(frozen=True)
class SessionContext:
    """What a per-session factory may look at: who connected and what they asked."""

    session_id: str
    hello: Hello
    runtime: VoiceRuntime
    #: our websocket's serializer; None for a session on pipecat's WebRTC transport
    serializer: ProtocolV1Serializer | None = None
    #: the connection's outbox (its `video_dropped` counts frames the socket could not take)
    outbox: SessionOutbox | None = None
