"""Per-connection code: the handshake, admission, and one session's pipeline.

The handshake is done before any pipeline exists, so a bad client costs
nothing and is answered with an `error` event plus a close code that says why
(docs/PROTOCOL.md). A video session (hello.video_out) gets the face service,
sized to this machine's measured cost; every other session is voice only.
Faults inside one session never touch the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from loguru import logger
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams
from pipecat.workers.runner import WorkerRunner
from prometheus_client import CollectorRegistry
from starlette.websockets import WebSocketState

from avatar.errors import AvatarError
from avatar.live import AvatarSession, SessionOptions
from avatar.live.assets import level_cost_ms, portrait_from_upload
from avatar.live.face_pool import with_worker_face
from avatar.live.imaging import native_size
from avatar.live.quality import QualityGovernor
from pipelines.face.server_hooks import ServerHooks
from pipelines.face.video_service import AvatarForcingVideoService
from pipelines.kiosk.attendant import attend_visitors
from pipelines.kiosk.presence import KioskPresence
from pipelines.kiosk.visit_metrics import VisitMetrics, chain_events
from pipelines.server.browser_faces import BrowserFace, BrowserFaces
from pipelines.server.client_drawn_face import client_drawn_face
from pipelines.server.client_drawn_route import ClientDrawnRoute
from pipelines.server.idle_images import IdleImageFilter
from pipelines.server.keepalive import watch_keepalive
from pipelines.server.render_switch import RenderSwitch
from pipelines.server.runtime import PIPELINE_INPUT_RATE, ServerConfig, SessionContext, VoiceRuntime
from pipelines.server.stats import ServerStats
from pipelines.settings.sections import KioskSettings
from pipelines.turns.input_silence import InputSilenceFiller
from pipelines.voice_pipeline import VoiceSession, build_voice_pipeline
from pipelines.wire.outbox import SessionOutbox
from pipelines.wire.protocol_session import ProtocolSession
from pipelines.wire.serializer import ProtocolV1Serializer
from pipelines.wire.video_wire import VideoWireAdapter
from pipelines.wire.ws_transport import ProtocolWebsocketTransport
from sdk.errors import ProtocolError
from sdk.protocol import (
    ASSET_FORMATS,
    AudioFormat,
    CloseCode,
    ErrorCode,
    Hello,
    Limits,
    Welcome,
    encode_message,
    error_event,
)


class SessionRegistry:
    """Bounded set of live sessions (checked and reserved without an await in between)."""

    def __init__(self, max_sessions: int) -> None:
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, got {max_sessions}")
        self.max_sessions = max_sessions
        self.active: dict[str, Any] = {}  # session id -> VoiceSession (None during setup)
        self.stats = ServerStats()  # what the sessions delivered lately (/healthz)
        #: what /metrics reports (memory gauges join it in create_app)
        self.metrics = CollectorRegistry()
        #: the kiosk's visits, counted for the operator (no words, nobody identified)
        self.visits = VisitMetrics(self.metrics)
        self._ids = itertools.count(1)
        #: sessions that have ended since start (a fleet replica's memory ceiling acts
        #: only after one: a fresh process over it would restart for nothing)
        self.ended = 0

    def reserve(self) -> str | None:
        """A new session id, or None when every slot is taken."""
        if len(self.active) >= self.max_sessions:
            return None
        session_id = f"s{next(self._ids)}-{secrets.token_hex(3)}"
        self.active[session_id] = None
        return session_id

    def release(self, session_id: str) -> None:
        """Free the slot (idempotent)."""
        if session_id in self.active:
            del self.active[session_id]
            self.ended += 1


def _token_from(websocket: WebSocket, hello: Hello | None) -> str | None:
    """The client's token: `Authorization: Bearer`, `?token=`, or `hello.token`."""
    header = websocket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    query = websocket.query_params.get("token")
    if query:
        return query
    return hello.token if hello is not None else None


