"""The kiosk over pipecat's own WebRTC transport (`SmallWebRTCTransport`), beside `/ws`.

A kiosk on shop Wi-Fi wants WebRTC: a jitter buffer, congestion control, Opus, and
the face as a real video track. The browser posts its SDP offer to `/api/offer`
(pipecat's SmallWebRTC signalling: `{sdp, type, pc_id?, request_data?}`, ICE
candidates found later by `PATCH /api/offer`), and the session behind it is the
one our websocket gets: the same admission (token, slots, the machine's video
capacity), the same voice pipeline and the same face (`start_avatar`), with
pipecat's transport in place of ours. Our protocol's events (captions, bot
speaking, errors, video quality) travel on the WebRTC data channel as the same
JSON objects; the audio and the images travel as tracks.

`request_data` carries what a websocket client says in its `hello`:
`{"video": true, "size": 512, "camera": true, "portrait": "grace_hopper",
"client": "kiosk-page/1.0", "token": "...", "presence": true}` (all optional). The
answer adds `session_id`, `video_out` (the size and camera rate chosen) and, with
`presence`, the kiosk's `presence` settings to pipecat's `{sdp, type, pc_id}`. A refusal is an HTTP error whose JSON `detail` holds our
protocol's error (`code`, `message`, `retry_after_s`): 401 unauthorized, 503
server_busy, 400 malformed.

Only a client's first offer builds a session; a renegotiation (`pc_id` given)
goes to pipecat's handler for the connection it names. A session ends when the peer
hangs up, and also when its packets stop for a few seconds (peer_watch.py: a browser
closed without a goodbye, which aiortc would notice only about 30 s later).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException
from loguru import logger
from pipecat.transports.base_transport import TransportParams, VideoInSourceParams
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.request_handler import (
    IceCandidate,
    SmallWebRTCPatchRequest,
    SmallWebRTCRequest,
    SmallWebRTCRequestHandler,
)
from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport
from pipecat.workers.runner import WorkerRunner
from pydantic import ValidationError

from pipelines.server.call import (
    AvatarStart,
    SessionRegistry,
    build_session_pipeline,
    end_session,
    start_avatar,
    video_refusal,
)
from pipelines.server.peer_watch import watch_peer
from pipelines.server.runtime import PIPELINE_INPUT_RATE, ServerConfig, SessionContext, VoiceRuntime
from pipelines.wire.webrtc.audio_in import trim_audio_prefetch
from sdk.protocol import AudioInFormat, ErrorCode, Hello, VideoInOffer, VideoOutRequest, error_event

#: pipecat's transport draws the camera at this rate at most; the face analyses
#: fewer (its `camera_fps`), newest frame first
CAMERA_IN_FPS = 15
#: the face's clock: one image per 40 ms. The video track takes each image's time from
#: the audio's (pipelines/wire/webrtc/output.py, fitted by the service itself), so the
#: transport's own video pacing never decides when an image is shown
WEBRTC_VIDEO_FPS = 25
#: how long a shutdown waits for the sessions of hung-up peers to end
STOP_SECS = 10.0
#: a peer answered but never connected (no ICE path, or an offer aiortc took but no
#: browser would make) gives its slot back after this long
CONNECT_SECS = 30.0


@dataclass(frozen=True)
class WebRTCOffer:
    """A parsed first offer: pipecat's request and the hello it stands for."""

    request: SmallWebRTCRequest
    hello: Hello


def parse_offer(body: Any, auth_header: str | None = None) -> WebRTCOffer:
    """The offer a browser posted, or an HTTP 400 naming what is wrong with it."""
    if not isinstance(body, dict):
        raise _refusal(400, ErrorCode.MALFORMED, "the offer must be a JSON object")
    sdp, kind = body.get("sdp"), body.get("type")
    if not isinstance(sdp, str) or not sdp.strip() or kind != "offer":
        raise _refusal(400, ErrorCode.MALFORMED,
                       "the offer needs an SDP string in 'sdp' and 'type': 'offer'")
    if "\nm=audio " not in f"\n{sdp}":
        raise _refusal(400, ErrorCode.MALFORMED,
                       "the offer's SDP has no audio section: send the microphone track")
    data = body.get("request_data", body.get("requestData")) or {}
    if not isinstance(data, dict):
        raise _refusal(400, ErrorCode.MALFORMED, "'request_data' must be a JSON object")
    video = data.get("video", True)
    token = data.get("token")
    if auth_header and auth_header.lower().startswith("bearer "):
        token = auth_header[7:].strip()
    try:
        hello = Hello(
            protocol=2,
            # pipecat's transport resamples the browser's Opus (48 kHz) to the pipeline's rate
            audio_in=AudioInFormat(sample_rate=PIPELINE_INPUT_RATE),
            client=data.get("client"),
            token=token,
            video_out=VideoOutRequest(size=data.get("size", 512)) if video else None,
            video_in=VideoInOffer(kind="camera") if video and data.get("camera", True) else None,
            portrait=data.get("portrait"),
            presence=(bool(data.get("presence")) and video) or None,
        )
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise _refusal(400, ErrorCode.MALFORMED, f"bad request_data: {problems}") from error
    request = SmallWebRTCRequest(sdp=sdp, type=kind, pc_id=body.get("pc_id"),
                                 restart_pc=body.get("restart_pc"), request_data=data)
    return WebRTCOffer(request, hello)


