"""The voice server: FastAPI app with `/healthz` and the protocol v1 websocket `/ws`.

One pipecat pipeline per connection; the speech models and the LLM endpoint
are shared by all sessions (`VoiceRuntime`). The handshake is done here,
before any pipeline exists, so a bad client costs nothing and is answered with
an `error` event plus a close code that says why:

    1002 protocol error   no/invalid `hello`, unsupported protocol version
    1003 unsupported data `hello` asks for a sample rate we cannot take
    1008 policy           wrong or missing token (when the server has one)
    1011 internal         the session's pipeline failed
    1013 try again later  every session slot is busy

After the handshake, bad messages are answered with non-fatal `error` events
by the serializer and dropped; faults inside one session (LLM down, empty
transcript, client vanishing) never touch the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from loguru import logger
from pipecat.pipeline.runner import PipelineRunner
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from starlette.websockets import WebSocketState

from pipelines.avatar_node import AvatarNodeParams
from pipelines.errors import ProtocolError, ServerError
from pipelines.log_redaction import install_uvicorn_log_filters
from pipelines.protocol import (
    PROTOCOL_VERSION,
    AudioFormat,
    CloseCode,
    ErrorCode,
    Hello,
    Limits,
    ProtocolSession,
    Welcome,
    encode_message,
    error_event,
)
from pipelines.serializer import ProtocolV1Serializer
from pipelines.services import SpeechModels
from pipelines.voice_pipeline import LLMParams, TurnParams, VoiceSession, build_voice_pipeline

if TYPE_CHECKING:
    from avatar.live import AvatarAssets

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
    #: each session, from that session's context (after the avatar node, if any)
    session_processors: Callable[[SessionContext], Sequence[FrameProcessor]] | None = None
    #: serve the live avatar to clients whose hello asks for video (when the
    #: runtime has avatar assets); otherwise every session is voice only
    video: bool = True
    avatar_node: AvatarNodeParams = field(default_factory=AvatarNodeParams)
    #: called with each new session before it runs (register LLM tools, add observers)
    on_session: Callable[[VoiceSession], None] | None = None

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> ServerConfig:
        """The server policy from `AgentSettings` (the one place fields are mapped)."""
        values: dict[str, Any] = {
            "auth_token": settings.auth_token,
            "max_sessions": settings.max_sessions,
            "asr_language": settings.asr_language,
            "video": settings.video,
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

    async def warm_up_llm(self) -> float:
        """Send one short request with the real system prompt; returns seconds.

        llama.cpp keeps the KV cache of the longest shared prompt prefix, so after
        this the persona + knowledge (~900 tokens, seconds to ingest on 2 cores)
        are never evaluated again on a user's turn.
        """
        from openai import AsyncOpenAI

        started = time.perf_counter()
        client = AsyncOpenAI(
            base_url=self.llm.base_url, api_key=self.llm.api_key, timeout=120.0, max_retries=0
        )
        try:
            from pipelines.voice_pipeline import spoken_system_prompt

            await client.chat.completions.create(
                model=self.llm.model,
                messages=[
                    {"role": "system", "content": spoken_system_prompt(self.system_prompt)},
                    {"role": "user", "content": "Hello."},
                ],
                max_tokens=1,
            )
        finally:
            await client.close()
        return time.perf_counter() - started


@dataclass(frozen=True)
class SessionContext:
    """What a per-session factory may look at: who connected and what they asked."""

    session_id: str
    hello: Hello
    runtime: VoiceRuntime
    serializer: ProtocolV1Serializer


class SessionRegistry:
    """Bounded set of live sessions (checked and reserved without an await in between)."""

    def __init__(self, max_sessions: int) -> None:
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, got {max_sessions}")
        self.max_sessions = max_sessions
        self.active: dict[str, Any] = {}  # session id -> VoiceSession (None during setup)
        self._ids = itertools.count(1)

    def reserve(self) -> str | None:
        """A new session id, or None when every slot is taken."""
        if len(self.active) >= self.max_sessions:
            return None
        session_id = f"s{next(self._ids)}-{secrets.token_hex(3)}"
        self.active[session_id] = None
        return session_id

    def release(self, session_id: str) -> None:
        """Free the slot (idempotent)."""
        self.active.pop(session_id, None)


def _token_from(websocket: WebSocket, hello: Hello | None) -> str | None:
    """The client's token: `Authorization: Bearer`, `?token=`, or `hello.token`."""
    header = websocket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    query = websocket.query_params.get("token")
    if query:
        return query
    return hello.token if hello is not None else None


