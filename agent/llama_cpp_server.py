"""The embedded server's entry point: llama-cpp-python's server plus one route.

`python -m agent.llama_cpp_server <the flags of python -m llama_cpp.server>`.

Why a route of our own: the end of a visitor's turn is read from the LLM's
probability of its end-of-message token after their words (agent/turn_end_text.py).
llama-cpp-python returns log-probabilities only when the model keeps the logits of
*every* position (`logits_all`), which costs n_ctx x vocab floats (1.2 GB for Qwen's
151,936 tokens at n_ctx 2048) and an output-layer pass per prompt token. Only the
last position's logits are needed, and llama.cpp computes them anyway.

`POST /extras/next-token` with `{"prompts": [str, ...], "tokens": [str, ...], "top": int}`
evaluates each prompt in turn on the live model, reusing the longest prefix already
in its KV cache (the persona and history a reply just read, or the prompt before),
and answers, for each, the log-probability of each of `tokens` (each one token of
the vocabulary, special tokens allowed) as the next token, plus the `top` likeliest.
Prompts that extend each other cost only their new tokens: "what they said" and
"what they said." in one request read the mark alone the second time. The route
holds the server's request lock, so it queues with completions like any request;
the KV state it leaves behind is the last prompt, which is the prefix of the reply
a finished turn asks for next.

And one fix: chat messages in OpenAI's `developer` role are read as `system`
messages (`DeveloperRoleAsSystem`). pipecat writes its own notes to the LLM in that
role (after a turn without words that interrupted the bot, for one), and
llama-cpp-python's server refuses the whole request with a 500, so a stock
`OpenAILLMService` pointed at this server lost that reply.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from fastapi import Depends, HTTPException
from llama_cpp.llama_cache import LlamaRAMCache
from llama_cpp.server import app as server_app
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class NextTokenRequest(BaseModel):
    """What to score: raw prompts (the chat template already applied) and tokens."""

    prompts: list[str] = Field(min_length=1, max_length=8)
    tokens: list[str] = Field(default_factory=list, max_length=64)
    top: int = Field(default=0, ge=0, le=64)
    model: str | None = None


class NextToken(BaseModel):
    """Natural-log probabilities of the token after one prompt; `cached` of its
    `prompt_tokens` were already in the KV cache."""

    logprobs: dict[str, float]
    top: list[tuple[str, float]]
    prompt_tokens: int
    cached: int


class NextTokenResponse(BaseModel):
    """One `NextToken` per prompt, in order."""

    results: list[NextToken]


def next_token_logprobs(llama: Any, request: NextTokenRequest) -> NextTokenResponse:
    """Each prompt in turn (see the module docstring)."""
    ids: dict[str, int] = {}
    for text in request.tokens:
        found = llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if len(found) != 1:
            raise HTTPException(status_code=400, detail=f"{text!r} is not one token")
        ids[text] = found[0]
    return NextTokenResponse(results=[_next_token(llama, prompt, ids, request.top)
                                      for prompt in request.prompts])


def _next_token(llama: Any, prompt: str, ids: dict[str, int], top: int) -> NextToken:
    """Evaluate the prompt past the cached prefix; log-softmax of the last position."""
    tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
    if not tokens or len(tokens) >= llama.n_ctx():
        raise HTTPException(status_code=400, detail="empty prompt, or longer than the context")
    # the longest prefix llama.cpp still holds; at least the last token is evaluated,
    # since only an evaluated position has logits
    cached = min(llama.longest_token_prefix(llama._input_ids.tolist(), tokens), len(tokens) - 1)
    llama.n_tokens = cached
    llama.eval(tokens[cached:])
    row = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(llama.n_vocab(),))
    logits = row.astype(np.float64)
    logprobs = logits - (logits.max() + np.log(np.exp(logits - logits.max()).sum()))
    best = np.argsort(-logprobs)[:top]
    return NextToken(
        logprobs={text: float(logprobs[i]) for text, i in ids.items()},
        top=[(llama.detokenize([int(i)], special=True).decode("utf-8", "replace"),
              float(logprobs[i])) for i in best],
        prompt_tokens=len(tokens), cached=cached)


#: the server's own dependency: its request lock, held for the whole request
_LLAMA = Depends(server_app.get_llama_proxy)


@server_app.router.post("/extras/next-token", tags=["Extras"],
                        dependencies=[Depends(server_app.authenticate)])
async def next_token(request: NextTokenRequest, llama_proxy: Any = _LLAMA) -> NextTokenResponse:
    """The route (see the module docstring); llama.cpp's C calls run off the loop."""
    llama = llama_proxy(request.model)
    return await run_in_threadpool(next_token_logprobs, llama, request)


