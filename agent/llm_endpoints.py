"""Which LLM endpoint a turn goes to: one fixed URL, or a live replica of a pool.

Why: in the kiosk fleet the LLM is a pool of llama.cpp servers (fleet/llm_pool.py).
A machine that took one URL at start-up kept sending every turn to it after its
replica died, and every session on it answered `llm_unavailable` until a restart.
The LLM service now asks an `EndpointResolver` at the start of each turn and tells
it when a turn failed:

* `FixedEndpoint`: one configured URL (the embedded server of a single machine, or
  an external OpenAI-compatible endpoint: `[llm] base_url`). Nothing else to go to,
  so a failure is only counted: what it did before this module.
* `PoolEndpoint`: an endpoint handed out by a pool (`ask`: the fleet's Serve
  handle). It keeps the one it has while it works: the conversation's prompt
  prefix stays in that replica's KV cache, and a turn pays no round trip to the
  pool. After a failure it asks the pool again and takes an answer only once the
  server behind it answers `GET /models`, so a turn never goes to a replica the
  pool has not noticed is dead yet.

One resolver may be shared by every session of a machine (the fleet does): the
first session to see a replica die moves the others too, before their next turn.

Counters for a soak (failed turns per fault): `failures` (turns reported failed),
`failovers` (moves to another endpoint); each is also one log line
("LLM turn failed on ..." and "LLM failover: ... -> ...").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx
from loguru import logger

from agent.errors import LLMEndpointError
from agent.tls import shared_tls_context


@dataclass(frozen=True)
class ChatEndpoint:
    """An OpenAI-compatible endpoint: `base_url` ends in /v1."""

    base_url: str
    model: str
    api_key: str = "sk-no-key-required"


class EndpointResolver(Protocol):
    """What the LLM service asks before each turn, and tells after a failed one."""

    #: turns reported failed
    failures: int
    #: moves to another endpoint after a failure
    failovers: int

    @property
    def current(self) -> ChatEndpoint | None:
        """The endpoint the last turn was sent to (None before the first), for helpers
        that follow it without choosing (the turn-end reader)."""

    async def endpoint(self) -> ChatEndpoint:
        """The endpoint for the turn about to start.

        Raises:
            LLMEndpointError: no endpoint can be found.
        """

    async def failed(self, endpoint: ChatEndpoint, error: BaseException) -> None:
        """A turn sent to `endpoint` failed with `error` (refused, reset, timed out)."""


class FixedEndpoint:
    """Always the same endpoint: a failure is counted and logged, nothing else."""

    def __init__(self, endpoint: ChatEndpoint) -> None:
        self._endpoint = endpoint
        #: turns reported failed
        self.failures = 0
        #: always 0: there is nowhere else to go (kept so both resolvers read alike)
        self.failovers = 0

    @property
    def current(self) -> ChatEndpoint:
        """The one endpoint."""
        return self._endpoint

    async def endpoint(self) -> ChatEndpoint:
        """The one endpoint."""
        return self._endpoint

    async def failed(self, endpoint: ChatEndpoint, error: BaseException) -> None:
        """Count it; the next turn tries the same endpoint again."""
        self.failures += 1
        logger.warning(f"LLM turn failed on {endpoint.base_url}: {error!r}")


#: What a pool hands out: `{"base_url": ..., "model": ...}` (fleet/llm_pool.py's
#: `LLMReplica.endpoint`; other keys are ignored).
PoolAnswer = Mapping[str, str]


class PoolEndpoint:
    """A pool's endpoint, kept while it works, replaced by a live one after a failure.

    Args:
        ask: asks the pool for an endpoint (each call may land on another replica).
        api_key: sent to every endpoint of the pool.
        find_secs: how long a turn may wait for a live endpoint after a failure (a
            pool of one replica is being restarted: its model loads for seconds).
        probe_timeout_s: `GET /models` must answer within this to count as alive.
        retry_secs: pause between two asks that found no live endpoint.
        initial: the endpoint to start with (the one the machine warmed up), else
            the first turn asks the pool.
    """

    def __init__(self, ask: Callable[[], Awaitable[PoolAnswer]], *,
                 api_key: str = "sk-no-key-required", find_secs: float = 10.0,
                 probe_timeout_s: float = 1.0, retry_secs: float = 0.2,
                 initial: ChatEndpoint | None = None) -> None:
        if find_secs <= 0 or probe_timeout_s <= 0 or retry_secs < 0:
            raise ValueError("find_secs and probe_timeout_s must be positive, "
                             "retry_secs >= 0")
        self._ask = ask
        self._api_key = api_key
        self.find_secs = find_secs
        self.probe_timeout_s = probe_timeout_s
        self.retry_secs = retry_secs
        self._current: ChatEndpoint | None = initial
        self._last: ChatEndpoint | None = None  # the one before a failure, for the log
        self._lock = asyncio.Lock()
        #: turns reported failed
        self.failures = 0
        #: moves to another endpoint after a failure
        self.failovers = 0

    @property
    def current(self) -> ChatEndpoint | None:
        """The endpoint in use (None before the first turn and right after a failure)."""
        return self._current

    async def endpoint(self) -> ChatEndpoint:
        """The endpoint in use, or a live one from the pool (the first turn, or the
        first after a failure; concurrent turns wait for one search)."""
        current = self._current
        if current is not None:
            return current
        async with self._lock:
            if self._current is None:
                self._current = await self._find()
            return self._current

    async def failed(self, endpoint: ChatEndpoint, error: BaseException) -> None:
        """Drop `endpoint` if it is still the one in use: the next turn searches."""
        self.failures += 1
        logger.warning(f"LLM turn failed on {endpoint.base_url}: {error!r}; "
                       "the next turn asks the pool for a live endpoint")
        if self._current == endpoint:
            self._last, self._current = endpoint, None

    async def _find(self) -> ChatEndpoint:
        deadline = time.monotonic() + self.find_secs
        problems: list[str] = []
        async with httpx.AsyncClient(timeout=self.probe_timeout_s,
                                     verify=shared_tls_context()) as http:
            while True:
                try:
                    # bounded: a pool whose head is unreachable must not hold the turn
                    left = max(deadline - time.monotonic(), self.probe_timeout_s)
                    answer = await asyncio.wait_for(self._ask(), timeout=left)
                    candidate = ChatEndpoint(base_url=str(answer["base_url"]),
                                             model=str(answer["model"]), api_key=self._api_key)
                except Exception as error:  # the pool itself is briefly unreachable
                    problems.append(f"the pool: {error!r}"[:200])
                else:
                    problem = await self._probe(http, candidate)
                    if problem is None:
                        self._moved_to(candidate)
                        return candidate
                    problems.append(problem)
                if time.monotonic() + self.retry_secs >= deadline:
                    break
                await asyncio.sleep(self.retry_secs)
        raise LLMEndpointError(f"no live LLM endpoint in the pool within {self.find_secs:g} s "
                               f"({len(problems)} tries; last: {problems[-1]})")

    async def _probe(self, http: httpx.AsyncClient, endpoint: ChatEndpoint) -> str | None:
        """None if `endpoint` answers `GET /models`, else why not."""
        url = f"{endpoint.base_url.rstrip('/')}/models"
        try:
            response = await http.get(url, headers={"Authorization": f"Bearer {self._api_key}"})
        except httpx.HTTPError as error:
            return f"{url}: {error!r}"[:200]
        return None if response.status_code == 200 else f"{url}: HTTP {response.status_code}"

    def _moved_to(self, endpoint: ChatEndpoint) -> None:
        last, self._last = self._last, None
        if last is None:
            logger.info(f"LLM endpoint: {endpoint.base_url}")
        elif last != endpoint:
            self.failovers += 1
            logger.warning(f"LLM failover: {last.base_url} -> {endpoint.base_url}")
        else:
            logger.info(f"LLM endpoint {endpoint.base_url} answers again: kept")