async def _refuse(websocket: WebSocket, code: ErrorCode | str, message: str, close: int) -> None:
    """Send a fatal error event, then close with `close`; never raises."""
    with contextlib.suppress(Exception):
        await websocket.send_text(encode_message(error_event(code, message, fatal=True)))
    with contextlib.suppress(Exception):
        await websocket.close(code=close, reason=message[:120])


def create_app(runtime: VoiceRuntime, config: ServerConfig | None = None) -> FastAPI:
    """The FastAPI app serving `runtime` under `config`."""
    config = config or ServerConfig()
    registry = SessionRegistry(config.max_sessions)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        # Graceful shutdown: end every live session so its websocket closes cleanly.
        voices = [voice for voice in registry.active.values() if voice is not None]
        if voices:
            logger.info(f"shutting down {len(voices)} live session(s)")
            await asyncio.gather(
                *(voice.task.cancel(reason="server shutdown") for voice in voices),
                return_exceptions=True,
            )

    app = FastAPI(title="avatar-forcing voice server", lifespan=lifespan)
    app.state.registry = registry
    app.state.runtime = runtime

    @app.get("/portraits")
    async def portraits() -> dict[str, Any]:
        """The portraits a client may name in `hello.portrait` / `set-portrait`."""
        if runtime.avatar is None:
            return {"portraits": [], "default": None}
        library = runtime.avatar.portraits
        return {"portraits": library.names(), "default": library.default}

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness plus capacity, for load balancers and tests."""
        return {
            "status": "ok",
            "protocol": PROTOCOL_VERSION,
            "sessions": len(registry.active),
            "max_sessions": registry.max_sessions,
        }

    @app.websocket("/ws")
    async def voice_socket(websocket: WebSocket) -> None:
        """One conversation: handshake, then a pipeline until either side leaves."""
        await websocket.accept()
        session = ProtocolSession(limits=config.limits)
        hello = await _handshake(websocket, session, config.limits)
        if hello is None:
            return
        if config.auth_token is not None:
            token = _token_from(websocket, hello)
            if token is None or not hmac.compare_digest(token, config.auth_token):
                logger.warning("refused a client: bad or missing token")
                await _refuse(websocket, ErrorCode.UNAUTHORIZED,
                              "missing or wrong token", CloseCode.POLICY)
                return
        session_id = registry.reserve()
        if session_id is None:
            logger.warning(f"refused a client: all {registry.max_sessions} session slots busy")
            await _refuse(
                websocket,
                ErrorCode.SERVER_BUSY,
                f"all {registry.max_sessions} session slots are busy; try again later",
                CloseCode.TRY_AGAIN_LATER,
            )
            return
        try:
            await _run_session(websocket, session, hello, session_id, runtime, config, registry)
        finally:
            registry.release(session_id)
            logger.info(f"[{session_id}] ended; {len(registry.active)} session(s) live")

    return app


@dataclass
class AvatarStart:
    """A video session's avatar: its processors, the `welcome.video_out` it
    announces, and events to send right after `welcome` (e.g. unknown portrait)."""

    processors: Sequence[FrameProcessor]
    video_out: dict[str, Any] | None
    notices: list[Any] = field(default_factory=list)


def start_avatar(context: SessionContext, config: ServerConfig,
                 websocket: WebSocket) -> AvatarStart | None:
    """Build the avatar node for a session whose hello asked for video.

    The render size and camera rate are chosen from this machine's measured
    cost (`AvatarAssets.choose_video`); an unknown portrait falls back to the
    default with a non-fatal `unknown_portrait` notice.
    """
    from avatar.errors import AvatarError
    from avatar.live import AvatarSession, SessionOptions
    from avatar.live.assets import portrait_from_upload
    from pipelines.avatar_node import AvatarNode
    from pipelines.video_wire import VideoWireAdapter

    hello, assets = context.hello, context.runtime.avatar
    if hello.video_out is None or assets is None or not config.video:
        return None
    notices: list[Any] = []
    try:
        portrait = assets.portraits.get(hello.portrait)
    except AvatarError as error:
        notices.append(error_event(ErrorCode.UNKNOWN_PORTRAIT,
                                   f"{error}; using {assets.portraits.default!r}"))
        portrait = assets.portraits.get()
    camera = hello.video_in is not None and hello.video_in.kind == "camera"
    choice = assets.choose_video(hello.video_out.size, camera=camera)
    session = AvatarSession(portrait, assets.checkpoint,
                            output_rate=context.runtime.models.tts_sample_rate,
                            options=SessionOptions(size=choice.size))

    def load_portrait(name: str | None, upload: bytes | None) -> Any:
        if upload is not None:
            return portrait_from_upload(upload, name=f"upload-{context.session_id}")
        return assets.portraits.get(name)

    serializer = context.serializer
    node = AvatarNode(
        session=session,
        load_portrait=load_portrait,
        params=replace(config.avatar_node, camera_fps=choice.camera_fps),
        transport_stats=lambda: {"video_dropped": serializer.video_dropped},
    )
    video_out = {"width": choice.size, "height": choice.size, "fps": 25, "codec": "jpeg",
                 "portrait": portrait.name, "camera_fps": choice.camera_fps,
                 "render_size_reason": choice.reason}
    logger.info(f"[{context.session_id}] avatar: {portrait.name} at {choice.size} px, "
                f"camera {choice.camera_fps:g} fps ({choice.reason})")
    return AvatarStart([node, VideoWireAdapter()], video_out, notices)


async def _handshake(
    websocket: WebSocket, session: ProtocolSession, limits: Limits
) -> Hello | None:
    """Wait for a valid `hello`; on any problem answer it, close, and return None."""
    try:
        message = await asyncio.wait_for(websocket.receive(), timeout=limits.hello_timeout_secs)
    except TimeoutError:
        await _refuse(websocket, ErrorCode.HANDSHAKE_REQUIRED,
                      f"no hello within {limits.hello_timeout_secs:g} s", CloseCode.PROTOCOL_ERROR)
        return None
    if message.get("type") == "websocket.disconnect":
        return None
    data: str | bytes | None = message.get("text")
    if data is None:
        data = message.get("bytes")
    if data is None:
        await _refuse(websocket, ErrorCode.MALFORMED, "empty message", CloseCode.PROTOCOL_ERROR)
        return None
    try:
        parsed = session.receive(data)
    except ProtocolError as error:
        close = (
            CloseCode.UNSUPPORTED_DATA
            if error.code == ErrorCode.UNSUPPORTED_SAMPLE_RATE.value
            else CloseCode.PROTOCOL_ERROR
        )
        logger.warning(f"handshake refused: {error}")
        await _refuse(websocket, error.code, error.detail, close)
        return None
    if not isinstance(parsed, Hello):
        await _refuse(websocket, ErrorCode.HANDSHAKE_REQUIRED,
                      "the first message must be 'hello'", CloseCode.PROTOCOL_ERROR)
        return None
    return parsed


async def _run_session(
    websocket: WebSocket,
    session: ProtocolSession,
    hello: Hello,
    session_id: str,
    runtime: VoiceRuntime,
    config: ServerConfig,
    registry: SessionRegistry,
) -> None:
    """Build this connection's pipeline, greet the client, run until it ends."""
    log = logger.bind(session=session_id)
    out_rate = runtime.models.tts_sample_rate
    violations = 0

    def count_violation(_error: ProtocolError) -> None:
        nonlocal violations
        violations += 1

    serializer = ProtocolV1Serializer(
        session, pipeline_input_rate=PIPELINE_INPUT_RATE, on_violation=count_violation
    )
    transport = FastAPIWebsocketTransport(
        websocket,
        FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            audio_in_sample_rate=PIPELINE_INPUT_RATE,
            audio_out_sample_rate=out_rate,
            serializer=serializer,
            allowed_origins=[],
        ),
    )
    context = SessionContext(session_id, hello, runtime, serializer)
    try:
        avatar = (start_avatar(context, config, websocket) if hello.video_out is not None
                  else None)
        processors = [] if avatar is None else list(avatar.processors)
        if config.session_processors is not None:
            processors += config.session_processors(context)
        voice = build_voice_pipeline(
            transport=transport,
            models=runtime.models,
            llm=runtime.llm,
            system_prompt=runtime.system_prompt,
            turn=config.turn,
            asr_language=config.asr_language,
            send_metrics=config.send_metrics,
            audio_in_sample_rate=PIPELINE_INPUT_RATE,
            output_processors=processors,
        )
        if config.on_session is not None:
            config.on_session(voice)
    except Exception as error:  # a session that cannot be built is refused, others unaffected
        log.exception(f"[{session_id}] could not build the pipeline")
        await _refuse(websocket, ErrorCode.INTERNAL, f"could not start a session: {error}",
                      CloseCode.INTERNAL)
        return
    registry.active[session_id] = voice

    @transport.event_handler("on_client_disconnected")
    async def _on_disconnected(_transport: Any, _ws: WebSocket) -> None:
        log.info(f"[{session_id}] client disconnected")
        await voice.task.cancel(reason="client disconnected")

    welcome = Welcome(
        protocol=hello.protocol,
        session_id=session_id,
        audio_in=hello.audio_in,
        audio_out=AudioFormat(sample_rate=out_rate),
        video_out=None if avatar is None else avatar.video_out,
        limits=config.limits.as_dict(),
    )
    try:
        await websocket.send_text(encode_message(welcome))
        for notice in [] if avatar is None else avatar.notices:
            await websocket.send_text(encode_message(notice))
    except (WebSocketDisconnect, RuntimeError):
        log.info(f"[{session_id}] client left before welcome")
        return
    log.info(
        f"[{session_id}] open: client={hello.client!r} in={hello.audio_in.sample_rate} Hz "
        f"out={out_rate} Hz"
    )
    runner = PipelineRunner(handle_sigint=False, check_dangling_tasks=False)
    try:
        await runner.add_workers(voice.task)
        await runner.run()
    except Exception as error:  # one session's crash must not reach the others
        log.exception(f"[{session_id}] pipeline failed")
        if websocket.client_state == WebSocketState.CONNECTED:
            await _refuse(websocket, ErrorCode.INTERNAL, f"pipeline failed: {error}",
                          CloseCode.INTERNAL)
    finally:
        if violations:
            log.info(f"[{session_id}] {violations} protocol violation(s) answered")