async def _refuse(websocket: WebSocket, code: ErrorCode | str, message: str, close: int,
                  retry_after_s: float | None = None) -> None:
    """Send a fatal error event, then close with `close`; never raises."""
    with contextlib.suppress(Exception):
        await websocket.send_text(encode_message(
            error_event(code, message, fatal=True, retry_after_s=retry_after_s)))
    with contextlib.suppress(Exception):
        await websocket.close(code=close, reason=message[:120])


async def serve_connection(websocket: WebSocket, runtime: VoiceRuntime, config: ServerConfig,
                           registry: SessionRegistry) -> None:
    """One conversation: handshake, auth, a slot, then a pipeline until either side leaves."""
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
            f"all {registry.max_sessions} session slots are busy; "
            f"try again in {config.busy_retry_after_s:g} s",
            CloseCode.TRY_AGAIN_LATER,
            retry_after_s=config.busy_retry_after_s,
        )
        return
    refusal = video_refusal(hello, session_id, runtime, config)
    if refusal is not None:
        registry.release(session_id)
        logger.warning(f"refused a video client: {refusal}")
        await _refuse(websocket, ErrorCode.SERVER_BUSY, refusal, CloseCode.TRY_AGAIN_LATER,
                      retry_after_s=config.busy_retry_after_s)
        return
    try:
        await _run_session(websocket, session, hello, session_id, runtime, config, registry)
    finally:
        end_session(registry, runtime, session_id)
        logger.info(f"[{session_id}] ended; {len(registry.active)} session(s) live")


def end_session(registry: SessionRegistry, runtime: VoiceRuntime, session_id: str) -> None:
    """Give a session's slot, its stats and its share of the video capacity back
    (our websocket and the WebRTC door, whatever ended the session)."""
    registry.release(session_id)
    registry.stats.end(session_id)
    registry.visits.end(session_id)
    if runtime.avatar is not None and runtime.avatar.capacity is not None:
        runtime.avatar.capacity.unregister(session_id)


def build_session_pipeline(context: SessionContext, transport: Any, config: ServerConfig,
                           registry: SessionRegistry, avatar: AvatarStart | None) -> VoiceSession:
    """A session's voice pipeline on `transport`, with its face and the server's own
    per-session processors: one recipe for our websocket and the WebRTC door."""
    runtime, session_id = context.runtime, context.session_id
    processors = [] if avatar is None else list(avatar.processors)
    if config.session_processors is not None:
        processors += config.session_processors(context)
    face = avatar.face if avatar is not None else None
    visits = (registry.visits.session(session_id)
              if face is not None and face.presence is not None else None)
    on_event = registry.stats.listener(session_id)
    voice = build_voice_pipeline(
        transport=transport,
        models=runtime.models,
        llm=runtime.llm,
        system_prompt=runtime.system_prompt,
        knowledge=runtime.knowledge,
        turn=config.turn,
        asr_language=config.asr_language,
        send_metrics=config.send_metrics,
        audio_in_sample_rate=PIPELINE_INPUT_RATE,
        output_processors=processors,
        on_event=on_event if visits is None else chain_events(on_event, visits.on_event),
    )
    if face is not None and visits is not None:
        attend_visitors(face, voice, config.kiosk, session_id=session_id, visits=visits)
    watch = face.presence if face is not None else None
    if watch is not None and config.kiosk.quiet_when_away:
        # a client that holds its quiet mic back while nobody is there (welcome.presence
        # .mic_gate) is not filled with silence: the voice pipeline idles in an empty hall
        filler = voice.processors["silence"]
        assert isinstance(filler, InputSilenceFiller)
        filler.paused = lambda: watch.nobody_there
    if config.on_session is not None:
        config.on_session(voice)
    return voice