def _refusal(status: int, code: ErrorCode, message: str,
             retry_after_s: float | None = None) -> HTTPException:
    detail = error_event(code, message, fatal=True, retry_after_s=retry_after_s)
    headers = {"Retry-After": f"{retry_after_s:.0f}"} if retry_after_s else None
    return HTTPException(status_code=status, detail=detail.model_dump(exclude_none=True),
                         headers=headers)


class WebRTCDoor:
    """Answers WebRTC offers with sessions of this server (one per peer)."""

    def __init__(self, runtime: VoiceRuntime, config: ServerConfig,
                 registry: SessionRegistry) -> None:
        self.runtime, self.config, self.registry = runtime, config, registry
        # No ICE servers: the kiosk and its server meet on host candidates (a LAN, or
        # loopback); across NATs give pipecat's handler STUN/TURN servers.
        self.handler = SmallWebRTCRequestHandler()
        self._sessions: set[asyncio.Task[None]] = set()

    async def offer(self, body: Any, auth_header: str | None = None) -> dict[str, Any]:
        """Answer an SDP offer: a new session, or a renegotiation of a live one."""
        if isinstance(body, dict) and body.get("pc_id"):
            return await self._renegotiate(body)
        offer = parse_offer(body, auth_header)
        hello = offer.hello
        if self.config.auth_token is not None and (
                hello.token is None or not hmac.compare_digest(hello.token, self.config.auth_token)):
            logger.warning("refused a WebRTC client: bad or missing token")
            raise _refusal(401, ErrorCode.UNAUTHORIZED, "missing or wrong token")
        session_id = self.registry.reserve()
        if session_id is None:
            raise self._busy(f"all {self.registry.max_sessions} session slots are busy")
        refusal = video_refusal(hello, session_id, self.runtime, self.config)
        if refusal is not None:
            self.registry.release(session_id)
            raise self._busy(refusal)
        context = SessionContext(session_id, hello, self.runtime)
        started: dict[str, Any] = {}

        async def start_session(connection: SmallWebRTCConnection) -> None:
            started["connection"] = connection
            trim_audio_prefetch(connection.pc)  # before the visitor's voice flows
            avatar = await start_avatar(context, self.config, jpeg=False)
            started["avatar"] = avatar
            task = asyncio.create_task(self._run(context, connection, avatar),
                                       name=f"webrtc-session-{session_id}")
            started["task"] = task
            self._sessions.add(task)
            task.add_done_callback(self._sessions.discard)

        try:
            answer = await self.handler.handle_web_request(
                request=offer.request, webrtc_connection_callback=start_session)
        except Exception as error:  # an SDP aiortc cannot parse, a codec it lacks
            self._end(session_id)
            logger.warning(f"refused a WebRTC offer: {error}")
            raise _refusal(400, ErrorCode.MALFORMED, f"cannot answer this offer: {error}") from error
        if "task" not in started:  # pipecat logs and swallows what the callback raised
            self._end(session_id)
            if "connection" in started:
                with contextlib.suppress(Exception):
                    await started["connection"].disconnect()
            raise _refusal(500, ErrorCode.INTERNAL, "could not start a session")
        avatar: AvatarStart | None = started["avatar"]
        return {**(answer or {}), "session_id": session_id,
                "video_out": None if avatar is None else avatar.video_out,
                "presence": None if avatar is None else avatar.presence,
                "notices": [] if avatar is None else
                [n.model_dump(exclude_none=True) for n in avatar.notices]}

    async def patch(self, body: Any) -> dict[str, str]:
        """ICE candidates a browser found after its offer (trickle ICE)."""
        if not isinstance(body, dict) or not isinstance(body.get("pc_id"), str):
            raise _refusal(400, ErrorCode.MALFORMED, "an ICE patch needs 'pc_id'")
        try:
            candidates = [IceCandidate(**c) for c in body.get("candidates", [])]
        except TypeError as error:
            raise _refusal(400, ErrorCode.MALFORMED, f"bad ICE candidate: {error}") from error
        await self.handler.handle_patch_request(
            SmallWebRTCPatchRequest(pc_id=body["pc_id"], candidates=candidates))
        return {"status": "success"}

    async def close(self) -> None:
        """Hang up every peer and wait (bounded) for their sessions to end."""
        await self.handler.close()
        if self._sessions:
            await asyncio.wait(self._sessions, timeout=STOP_SECS)

    async def _renegotiate(self, body: dict[str, Any]) -> dict[str, Any]:
        request = SmallWebRTCRequest(sdp=body.get("sdp", ""), type=body.get("type", "offer"),
                                     pc_id=body["pc_id"], restart_pc=body.get("restart_pc"))

        async def no_new_session(_connection: SmallWebRTCConnection) -> None:
            raise RuntimeError("a renegotiation names a peer that is gone")

        try:
            answer = await self.handler.handle_web_request(
                request=request, webrtc_connection_callback=no_new_session)
        except Exception as error:
            raise _refusal(400, ErrorCode.MALFORMED, f"cannot renegotiate: {error}") from error
        return answer or {}

    def _busy(self, reason: str) -> HTTPException:
        retry = self.config.busy_retry_after_s
        logger.warning(f"refused a WebRTC client: {reason}")
        return _refusal(503, ErrorCode.SERVER_BUSY, f"{reason}; try again in {retry:g} s",
                        retry_after_s=retry)

    def _end(self, session_id: str) -> None:
        end_session(self.registry, self.runtime, session_id)

    async def _run(self, context: SessionContext, connection: SmallWebRTCConnection,
                   avatar: AvatarStart | None) -> None:
        """One peer's conversation, until it hangs up (its slot freed whatever happens)."""
        session_id, config = context.session_id, self.config
        log = logger.bind(session=session_id)
        try:
            size = avatar.video_out["width"] if avatar is not None and avatar.video_out else 0
            camera = avatar is not None and context.hello.video_in is not None
            transport = SmallWebRTCTransport(
                webrtc_connection=connection,
                params=TransportParams(
                    audio_in_enabled=True,
                    audio_out_enabled=True,
                    video_in_enabled=camera,
                    # only with a camera: pipecat refuses sources without video in, and
                    # a visitor without a camera (or voice only) is a normal visitor
                    video_in_sources=({"camera": VideoInSourceParams(framerate=CAMERA_IN_FPS)}
                                      if camera else {}),
                    video_out_enabled=avatar is not None,
                    # as in pipecat's own avatar examples; the face's service fits this
                    # output with tracks on one media clock (each image sent once, at its
                    # size: a step down under load changes the track's resolution)
                    video_out_is_live=True,
                    video_out_width=size or 512,
                    video_out_height=size or 512,
                    video_out_framerate=WEBRTC_VIDEO_FPS,
                ),
            )
            voice = build_session_pipeline(context, transport, config, self.registry, avatar)
            self.registry.active[session_id] = voice

            connected = asyncio.Event()

            @transport.event_handler("on_client_connected")
            async def _on_connected(_transport: Any, _connection: Any) -> None:
                connected.set()

            @transport.event_handler("on_client_disconnected")
            async def _on_disconnected(_transport: Any, _connection: Any) -> None:
                log.info(f"[{session_id}] WebRTC peer disconnected")
                await voice.task.cancel(reason="client disconnected")

            async def _connect_deadline() -> None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(connected.wait(), CONNECT_SECS)
                    return
                log.warning(f"[{session_id}] WebRTC peer never connected in {CONNECT_SECS:g} s")
                await voice.task.cancel(reason="peer never connected")

            async def _peer_gone(silent_secs: float) -> None:
                log.info(f"[{session_id}] no packet from the WebRTC peer for "
                         f"{silent_secs:.1f} s: it left without hanging up")
                await voice.task.cancel(reason="client gone silent")
                # the peer connection too: its pacers, RTCP and ICE checks stop now
                with contextlib.suppress(Exception):
                    await connection.disconnect()

            log.info(f"[{session_id}] WebRTC open: client={context.hello.client!r}"
                     + ("" if avatar is None else f", face {size} px"))
            deadline = asyncio.create_task(_connect_deadline())
            watch = asyncio.create_task(watch_peer(connection.pc, _peer_gone))
            try:
                runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
                await runner.add_workers(voice.task)
                await runner.run()
            finally:
                deadline.cancel()
                watch.cancel()
        except Exception as error:  # one session's crash must not reach the others
            log.exception(f"[{session_id}] WebRTC session failed")
            with contextlib.suppress(Exception):
                connection.send_app_message(error_event(
                    ErrorCode.INTERNAL, f"pipeline failed: {error}", fatal=True,
                ).model_dump(exclude_none=True))
            with contextlib.suppress(Exception):
                await connection.disconnect()
        finally:
            self._end(session_id)
            log.info(f"[{session_id}] ended; {len(self.registry.active)} session(s) live")