async def load_runtime(
    *,
    settings: Any,
    warm_up: bool = True,
) -> tuple[VoiceRuntime, Any]:
    """Models + LLM endpoint + persona from `AgentSettings`; returns (runtime, llm_server).

    The caller stops `llm_server` (an `EmbeddedLLMServer`, or None for an
    external endpoint) when it is done.

    Raises:
        ServerError: the LLM endpoint is unreachable or a model is missing.
    """
    from agent.errors import AgentError
    from agent.llm_client import check_llm_endpoint
    from agent.llm_server import aresolve_llm_endpoint
    from agent.persona import build_system_prompt

    try:
        models = await asyncio.to_thread(
            SpeechModels.bundled,
            asr_model_path=settings.asr_model_path,
            tts_voice_path=settings.tts_voice_path,
        )
        endpoint = await aresolve_llm_endpoint(settings)
    except AgentError as error:
        raise ServerError(str(error)) from error
    try:
        await check_llm_endpoint(endpoint.base_url, endpoint.api_key)
    except AgentError as error:
        if endpoint.server is not None:
            endpoint.server.stop()
        raise ServerError(str(error)) from error
    avatar = await asyncio.to_thread(load_avatar_assets, settings) if settings.video else None
    runtime = VoiceRuntime(
        models=models,
        llm=LLMParams.from_settings(settings, endpoint),
        system_prompt=build_system_prompt(settings),
        avatar=avatar,
    )
    if warm_up:
        speech_secs = await asyncio.to_thread(models.warm_up)
        llm_secs = await runtime.warm_up_llm()
        logger.info(f"warm-up: speech {speech_secs:.2f} s, LLM prompt cache {llm_secs:.2f} s")
    return runtime, endpoint.server


