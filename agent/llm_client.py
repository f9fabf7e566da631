"""A thin layer over `openai.AsyncOpenAI` for direct use outside the pipecat pipeline:
a fast health check with a readable error, and a streamed chat reply.

The pipeline itself uses pipecat's OpenAI service against the same endpoint; this
module is for start-up checks, the CLI, benchmarks and text-only tests.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageParam

from agent.errors import LLMEndpointError
from agent.tls import shared_tls_context


def make_client(base_url: str | None, api_key: str | None, *, timeout_s: float = 30.0,
                **options: Any) -> openai.AsyncOpenAI:
    """An AsyncOpenAI client with no silent retries (a voice turn cannot wait for them),
    on the process's one TLS context; `options` go to AsyncOpenAI (organization, ...)."""
    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0,
                              http_client=openai.DefaultAsyncHttpxClient(
                                  verify=shared_tls_context(), timeout=timeout_s),
                              **options)


async def check_llm_endpoint(base_url: str, api_key: str, *, timeout_s: float = 3.0) -> None:
    """Raise `LLMEndpointError` unless `GET {base_url}/models` answers within `timeout_s`.

    Fails fast (no retries) so a wrong URL or a dead server is reported at start-up
    rather than as a silent avatar that never answers.
    """
    client = make_client(base_url, api_key, timeout_s=timeout_s)
    try:
        await client.models.list()
    except openai.APITimeoutError as error:
        raise LLMEndpointError(
            f"LLM endpoint {base_url} did not answer within {timeout_s:g} s"
        ) from error
    except openai.APIConnectionError as error:
        raise LLMEndpointError(
            f"cannot reach LLM endpoint {base_url}: {error.__cause__ or error}. "
            "Is the server running and the URL right (it usually ends in /v1)?"
        ) from error
    except openai.AuthenticationError as error:
        raise LLMEndpointError(
            f"LLM endpoint {base_url} rejected the API key (HTTP 401)"
        ) from error
    except openai.APIStatusError as error:
        raise LLMEndpointError(
            f"LLM endpoint {base_url} answered HTTP {error.status_code} to GET /models"
        ) from error
    finally:
        await client.close()


def build_messages(
    system_prompt: str,
    user_text: str,
    history: Sequence[ChatCompletionMessageParam] = (),
) -> list[ChatCompletionMessageParam]:
    """System prompt, earlier turns, then the new user utterance."""
    if not user_text.strip():
        raise ValueError("user_text must not be empty")
    return [
        {"role": "system", "content": system_prompt},
        *history,
        {"role": "user", "content": user_text},
    ]


@dataclass
class ReplyTiming:
    """Wall-clock marks of one streamed reply, in seconds since the request was sent."""

    first_token_s: float | None = None
    total_s: float = 0.0
    chunks: int = 0
    completion_tokens: int | None = None
    text_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The full reply."""
        return "".join(self.text_parts)


async def stream_reply(
    client: openai.AsyncOpenAI,
    *,
    model: str,
    messages: Sequence[ChatCompletionMessageParam],
    max_tokens: int,
    temperature: float,
    timing: ReplyTiming | None = None,
) -> AsyncIterator[str]:
    """Yield the reply's text deltas as they stream; fill `timing` if given."""
    started = time.perf_counter()
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=list(messages),
            max_tokens=max_tokens,
            temperature=temperature,
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            if chunk.usage is not None and timing is not None:
                timing.completion_tokens = chunk.usage.completion_tokens
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta.content
            if not delta:
                continue
            if timing is not None:
                if timing.first_token_s is None:
                    timing.first_token_s = time.perf_counter() - started
                timing.chunks += 1
                timing.text_parts.append(delta)
            yield delta
    except openai.APIConnectionError as error:
        raise LLMEndpointError(f"lost the LLM endpoint mid-reply: {error}") from error
    except openai.APIStatusError as error:
        raise LLMEndpointError(
            f"LLM endpoint answered HTTP {error.status_code}: {error.message}"
        ) from error
    finally:
        if timing is not None:
            timing.total_s = time.perf_counter() - started


async def complete_reply(
    client: openai.AsyncOpenAI,
    *,
    model: str,
    messages: Sequence[ChatCompletionMessageParam],
    max_tokens: int,
    temperature: float,
) -> str:
    """The whole streamed reply as one string (text-only use: CLI, tests)."""
    parts = [
        delta
        async for delta in stream_reply(
            client,
            model=model,
            messages=messages,
            max_tokens=max_tokens,
            temperature=temperature,
        )
    ]
    return "".join(parts).strip()


async def warm_up(client: openai.AsyncOpenAI, *, model: str, system_prompt: str) -> float:
    """Evaluate the system prompt once so the first visitor does not pay for it.

    llama.cpp keeps the KV cache of the last prompt and reuses its longest common
    prefix; a one-token request on the system prompt therefore moves several
    seconds of prompt processing (persona + knowledge, ~600 tokens on 2 cores) from
    the first answer to start-up. Returns the seconds it took.
    """
    return await warm_up_notes(client, model=model, system_prompt=system_prompt, notes=[""])


async def warm_up_notes(client: openai.AsyncOpenAI, *, model: str, system_prompt: str,
                        notes: Sequence[str]) -> float:
    """Evaluate the system prompt + each note that may open a user message, once each.

    With the server's prompt-state cache (`EmbeddedLLMServer(prompt_cache_mb=...)`)
    llama.cpp saves the state after every request and restores the longest saved
    prefix of a new one, so a visitor's question behind a warmed note ("Store fact:
    ...") reads only the question (agent/answers/routing.py). Without the cache
    only the last note stays warm. Returns the seconds it took.
    """
    started = time.perf_counter()
    try:
        for note in notes:
            await client.chat.completions.create(
                model=model,
                messages=build_messages(system_prompt, f"{note}Hello"),
                max_tokens=1,
                temperature=0.0,
            )
    except openai.APIConnectionError as error:
        raise LLMEndpointError(f"cannot reach the LLM to warm it up: {error}") from error
    except openai.APIStatusError as error:
        raise LLMEndpointError(
            f"LLM endpoint answered HTTP {error.status_code} while warming up"
        ) from error
    return time.perf_counter() - started


async def prefill(client: openai.AsyncOpenAI, *, model: str,
                  messages: Sequence[ChatCompletionMessageParam]) -> float:
    """Have the server read `messages` now, with no reply (one token, discarded).

    Replies the LLM did not write (agent/answers/routing.py's rule answers) sit in
    the history the next request sends, and llama.cpp reads them on that turn: after
    three rule replies in a row the next first token took 1.8 s instead of 0.3 s
    (docs/LLM_CHOICE.md). Read while the reply is spoken, they are a cached prefix by
    the time the visitor asks again. Returns the seconds it took."""
    started = time.perf_counter()
    await client.chat.completions.create(model=model, messages=list(messages), max_tokens=1,
                                         temperature=0.0)
    return time.perf_counter() - started
