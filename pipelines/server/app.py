"""The composition root: models, LLM, avatar assets, the FastAPI app and uvicorn.

Everything a server builds once lives here (`load_runtime`, `run_server`); the
per-connection code is in pipelines/server/call.py and the shared types in
pipelines/server/runtime.py. Routes: `/ws` (wire protocol v2, v1 still spoken; see
docs/PROTOCOL.md), `/api/offer` (the same sessions over pipecat's WebRTC transport,
pipelines/server/webrtc_door.py), `/healthz`, `/portraits`, `/assets/<hash>` (a portrait's
drawing assets for a client that draws the face, pipelines/server/browser_faces.py), and
the kiosk page: `/` with its
ES modules under `/static/` (pipelines/web/, served as files: no build step, no CDN),
and `/session` (where to open a conversation: `/ws` on one machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp

from agent.errors import AgentError
from agent.llm_client import check_llm_endpoint
from agent.persona import build_system_prompt
from avatar.memory import limit_malloc_arenas
from pipelines.door_tls import TLSFiles
from pipelines.server.call import SessionRegistry, serve_connection
from pipelines.server.errors import ServerError
from pipelines.server.interpreter_timing import shorten_switch_interval, start_stall_watch
from pipelines.server.log_redaction import install_uvicorn_log_filters, install_visitor_words_filter
from pipelines.server.memory_gauges import memory_registry
from pipelines.server.runtime import PIPELINE_INPUT_RATE, ServerConfig, SessionContext, VoiceRuntime
from pipelines.server.startup import BegunParts, WarmUp, load_parts, process_age_secs
from pipelines.server.webrtc_door import WebRTCDoor
from pipelines.speech.stt import NO_WORDS
from pipelines.voice_pipeline import LLMParams
from sdk.protocol import PROTOCOL_VERSION, Limits

if TYPE_CHECKING:
    from agent.llm_server import EmbeddedLLMServer
    from pipelines.settings import Settings

#: The kiosk page and the browser SDK (docs/BROWSER_SDK.md).
WEB_DIR = Path(__file__).parents[1] / "web"  # pipelines/web

__all__ = ["WEB_DIR", "PIPELINE_INPUT_RATE", "ServerConfig", "SessionContext", "VoiceRuntime", "create_app",
           "load_runtime", "make_server", "run_server", "uvicorn_config"]

#: Kernel send buffer asked for each connection (Linux doubles it: 256 KB, about
#: 8 frames of 512 px video). Loopback's autotuned default grows to 4 MB, 5 s of
#: video: a client that stopped reading then met 5 s of stale frames before the
#: outbox (pipelines/wire/outbox.py) could drop any. 256 KB still carries 2.5 MB/s
#: at 100 ms round trip, three times a 512 px session's stream.
SEND_BUFFER_BYTES = 128 * 1024
#: a portrait's browser assets are named by their content hash: they never change
ASSETS_CACHE_CONTROL = "public, max-age=31536000, immutable"


def create_app(runtime: VoiceRuntime, config: ServerConfig | None = None) -> FastAPI:
    """The FastAPI app serving `runtime` under `config`."""
    config = config or ServerConfig()
    registry = SessionRegistry(config.max_sessions)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if runtime.avatar is not None and config.video and config.client_render:
            # the default portrait's browser assets, ready before a page that draws asks
            # (seconds of a core, once: the first such session would wait for them)
            threading.Thread(target=_warm_browser_face, args=(runtime,), name="browser-assets",
                             daemon=True).start()
        yield
        await webrtc.close()  # hangs up every WebRTC peer: their sessions end
        # Graceful shutdown: end every live session so its websocket closes cleanly.
        voices = [voice for voice in registry.active.values() if voice is not None]
        if voices:
            logger.info(f"shutting down {len(voices)} live session(s)")
            await asyncio.gather(
                *(voice.task.cancel(reason="server shutdown") for voice in voices),
                return_exceptions=True,
            )

    webrtc = WebRTCDoor(runtime, config, registry)
    app = FastAPI(title="avatar-forcing voice server", lifespan=lifespan)
    app.state.registry = registry
    app.state.runtime = runtime

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def kiosk_page() -> FileResponse:
        """The kiosk page (`?portrait=`, `?token=`, `?size=`, `?camera=0`)."""
        return FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/portraits")
    async def portraits() -> dict[str, Any]:
        """The portraits a client may name in `hello.portrait` / `set-portrait`."""
        if runtime.avatar is None:
            return {"portraits": [], "default": None}
        library = runtime.avatar.portraits
        return {"portraits": library.names(), "default": library.default}

    @app.get("/assets/{asset_hash}")
    async def browser_assets(asset_hash: str, request: Request) -> Response:
        """A portrait's drawing assets for a client that draws the face (v2.3, named by
        the `assets` event): immutable, so a browser keeps them, and revalidated by
        their hash (ETag) when it asks again."""
        face = runtime.browser_faces().by_hash(asset_hash) if runtime.avatar is not None else None
        if face is None:
            raise HTTPException(status_code=404, detail={
                "type": "error", "code": "unknown_assets",
                "message": f"no assets {asset_hash!r} here: ask for them in a session "
                           "(hello.render), which names the ones it needs"})
        headers = {"Cache-Control": ASSETS_CACHE_CONTROL, "ETag": f'"{face.hash}"'}
        if request.headers.get("if-none-match", "").strip('"W/ ') == face.hash:
            return Response(status_code=304, headers=headers)
        return Response(content=face.data, media_type="application/octet-stream",
                        headers=headers)

    @app.get("/session")
    async def session_door() -> dict[str, Any]:
        """Where a client opens its conversation: `/ws` here. A kiosk fleet answers
        the direct address of the machine with most room instead (docs/FLEET.md),
        so a client that asks first works with one machine and with many."""
        return {"ws_url": "/ws", "node_id": None}

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness plus capacity, for load balancers and tests: `video` is the
        machine's live capacity for avatar sessions (avatar/live/capacity.py):
        slots still free at the floor quality, and each session's quality level."""
        health: dict[str, Any] = {
            "status": "ok",
            "protocol": PROTOCOL_VERSION,
            "sessions": len(registry.active),
            "max_sessions": registry.max_sessions,
            # sounds without words (laughs, coughs) since start: not errors, not
            # sent to the visitor, counted for the operator (pipelines/speech/stt.py)
            "no_words_sounds": NO_WORDS.sounds,
            # turn response p50 and video images/s over the last minutes
            # (pipelines/server/stats.py)
            "recent": registry.stats.report(),
        }
        warm_up = getattr(app.state, "warm_up", None)
        if warm_up is not None:  # speech models and prompt cache, warmed once it answers
            health["warming"] = warm_up.warming
        if runtime.avatar is not None and runtime.avatar.capacity is not None and config.video:
            health["video"] = runtime.avatar.capacity.report().as_dict()
        return health

    gauges = memory_registry(lambda: len(registry.active), registry.metrics)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus gauges of the server's own memory (RSS, PSS, the tree's PSS) and
        sessions (pipelines/server/memory_gauges.py): the field's watch on growth; and
        a kiosk's visits (pipelines/kiosk/visit_metrics.py, docs/KIOSK.md)."""
        body = await asyncio.to_thread(generate_latest, gauges)
        return Response(content=body, media_type=CONTENT_TYPE_LATEST)

    @app.websocket("/ws")
    async def voice_socket(websocket: WebSocket) -> None:
        """One conversation: handshake, then a pipeline until either side leaves."""
        await serve_connection(websocket, runtime, config, registry)

    @app.post("/api/offer")
    async def webrtc_offer(request: Request) -> dict[str, Any]:
        """One conversation over pipecat's WebRTC transport: an SDP offer in, the
        answer out (pipelines/server/webrtc_door.py; the kiosk page's ?transport=webrtc)."""
        return await webrtc.offer(await _json_body(request),
                                  request.headers.get("authorization"))

    @app.patch("/api/offer")
    async def webrtc_ice(request: Request) -> dict[str, str]:
        """ICE candidates a WebRTC peer found after its offer."""
        return await webrtc.patch(await _json_body(request))

    return app