def load_avatar_assets(settings: Any) -> AvatarAssets:
    """Portraits, generator and this machine's measured costs, once per server.

    Raises:
        ServerError: the portrait folder or the default portrait is unusable.
    """
    from avatar.errors import AvatarError
    from avatar.live import AvatarAssets

    try:
        assets = AvatarAssets.load(portrait_dir=settings.portrait_dir,
                                   default_portrait=settings.default_portrait,
                                   budget_ms=settings.video_budget_ms)
    except (AvatarError, FileNotFoundError) as error:
        raise ServerError(f"cannot prepare the avatar: {error}") from error
    costs = assets.costs
    logger.info(f"avatar ready: portraits {assets.portraits.names()}, render "
                f"{costs.render_ms[512]:.1f} ms at 512, block {costs.block_ms:.1f} ms, "
                f"camera analysis {costs.analysis_ms:.1f} ms")
    return assets


def uvicorn_config(app: FastAPI, host: str, port: int, limits: Limits) -> uvicorn.Config:
    """uvicorn settings: websocket frames a little above our limit still reach us.

    Frames up to 4x `max_message_bytes` (2x `max_image_bytes` for camera frames
    and portraits, whichever is larger) are read and answered with a polite
    `frame_too_large` event; only beyond that does the websocket layer close
    the socket itself (1009), so a buggy client cannot make us buffer more.

    permessage-deflate is off: our media (PCM, JPEG) does not compress (zlib won
    1 % on a JPEG frame for ~1 % of a core per video session), and without it
    every size limit applies to the message exactly as the client sent it.
    """
    install_uvicorn_log_filters()  # ?token= redacted, no traceback for a 1007
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ws_max_size=max(4 * limits.max_message_bytes, 2 * limits.max_image_bytes),
        ws_per_message_deflate=False,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_graceful_shutdown=5,
        log_level="info",
        lifespan="on",
    )