def video_refusal(hello: Hello, session_id: str, runtime: VoiceRuntime,
                   config: ServerConfig) -> str | None:
    """Why a video session cannot be taken now (the machine's live capacity,
    avatar/live/capacity.py), or None. An admitted session holds its place on
    the board from here (no await in between), so two clients cannot both take
    the last slot."""
    assets = runtime.avatar
    if (hello.video_out is None or assets is None or assets.capacity is None
            or not config.video or not config.adapt_quality):
        return None
    admitted, reason = assets.capacity.admit(session_id)
    return None if admitted else reason


@dataclass
class AvatarStart:
    """A video session's avatar: its processors, the `welcome.video_out` it
    announces, and events to send right after `welcome` (e.g. unknown portrait)."""

    processors: Sequence[FrameProcessor]
    video_out: dict[str, Any] | None
    notices: list[Any] = field(default_factory=list)
    #: the face among `processors`
    face: AvatarForcingVideoService | None = None
    #: `welcome.presence` for a presence session (hello.presence), else None
    presence: dict[str, Any] | None = None
    #: `welcome.render` for a session whose hello offered to draw (v2.3), else None
    render: dict[str, Any] | None = None
    #: who draws the face, for a session its client draws (None: the server draws)
    switch: RenderSwitch | None = None


async def start_avatar(context: SessionContext, config: ServerConfig, *,
                 image_lead_frames: int = 0,
                 images_sync_with_audio: bool = False,
                 jpeg: bool = True) -> AvatarStart | None:
    """Build the face service for a session whose hello asked for video.

    The render size and camera rate are chosen from this machine's measured
    cost (`AvatarAssets.choose_video`); an unknown portrait falls back to the
    default with a non-fatal `unknown_portrait` notice. Our websocket and
    pipecat's WebRTC transport (pipelines/server/webrtc_door.py) both take the
    face from here: one code path.

    Args:
        context: the session (its hello says what it asked for).
        config: the server's policy.
        image_lead_frames: 0 on our websocket, which stamps each image with the
            audio clock where it is queued, so it must be queued right before its
            own audio; 1 on a pipecat transport that paces live video by itself
            (`FacePacing.image_lead_frames`).
        images_sync_with_audio: release each image behind the audio queued before it
            (`FacePacing.images_sync_with_audio`).
        jpeg: JPEG-encode each image (our websocket sends JPEG; over WebRTC the face
            encodes VP8 instead).
    """
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
    # priced as sent: JPEG on our websocket, the face's own VP8 over WebRTC
    codec = "jpeg" if jpeg else "vp8"
    choice = assets.choose_video(hello.video_out.size, camera=camera, codec=codec)
    # built off the event loop: it takes a face worker from the pool (or, without one,
    # builds the renderer here: a few hundred ms the other sessions must not wait)
    options = SessionOptions(size=choice.size)
    if not jpeg:
        options = replace(options, jpeg_quality=0)
    output_rate = context.runtime.models.tts_sample_rate
    drawn, render = await _drawn_by_client(context, config, portrait)
    drawn_face = None if drawn is None else client_drawn_face(assets.faces, assets.checkpoint)
    if drawn_face is not None:  # the generator alone: the client draws (client_drawn_face.py)
        try:
            session = await asyncio.to_thread(
                AvatarSession, portrait, assets.checkpoint, output_rate=output_rate,
                options=options, calibrator=assets.calibrator, face=drawn_face)
        except BaseException:
            drawn_face.close()
            raise
    else:
        session = await asyncio.to_thread(with_worker_face, assets.faces, lambda face: AvatarSession(
            portrait, assets.checkpoint, output_rate=output_rate, options=options,
            calibrator=assets.calibrator, face=face))

    def load_portrait(name: str | None, upload: bytes | None) -> Any:
        if upload is not None:
            return portrait_from_upload(upload, name=f"upload-{context.session_id}")
        return assets.portraits.get(name)

    serializer, outbox = context.serializer, context.outbox
    governor = (QualityGovernor(list(choice.ladder),
                                lambda level: level_cost_ms(assets.costs, level, codec),
                                start=choice.level, now=time.monotonic())
                if config.adapt_quality else None)
    hooks = ServerHooks(
        load_portrait=load_portrait,
        params=replace(config.face_pacing, camera_fps=choice.camera_fps,
                       image_lead_frames=image_lead_frames,
                       images_sync_with_audio=images_sync_with_audio),
        transport_stats=None if serializer is None else _wire_drops(serializer, outbox),
        governor=governor, capacity=assets.capacity, session_key=context.session_id,
        # our protocol's events go to our own clients; a server returns memory after each
        send_metrics=True, send_events=True, release_memory_after=True,
    )
    node = AvatarForcingVideoService(session=session)
    node.install(hooks, presence=KioskPresence(config.kiosk) if hello.presence else None)
    video_out = {"width": choice.size, "height": choice.size, "fps": 25, "codec": "jpeg",
                 "portrait": portrait.name, "camera_fps": choice.camera_fps,
                 "render_size_reason": choice.reason, "requested_size": hello.video_out.size,
                 "quality_level": choice.level, "quality_levels": len(choice.ladder),
                 "adaptive": governor is not None}
    logger.info(f"[{context.session_id}] avatar: {portrait.name} at {choice.size} px, "
                f"camera {choice.camera_fps:g} fps ({choice.reason})")
    switch = (None if drawn is None or drawn_face is None else RenderSwitch(
        drawn_face, drawn_faces(context), drawn, portrait=lambda: node.session.portrait,
        session_id=context.session_id, timeout_secs=config.assets_timeout_secs))
    if switch is not None and drawn is not None:
        render = switch.welcome()
        logger.info(f"[{context.session_id}] the client draws the face (assets {drawn.hash[:12]}, "
                    f"{len(drawn.data) / 1e3:.0f} kB)")
    # our websocket needs its images as wire frames (or, for a client that draws, motion
    # frames); pipecat's transports take them as they are
    wire: list[FrameProcessor] = []
    if serializer is not None:
        wire = [VideoWireAdapter() if switch is None else ClientDrawnRoute(switch)]
    visitors = node.presence
    if wire:
        away = visitors if visitors is not None and config.kiosk.quiet_when_away else None
        wire.insert(0, IdleImageFilter(
            lambda: node.reply_thought_up() or (away is not None and away.nobody_there)))
    presence = presence_welcome(config.kiosk) if hello.presence else None
    return AvatarStart([node, *wire], video_out, notices, face=node, presence=presence,
                       render=render, switch=switch)