def _warm_browser_face(runtime: VoiceRuntime) -> None:
    """Export the default portrait for pages that draw the face (at 512 px, the kiosk's)."""
    assert runtime.avatar is not None
    try:
        runtime.browser_faces().get(runtime.avatar.portraits.get(), 512)
    except Exception as error:  # a session exports it again, or falls back to pixels
        logger.warning(f"the default portrait's browser assets could not be made: {error}")


async def _json_body(request: Request) -> Any:
    """The request's JSON, or a 400 that says it is not JSON."""
    try:
        return await request.json()
    except ValueError as error:
        raise HTTPException(status_code=400, detail={
            "type": "error", "code": "malformed", "message": f"not JSON: {error}",
            "fatal": True}) from error


async def load_runtime(
    *,
    settings: Settings,
    warm_up: bool = True,
    warm_llm: bool = True,
    begun: BegunParts | None = None,
) -> tuple[VoiceRuntime, EmbeddedLLMServer | None]:
    """Models + LLM endpoint + persona from the settings; returns (runtime, llm_server).

    The parts load side by side (pipelines/server/startup.py). `warm_up` runs each
    speech model once and, with `warm_llm`, fills the LLM's prompt cache before
    returning; `run_server` leaves both to `WarmUp`, after it answers.
    `begun`: the parts already loading (`begin_parts`, with these settings).
    The caller stops `llm_server` (an `EmbeddedLLMServer`, or None for an
    external endpoint) when it is done.

    Raises:
        ServerError: the LLM endpoint is unreachable or a model is missing.
    """
    # A server, before its threads allocate: glibc's default of 8 malloc arenas per
    # core left 2.5-4 MB of RSS behind with every video session (avatar/memory.py).
    # A library leaves the allocator alone; a no-op off glibc.
    limit_malloc_arenas()
    parts = await load_parts(settings, warm_speech=warm_up, begun=begun)
    endpoint = parts.endpoint
    try:
        await check_llm_endpoint(endpoint.base_url, endpoint.api_key)
    except AgentError as error:
        if endpoint.server is not None:
            endpoint.server.stop()
        if parts.avatar is not None:
            parts.avatar.close()
        raise ServerError(str(error)) from error
    logger.info("loaded side by side, ready after (s): " + ", ".join(
        f"{name} {secs:.1f} s" for name, secs in sorted(parts.secs.items())))
    runtime = VoiceRuntime(
        models=parts.models,
        llm=LLMParams.from_settings(settings, endpoint),
        system_prompt=build_system_prompt(settings.persona),
        avatar=parts.avatar,
        knowledge=parts.knowledge,
    )
    if warm_up and warm_llm:
        llm_secs = await runtime.warm_up_llm()
        logger.info(f"warm-up: LLM prompt cache {llm_secs:.2f} s")
    # Everything loaded so far (models, portraits, ~a million objects) lives as long as
    # the server: out of the collector's sight, a full collection (the face service runs
    # one when a session ends, avatar/memory.py) scans only what sessions made. Over
    # all of them it took 0.4-1.0 s on the event loop, a hitch for the other sessions.
    gc.freeze()
    shorten_switch_interval()
    start_stall_watch()
    return runtime, endpoint.server


