"""LLM failover (issue 37): the LLM service asks an endpoint resolver before each turn.

Two real embedded llama.cpp servers (SmolLM2) stand for two replicas of the fleet's
LLM pool; the pool's router is a round robin over both that keeps handing out a
stopped one (as Serve does until its health check notices). One is stopped, or
killed while it writes a reply:

* stopped between turns: the next turn is refused before any word, sent once more to
  the live server and answered; no failed turn;
* killed mid-reply: that turn fails with the apology spoken after the words already
  written and an error upstream (the `llm_unavailable` event); the next turn goes to
  the live server: one failed turn per replica death;
* a fixed endpoint (an external `[llm] base_url`) that is down: the turn fails with
  the apology, as before, and nothing else is tried.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import openai
import pytest
from pipecat.frames.frames import ErrorFrame, Frame, LLMContextFrame, LLMTextFrame
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.tests.utils import run_test

from agent import EmbeddedLLMServer, smollm2_gguf
from agent.errors import LLMEndpointError
from agent.llm_endpoints import ChatEndpoint, FixedEndpoint, PoolEndpoint
from agent.llm_server import free_port
from pipelines.speech.llm import APOLOGY, LocalOpenAILLMService, endpoint_failure


@pytest.fixture
def replicas() -> Iterator[list[EmbeddedLLMServer]]:
    """Two real llama.cpp servers on the bundled SmolLM2 (about a second each to load)."""
    servers = [EmbeddedLLMServer(model_path=smollm2_gguf(), model_alias="smollm2", n_ctx=1024)
               for _ in range(2)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


def round_robin(servers: list[EmbeddedLLMServer]) -> Any:
    """The pool's `ask`: each replica in turn, stopped ones included (their URL is kept
    from when they ran: a router that has not noticed yet)."""
    answers = itertools.cycle([{"base_url": s.base_url, "model": "smollm2"} for s in servers])

    async def ask() -> Mapping[str, str]:
        return next(answers)

    return ask


def service(endpoints: Any, *, max_tokens: int = 24) -> LocalOpenAILLMService:
    first = endpoints.current
    return LocalOpenAILLMService(
        timeout_s=10.0, endpoints=endpoints, api_key="sk-no-key-required",
        base_url=first.base_url if first is not None else "http://127.0.0.1:9/v1",
        settings=OpenAILLMService.Settings(model="smollm2", max_tokens=max_tokens,
                                           temperature=0.0,
                                           system_instruction="You are a kiosk assistant."))


async def turn(llm: LocalOpenAILLMService, question: str,
               observers: list[BaseObserver] | None = None) -> tuple[str, list[Frame]]:
    """One turn through the real service: (the text it pushed, the frames sent upstream)."""
    context = LLMContext([{"role": "user", "content": question}])
    down, up = await run_test(llm, frames_to_send=[LLMContextFrame(context=context)],
                              expected_down_frames=None, expected_up_frames=None,
                              observers=observers)
    text = "".join(f.text for f in down if isinstance(f, LLMTextFrame))
    return text, list(up)


class KillOnFirstWords(BaseObserver):
    """SIGKILLs `server` when the first words of a reply leave the LLM service."""

    def __init__(self, server: EmbeddedLLMServer) -> None:
        super().__init__()
        self.server = server
        self.killed = False

    async def on_push_frame(self, data: FramePushed) -> None:
        if isinstance(data.frame, LLMTextFrame) and not self.killed:
            self.killed = True
            assert self.server.pid is not None
            os.kill(self.server.pid, signal.SIGKILL)


@pytest.mark.e2e
async def test_a_replica_stopped_between_turns_costs_no_turn(
        replicas: list[EmbeddedLLMServer]) -> None:
    first, second = replicas
    pool = PoolEndpoint(round_robin(replicas), find_secs=5.0)
    llm = service(pool)
    text, up = await turn(llm, "Where can I buy milk?")
    assert text.strip() and not any(isinstance(f, ErrorFrame) for f in up)
    assert pool.current == ChatEndpoint(first.base_url, "smollm2")
    first.stop()
    text, up = await turn(llm, "And where is the bakery?")
    assert text.strip() and APOLOGY not in text
    assert not any(isinstance(f, ErrorFrame) for f in up), up
    assert pool.current == ChatEndpoint(second.base_url, "smollm2")
    assert (llm.failed_turns, llm.resent_turns, pool.failures, pool.failovers) == (0, 1, 1, 1)
    # the session stays on the live replica: no more asking, no more failures
    text, up = await turn(llm, "Thank you!")
    assert text.strip() and not any(isinstance(f, ErrorFrame) for f in up)
    assert (llm.failed_turns, pool.failures, pool.failovers) == (0, 1, 1)


@pytest.mark.e2e
async def test_a_replica_killed_mid_reply_fails_that_turn_politely_and_the_next_is_answered(
        replicas: list[EmbeddedLLMServer]) -> None:
    first, second = replicas
    pool = PoolEndpoint(round_robin(replicas), find_secs=5.0)
    llm = service(pool, max_tokens=200)
    killer = KillOnFirstWords(first)
    text, up = await turn(llm, "Please count slowly from one to one hundred, in words.",
                          observers=[killer])
    assert killer.killed
    assert text.rstrip().endswith(APOLOGY), text  # the words so far, then the apology
    errors = [f for f in up if isinstance(f, ErrorFrame)]
    assert len(errors) == 1 and "completion" in errors[0].error.lower()
    assert (llm.failed_turns, pool.failures) == (1, 1)
    text, up = await turn(llm, "Where can I buy milk?")
    assert text.strip() and APOLOGY not in text
    assert not any(isinstance(f, ErrorFrame) for f in up), up
    assert pool.current == ChatEndpoint(second.base_url, "smollm2")
    assert (llm.failed_turns, pool.failovers) == (1, 1)


@pytest.mark.e2e
async def test_a_pool_with_no_live_replica_fails_the_turn_politely(
        replicas: list[EmbeddedLLMServer]) -> None:
    pool = PoolEndpoint(round_robin(replicas), find_secs=1.0)
    llm = service(pool)
    for server in replicas:
        server.stop()
    text, up = await turn(llm, "Where can I buy milk?")
    assert text.strip() == APOLOGY
    errors = [f for f in up if isinstance(f, ErrorFrame)]
    assert len(errors) == 1 and "no live LLM endpoint" in errors[0].error
    assert llm.failed_turns == 1
    with pytest.raises(LLMEndpointError, match="no live LLM endpoint"):
        await pool.endpoint()


async def test_a_fixed_endpoint_that_is_down_fails_the_turn_politely_and_stays() -> None:
    """An external `[llm] base_url`: nothing else to go to; the same URL next turn."""
    dead = ChatEndpoint(f"http://127.0.0.1:{free_port()}/v1", "smollm2")
    fixed = FixedEndpoint(dead)
    llm = service(fixed)
    for number in (1, 2):
        text, up = await turn(llm, "Where can I buy milk?")
        assert text.strip() == APOLOGY
        assert [f for f in up if isinstance(f, ErrorFrame)]
        assert (llm.failed_turns, fixed.failures, fixed.failovers) == (number, number, 0)
        assert fixed.current == dead


async def test_a_pool_that_never_answers_fails_the_search_within_its_bound() -> None:
    """A pool asked while its head is unreachable (a Serve handle call that hangs):
    the turn gets an error, and with it the apology, not endless silence."""

    async def ask() -> Mapping[str, str]:
        await asyncio.Event().wait()
        raise AssertionError("never answers")

    pool = PoolEndpoint(ask, find_secs=0.5)
    with pytest.raises(LLMEndpointError, match="no live LLM endpoint.*the pool"):
        await pool.endpoint()
    text, up = await turn(service(pool), "Where can I buy milk?")
    assert text.strip() == APOLOGY and [f for f in up if isinstance(f, ErrorFrame)]


def test_only_a_failing_endpoint_sends_the_next_turn_elsewhere() -> None:
    """Unreachable, reset, timed out, a server error: the endpoint failed. A 4xx is the
    request's fault (another replica would refuse it too): the pool stays put."""
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")

    def status(code: int) -> openai.APIStatusError:
        return openai.APIStatusError(f"HTTP {code}", response=httpx.Response(code, request=request),
                                     body=None)

    assert endpoint_failure(openai.APIConnectionError(request=request))
    assert endpoint_failure(openai.APITimeoutError(request=request))
    assert endpoint_failure(httpx.RemoteProtocolError("peer closed", request=request))
    assert endpoint_failure(status(500)) and endpoint_failure(status(503))
    assert not endpoint_failure(status(400)) and not endpoint_failure(status(404))
    assert not endpoint_failure(ValueError("a bug of ours is not the replica's"))


def test_bad_pool_timings_are_refused() -> None:
    async def ask() -> Mapping[str, str]:
        return {}

    with pytest.raises(ValueError, match="find_secs"):
        PoolEndpoint(ask, find_secs=0)