def drawn_faces(context: SessionContext) -> BrowserFaces:
    """The server's portraits as browser assets (runtime.py: built on first use)."""
    return context.runtime.browser_faces()


async def _drawn_by_client(context: SessionContext, config: ServerConfig,
                           portrait: Any) -> tuple[BrowserFace | None, dict[str, Any] | None]:
    """The assets of the portrait a session starts with when its client draws the face
    (v2.3: hello.render, on our websocket, in an asset format both sides read), with
    `welcome.render`; (None, why not) when it offered and the server draws after all;
    (None, None) when it did not offer."""
    hello = context.hello
    if hello.render is None:
        return None, None
    reason = None
    if context.serializer is None:
        reason = "this transport carries video only (WebRTC): the server draws"
    elif not config.client_render:
        reason = "this server draws every face (client_render is off)"
    elif not set(hello.render.asset_formats) & set(ASSET_FORMATS):
        reason = (f"no asset format in common: the client reads {hello.render.asset_formats}, "
                  f"the server writes {list(ASSET_FORMATS)}")
    if reason is None:
        assert hello.video_out is not None  # hello.render needs it
        try:
            face = await asyncio.to_thread(drawn_faces(context).get, portrait,
                                           native_size(hello.video_out.size))
            return face, None
        except Exception as error:  # the face goes on, drawn here
            logger.opt(exception=error).warning(f"[{context.session_id}] could not export "
                                                f"{portrait.name!r} for the client: {error}")
            reason = f"the portrait could not be exported for the client ({error})"
    logger.info(f"[{context.session_id}] the client offered to draw; the server draws: {reason}")
    return None, {"mode": "pixels", "reason": reason}