def uvicorn_config(app: ASGIApp, host: str, port: int, limits: Limits,
                   tls: TLSFiles | None = None, own_logging: bool = True) -> uvicorn.Config:
    """uvicorn settings: websocket frames a little above our limit still reach us.

    Frames up to 4x `max_message_bytes` (2x `max_image_bytes` for camera frames
    and portraits, whichever is larger) are read and answered with a polite
    `frame_too_large` event; only beyond that does the websocket layer close
    the socket itself (1009), so a buggy client cannot make us buffer more.

    permessage-deflate is off: our media (PCM, JPEG) does not compress (zlib won
    1 % on a JPEG frame for ~1 % of a core per video session), and without it
    every size limit applies to the message exactly as the client sent it.

    With `tls` (pipelines/door_tls.py) the same port speaks https and wss only.

    `own_logging=False` leaves the process's logging as it is: uvicorn's own logging
    setup (`logging.config.dictConfig`) closes every handler the process has, which
    inside a Ray Serve replica (a fleet machine's direct door) closed Serve's log
    handlers, and after a head restart Serve could not recover the replica
    (`get_component_logger_file_path`: `'NoneType' object has no attribute
    'baseFilename'`), so it stopped it and its live sessions (docs/FLEET.md, "The head").
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
        ssl_certfile=str(tls.cert_file) if tls is not None else None,
        ssl_keyfile=str(tls.key_file) if tls is not None else None,
        log_config=uvicorn.config.LOGGING_CONFIG if own_logging else None,
    )


class BoundedSendBufferServer(uvicorn.Server):
    """uvicorn whose listening sockets carry `SEND_BUFFER_BYTES`.

    An accepted TCP socket inherits the listener's send buffer on Linux, and
    uvicorn hands the app no socket, so the listener is where it can be set.
    """

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start as uvicorn does, then bound the send buffer of what it listens on."""
        await super().startup(sockets)
        for server in self.servers:
            for listener in server.sockets:
                with contextlib.suppress(OSError):
                    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        age = process_age_secs()
        if self.started and age is not None:  # how long a restart keeps the page waiting
            logger.info(f"listening {age:.1f} s after the process started")