def developer_as_system(body: bytes) -> bytes:
    """A chat request's JSON with every `developer` message in the `system` role
    (unchanged bytes when there is none, or when it is not a chat request)."""
    try:
        request = json.loads(body)
    except ValueError:
        return body
    messages = request.get("messages") if isinstance(request, dict) else None
    if not isinstance(messages, list):
        return body
    changed = False
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "developer":
            message["role"] = "system"
            changed = True
    return json.dumps(request).encode("utf-8") if changed else body


class DeveloperRoleAsSystem:
    """ASGI middleware: chat completion requests get `developer_as_system` applied
    to their body before llama-cpp-python's server validates it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] == "http" and scope["method"] == "POST"
                and scope["path"].endswith("/chat/completions")):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left before its body came
                await self.app(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = developer_as_system(b"".join(chunks))
        headers = [(name, value) for name, value in scope["headers"]
                   if name.lower() != b"content-length"]
        scope = dict(scope, headers=[*headers, (b"content-length", str(len(body)).encode())])
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # the disconnect a streamed reply listens for
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class MeasuredRAMCache(LlamaRAMCache):
    """llama-cpp-python's RAM cache of prompt states, with its cap counting what each
    state really holds.

    Why: the stock cache sums only `llama_state_size`, the KV bytes (~8.2 MB a state
    here), but every state also holds a copy of the model's logits buffer (`scores`:
    n_batch x vocab floats, 19 MB at n_batch 32 with Qwen's 151,936 tokens) and its
    token ids. A "256 MB" cache therefore kept ~30 states and ~830 MB, and the LLM
    server's resident memory grew by +1.45 GB before it levelled (docs/LLM_CHOICE.md):
    the cap in the settings did not bound the memory. Counted in full, the cache is
    flat once full at the configured cap (`llm.prompt_cache_mb`).
    """

    @staticmethod
    def state_bytes(state: Any) -> int:
        """What one saved state keeps alive: KV, logits copy, token ids."""
        return (int(state.llama_state_size) + int(np.asarray(state.scores).nbytes)
                + int(np.asarray(state.input_ids).nbytes))

    @property
    def cache_size(self) -> int:
        return sum(self.state_bytes(state) for state in self.cache_state.values())


def measured_cache(proxy: Any) -> None:
    """Swap the loaded model's stock RAM cache for `MeasuredRAMCache` of the same cap
    (nothing is cached yet at start-up; a disk cache or none is left alone)."""
    model = getattr(proxy, "_current_model", None)
    cache = getattr(model, "cache", None)
    if model is not None and type(cache) is LlamaRAMCache:
        model.set_cache(MeasuredRAMCache(capacity_bytes=cache.capacity_bytes))


def create_app(settings: Any = None, server_settings: Any = None,
               model_settings: Any = None) -> Any:
    """llama-cpp-python's app (same arguments) with `DeveloperRoleAsSystem` in front of
    it and its prompt-state cache measured in full (`MeasuredRAMCache`)."""
    app = _create_stock_app(settings, server_settings, model_settings)
    app.add_middleware(DeveloperRoleAsSystem)
    measured_cache(server_app._llama_proxy)
    return app


_create_stock_app = server_app.create_app


if __name__ == "__main__":
    import llama_cpp.server.__main__ as stock_main

    stock_main.create_app = create_app  # its main() builds the app with this name
    stock_main.main()