def presence_welcome(kiosk: KioskSettings) -> dict[str, Any]:
    """`welcome.presence`: what a kiosk client shows and expects (docs/PROTOCOL.md)."""
    return {"state": "away", "away_secs": kiosk.away_secs, "attract_text": kiosk.attract_text,
            "greeting": kiosk.greeting or None, "mic_gate": kiosk.quiet_when_away}


def _wire_drops(serializer: ProtocolV1Serializer,
                outbox: SessionOutbox | None) -> Callable[[], dict[str, int]]:
    """The images our websocket dropped (serializer and outbox), for the face's stats."""
    return lambda: {"video_dropped": serializer.video_dropped + (
        outbox.video_dropped if outbox is not None else 0)}


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
    transport = ProtocolWebsocketTransport(  # 40 ms audio messages (rate // 25 samples)
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
    context = SessionContext(session_id, hello, runtime, serializer, transport.outbox)
    try:
        avatar = (await start_avatar(context, config) if hello.video_out is not None
                  else None)
        voice = build_session_pipeline(context, transport, config, registry, avatar)
        registry.stats.track_video(session_id, serializer)
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

    # a kiosk's client is pinged, and its session ended once its network is gone
    keepalive = config.keepalive if avatar is not None and avatar.presence is not None else None
    welcome = Welcome(
        protocol=hello.protocol,
        session_id=session_id,
        audio_in=hello.audio_in,
        audio_out=AudioFormat(sample_rate=out_rate),
        video_out=None if avatar is None else avatar.video_out,
        limits=config.limits.as_dict(),
        presence=None if avatar is None else avatar.presence,
        keepalive=None if keepalive is None else keepalive.welcome(),
        render=None if avatar is None else avatar.render,
    )
    switch = None if avatar is None else avatar.switch
    if switch is not None:  # the client's assets-loaded and set-render reach its switch
        serializer.on_render = switch.on_client
    try:
        await websocket.send_text(encode_message(welcome))
        for notice in [] if avatar is None else avatar.notices:
            await websocket.send_text(encode_message(notice))
        if switch is not None:  # the assets before the first motion frame
            await websocket.send_text(json.dumps(switch.announce_first(), separators=(",", ":")))
    except (WebSocketDisconnect, RuntimeError):
        log.info(f"[{session_id}] client left before welcome")
        return
    log.info(
        f"[{session_id}] open: client={hello.client!r} in={hello.audio_in.sample_rate} Hz "
        f"out={out_rate} Hz"
    )
    async def network_gone(silent_secs: float) -> None:
        log.warning(f"[{session_id}] nothing from the client for {silent_secs:.1f} s, though "
                    "it answered keepalives: its network is gone; ending the session")
        # the slot back now, not after the pipeline's teardown (seconds: the face stops,
        # the close handshake times out); nothing queued can reach a gone client
        end_session(registry, runtime, session_id)
        await transport.outbox.close()
        await voice.task.cancel(reason="the client's network is gone (keepalive)")

    watch = (None if keepalive is None else asyncio.create_task(
        watch_keepalive(serializer, transport.outbox.put, network_gone, keepalive),
        name=f"keepalive-{session_id}"))
    runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
    try:
        await runner.add_workers(voice.task)
        await runner.run()
    except Exception as error:  # one session's crash must not reach the others
        log.exception(f"[{session_id}] pipeline failed")
        if websocket.client_state == WebSocketState.CONNECTED:
            await _refuse(websocket, ErrorCode.INTERNAL, f"pipeline failed: {error}",
                          CloseCode.INTERNAL)
    finally:
        if watch is not None:
            watch.cancel()
        if violations:
            log.info(f"[{session_id}] {violations} protocol violation(s) answered")