def make_server(app: ASGIApp, host: str, port: int, limits: Limits,
                tls: TLSFiles | None = None, own_logging: bool = True) -> uvicorn.Server:
    """The uvicorn server every entry point runs (`uvicorn_config`, bounded send buffers;
    https and wss with `tls`; `own_logging=False` inside a process whose logging is
    someone else's, a Ray Serve replica)."""
    return BoundedSendBufferServer(uvicorn_config(app, host, port, limits, tls, own_logging))


def _exit_cleanly_on_sigterm() -> None:
    """Make SIGTERM a clean `SystemExit(0)` once uvicorn hands it back.

    uvicorn captures SIGTERM for its graceful shutdown, then re-raises it against
    the previous handler; with the default handler the process would die there,
    before our `finally` stops the embedded LLM, and exit with -15. A
    supervisor (systemd, docker) should see a clean exit after a clean shutdown.
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def _raise_exit(_signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _raise_exit)


async def run_server(settings: Settings, *, config: ServerConfig | None = None,
                     warm_up: bool = True, begun: BegunParts | None = None) -> None:
    """Load everything, serve until SIGINT/SIGTERM, then stop the embedded LLM.

    uvicorn owns the signals: on SIGTERM it stops accepting, closes live
    websockets and runs the app's shutdown, which cancels every session.
    `begun`: the parts already loading (`begin_parts`, with these settings, not warmed).
    `warm_up`: warm the speech models and the LLM once the server answers (`WarmUp`).
    """
    config = config or ServerConfig.from_settings(settings)
    install_visitor_words_filter(settings.kiosk.log_transcripts)
    _exit_cleanly_on_sigterm()
    # the speech models and the prompt cache are warmed once the server answers: a
    # restarted kiosk's page reconnects, and its visitor is greeted, seconds sooner
    runtime, llm_server = await load_runtime(settings=settings, warm_up=False, begun=begun)
    warming: WarmUp | None = None
    try:
        app = create_app(runtime, config)
        if warm_up:
            app.state.warm_up = warming = WarmUp(runtime)
        host, port, tls = settings.server.host, settings.server.port, settings.server.tls()
        server = make_server(app, host, port, config.limits, tls)
        http, ws = ("https", "wss") if tls is not None else ("http", "ws")
        logger.info(f"kiosk page on {http}://{host}:{port}/ (tap to start; an unattended "
                    f"kiosk opens {http}://{host}:{port}/?kiosk=1, docs/KIOSK.md)")
        logger.info(
            f"voice server on {ws}://{host}:{port}/ws "
            f"(LLM {runtime.llm.model} at {runtime.llm.base_url}, "
            f"auth {'on' if config.auth_token else 'off'}, max {config.max_sessions} sessions)"
        )
        await server.serve()
    finally:
        if warming is not None:
            warming.cancel()  # before its LLM stops
        if runtime.avatar is not None:
            runtime.avatar.close()  # a background portrait fit ends with the server
        if llm_server is not None:
            llm_server.stop()