def _exit_cleanly_on_sigterm() -> None:
    """Make SIGTERM a clean `SystemExit(0)` once uvicorn hands it back.

    uvicorn captures SIGTERM for its graceful shutdown, then re-raises it against
    the previous handler; with the default handler the process would die there,
    before our `finally` stops the embedded LLM, and exit with -15. A
    supervisor (systemd, docker) should see a clean exit after a clean shutdown.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def _raise_exit(_signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _raise_exit)


async def run_server(settings: Any, *, config: ServerConfig | None = None,
                     warm_up: bool = True) -> None:
    """Load everything, serve until SIGINT/SIGTERM, then stop the embedded LLM.

    uvicorn owns the signals: on SIGTERM it stops accepting, closes live
    websockets and runs the app's shutdown, which cancels every session.
    """
    config = config or ServerConfig.from_settings(settings)
    _exit_cleanly_on_sigterm()
    runtime, llm_server = await load_runtime(settings=settings, warm_up=warm_up)
    try:
        app = create_app(runtime, config)
        server = uvicorn.Server(uvicorn_config(app, settings.host, settings.port, config.limits))
        logger.info(
            f"voice server on ws://{settings.host}:{settings.port}/ws "
            f"(LLM {runtime.llm.model} at {runtime.llm.base_url}, "
            f"auth {'on' if config.auth_token else 'off'}, max {config.max_sessions} sessions)"
        )
        await server.serve()
    finally:
        if llm_server is not None:
            llm_server.stop()
