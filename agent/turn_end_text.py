"""Has the visitor finished? The bundled LLM's own reading of their words so far.

Smart-turn hears the end of a turn in the audio; on 31 real paused utterances it
called 9 mid-utterance pauses "complete" with confidence (docs/LATENCY.md), mostly
after a sentence that could end there ("So we had a long problem." | "about not
finding out why"). LiveKit's answer is a text model reading the transcript; ours
needs no new weights: the chat model that will answer already knows how likely
its user message is to end after these words. That is the probability of
`<|im_end|>` as the next token after the visitor's text in the chat template
(ChatML, as both bundled models use), read with the persona and the history in
front of it, so llama.cpp's cache of that prefix makes a reading cost only the
visitor's new tokens, which the reply has to read anyway.

Two readings, one request (agent/llama_cpp_server.py, `/extras/next-token`):
- `p_end`: P(`<|im_end|>` | the text as whisper wrote it): the message ends here.
  High after a question ("Where are the toilets?" 0.90-0.99); low after a
  statement a speaker often goes on from ("Well, good luck with that." 0.002).
- `p_close`: P(a sentence ends | the text without whisper's final mark): "." "?"
  "!" or the end of the message next. Whisper closes fragments with a period
  ("And the.", "I want to.", "five years."), and `p_end` reads "And the." as a
  curt but finished message (0.34); without the mark the model sees the
  sentence is open (p_close 0.000).

The verdict: `unfinished` when p_close < `unfinished_below` (the words cannot end
a sentence), `done` when p_end >= `done_above`, else `unsure`. A transcript whisper
closed with "?" is never `unfinished`: it heard a question, and a question asked
is a sentence that ended ("Could you tell me where the shoe department is" goes on
with " located" often enough to bring its p_close down to 0.06). Measured on real
transcripts in tests/agent/test_turn_end_text.py; what each costs a turn, in
docs/LATENCY.md ("A turn end that reads meaning").
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import httpx

from agent.tls import shared_tls_context

if TYPE_CHECKING:
    from agent.llm_endpoints import EndpointResolver

#: the end of a ChatML message; both bundled models (Qwen2.5, SmolLM2) use ChatML
END_OF_MESSAGE = "<|im_end|>"
#: next tokens that close a sentence (each one token of Qwen's and SmolLM2's vocabularies)
CLOSING_TOKENS = (END_OF_MESSAGE, ".", "?", "!", ".\n", "?\n", "!\n", ".\n\n", "?\n\n")
#: whisper's closing mark(s) at the end of a transcript, with closing quotes after them
_FINAL_MARK = re.compile(r"[.?!\u2026]+[\"'\u201d\u2019)]*$")

TurnEndState = Literal["done", "unsure", "unfinished"]


@dataclass(frozen=True)
class TurnEndThresholds:
    """Where the readings split into verdicts; fitted on no real clip (module doc)."""

    #: p_end at or above this: the message ends here ("Where are the toilets?" >= 0.9)
    done_above: float = 0.5
    #: p_close below this: the sentence is open ("and the", "I want to": < 0.001)
    unfinished_below: float = 0.02


@dataclass(frozen=True)
class TurnEndReading:
    """What the LLM made of one transcript, and what reading it cost."""

    text: str
    p_end: float
    p_close: float
    state: TurnEndState
    #: wall time of the request, and the prompt tokens the server had not cached
    seconds: float
    new_tokens: int


def split_final_mark(text: str) -> tuple[str, str]:
    """The text without whisper's closing mark, and the mark ("" if none)."""
    text = " ".join(text.split())
    found = _FINAL_MARK.search(text)
    if found is None:
        return text, ""
    return text[: found.start()].rstrip(), found.group(0)


def chatml_prompt(messages: Sequence[Mapping[str, Any]], user_text: str) -> str:
    """The chat template up to the visitor's words, their message left open.

    The same characters the server's template writes for a reply's prompt, so the
    reply finds this whole prefix in llama.cpp's cache. Non-text contents are skipped."""
    parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages
             if isinstance(m.get("content"), str) and m.get("role")]
    return "".join(parts) + f"<|im_start|>user\n{user_text}"


def verdict(p_end: float, p_close: float, *, question: bool = False,
            thresholds: TurnEndThresholds = TurnEndThresholds()) -> TurnEndState:
    """The three-way verdict from the two readings; `question`: whisper closed the
    text with "?" (module doc)."""
    if p_close < thresholds.unfinished_below and not question:
        return "unfinished"
    return "done" if p_end >= thresholds.done_above else "unsure"


class TurnEndReader:
    """Reads transcripts against one llama.cpp server (agent/llama_cpp_server.py).

    One instance per session; `aclose()` closes its HTTP connection pool."""

    def __init__(self, *, base_url: str, api_key: str = "sk-no-key-required",
                 timeout_s: float = 5.0,
                 thresholds: TurnEndThresholds = TurnEndThresholds(),
                 follow: EndpointResolver | None = None) -> None:
        """`base_url`: the OpenAI base URL of the embedded server (its /v1 is dropped:
        the route is one of the server's extras); `timeout_s`: per request; `follow`:
        read on the endpoint the replies go to now (a fleet's pool moves after a
        replica dies), `base_url` until it has one."""
        self._base_url = base_url
        self._follow = follow
        self._client = httpx.AsyncClient(timeout=timeout_s, verify=shared_tls_context(),
                                         headers={"Authorization": f"Bearer {api_key}"})
        self.thresholds = thresholds

    @property
    def _url(self) -> str:
        current = self._follow.current if self._follow is not None else None
        base_url = current.base_url if current is not None else self._base_url
        return f"{base_url.rstrip('/').removesuffix('/v1')}/extras/next-token"

    async def read(self, text: str, messages: Sequence[Mapping[str, Any]] = ()
                   ) -> TurnEndReading:
        """Read `text` as the open user message after `messages` (system prompt and
        history, as the reply will send them). Raises `httpx.HTTPError` on failure."""
        started = time.perf_counter()
        stripped, mark = split_final_mark(text)
        prompt = chatml_prompt(messages, stripped)
        prompts = [prompt, prompt + mark] if mark else [prompt]
        response = await self._client.post(self._url, json={
            "prompts": prompts, "tokens": list(CLOSING_TOKENS), "top": 0})
        response.raise_for_status()
        results = response.json()["results"]
        p_close = min(1.0, sum(math.exp(v) for v in results[0]["logprobs"].values()))
        p_end = math.exp(results[-1]["logprobs"][END_OF_MESSAGE])
        new_tokens = sum(r["prompt_tokens"] - r["cached"] for r in results)
        return TurnEndReading(text=text, p_end=p_end, p_close=p_close,
                              state=verdict(p_end, p_close, question=mark.startswith("?"),
                                            thresholds=self.thresholds),
                              seconds=time.perf_counter() - started, new_tokens=new_tokens)

    async def aclose(self) -> None:
        """Close the connection pool (safe to call twice)."""
        await self._client.aclose()
