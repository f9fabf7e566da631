"""Each session's HTTP clients (the LLM service, the turn-end reader, the endpoint
probe) use the process's one TLS context (agent/tls.py): httpx would load the CA
bundle again for each, about 25 ms of CPU on the event loop at every session start."""

from __future__ import annotations

import ssl
from typing import Any

from pipecat.services.openai.llm import OpenAILLMService

from agent.llm_client import make_client
from agent.tls import shared_tls_context
from agent.turn_end_text import TurnEndReader
from pipelines.speech.llm import LocalOpenAILLMService

LOCAL = "http://127.0.0.1:9/v1"


def tls_context_of(http_client: Any) -> ssl.SSLContext:
    """The context an httpx (or httpx2) client's connection pool opens TLS with."""
    context: ssl.SSLContext = http_client._transport._pool._ssl_context
    return context


def service() -> LocalOpenAILLMService:
    return LocalOpenAILLMService(timeout_s=7.0, api_key="sk-no-key-required", base_url=LOCAL,
                                 settings=OpenAILLMService.Settings(model="smollm2"))


async def test_session_clients_share_the_process_tls_context() -> None:
    shared = shared_tls_context()
    assert isinstance(shared, ssl.SSLContext) and shared.verify_mode == ssl.CERT_REQUIRED
    first, second = service(), service()
    reader = TurnEndReader(base_url=LOCAL)
    direct = make_client(LOCAL, "sk-no-key-required")
    try:
        for client in (first._client, second._client, direct):
            assert tls_context_of(client._client) is shared
            assert client.max_retries == 0
        assert first._client.timeout == 7.0  # the service's bound, not httpx's default
        assert tls_context_of(reader._client) is shared
    finally:
        await reader.aclose()
        for client in (first._client, second._client, direct):
            await client.close()
