"""The composition root: what a failed `load_runtime` started, it stops; the speech
models and the LLM's prompt cache are warmed after the server answers.

A server whose avatar cannot be prepared (here: a default portrait that does not
exist) fails with a ServerError naming it, after the embedded LLM server has
already started; the caller never gets that server's handle, so `load_runtime`
itself must stop it, or a llama.cpp process is left running per failed start.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import os
import socket
from typing import Any

import httpx
import pytest

from avatar.procfs import command_line, process_parents
from pipelines.server.app import ServerConfig, create_app, load_runtime
from pipelines.server.errors import ServerError
from pipelines.server.startup import WarmUp
from pipelines.settings import Settings

pytestmark = pytest.mark.e2e


def llm_server_children() -> set[int]:
    """Pids of this process's children that run the embedded llama.cpp server."""
    return {pid for pid, parent in process_parents().items()
            if parent == os.getpid() and "llama_cpp_server" in " ".join(command_line(pid))}


async def test_an_avatar_that_cannot_load_stops_the_llm_server_it_started() -> None:
    settings = Settings.load(llm={"embedded_model": "smollm2"},
                             avatar={"video": True, "default_portrait": "nobody_by_this_name",
                                     "calibrate_portraits": False})
    before, collector = llm_server_children(), gc.get_threshold()
    with pytest.raises(ServerError, match="nobody_by_this_name"):
        await load_runtime(settings=settings, warm_up=False)
    assert llm_server_children() == before
    assert gc.get_threshold() == collector  # the start's fewer collections are undone


async def test_the_prompt_cache_is_warmed_after_the_server_answers(runtime: Any) -> None:
    app = create_app(runtime, ServerConfig())
    app.state.warm_up = WarmUp(runtime)  # as run_server does once it serves
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://kiosk") as client:
        health = (await client.get("/healthz")).json()
        assert health["status"] == "ok" and health["warming"] is True  # answering already
        await app.state.warm_up.wait()
        assert (await client.get("/healthz")).json()["warming"] is False


async def test_a_warm_up_whose_llm_is_down_ends_and_the_server_keeps_answering(
        runtime: Any) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    down = dataclasses.replace(runtime, llm=dataclasses.replace(runtime.llm, base_url=closed))
    app = create_app(down, ServerConfig())
    app.state.warm_up = WarmUp(down)
    await app.state.warm_up.wait()  # logged, not raised
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://kiosk") as client:
        health = (await client.get("/healthz")).json()
    assert health["status"] == "ok" and health["warming"] is False


async def test_a_stopping_server_cancels_its_warm_up(runtime: Any) -> None:
    warm_up = WarmUp(runtime)
    warm_up.cancel()  # as run_server does before it stops the LLM
    with contextlib.suppress(asyncio.CancelledError):
        await warm_up.wait()
    assert not warm_up.warming
