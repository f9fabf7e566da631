"""The LLM in the pipeline: pipecat's OpenAI service on the local endpoint, bounded,
asking an endpoint resolver before each turn (agent/llm_endpoints.py)."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import openai
from loguru import logger
from openai import AsyncOpenAI, AsyncStream, OpenAIError
from openai.types.chat import ChatCompletionChunk
from pipecat.frames.frames import LLMTextFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.openai.base_llm import OpenAILLMSettings
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.utils.types import assert_given

from agent.llm_client import make_client, prefill
from agent.llm_endpoints import ChatEndpoint, EndpointResolver, FixedEndpoint

#: Spoken when a turn's reply failed (the LLM went away before or while answering):
#: the visitor hears why nothing (more) comes and what to do, never silence. The
#: client also gets the `llm_unavailable` error event (docs/PROTOCOL.md).
APOLOGY = "Sorry, I lost my train of thought there. Could you ask me that again?"


def endpoint_failure(error: BaseException) -> bool:
    """Whether `error` says the endpoint failed (unreachable, reset mid-reply, timed
    out, a server error), not the request (a 4xx: another replica would refuse it too)."""
    if isinstance(error, openai.APIStatusError):
        return error.status_code >= 500
    return isinstance(error, openai.APIConnectionError | httpx.TransportError | TimeoutError)


class LocalOpenAILLMService(OpenAILLMService):
    """pipecat's OpenAI service with a bounded timeout, no silent retries, and an
    endpoint chosen per turn.

    The stock client retries twice with back-off and waits up to 10 minutes: a
    voice user would hear nothing for that long. Here a dead or slow endpoint
    fails within `timeout_s` and becomes an error event (pipelines/wire/event_observer.py) and a
    spoken `APOLOGY`.

    Before each turn the service asks `endpoints` where to send it (a fleet's LLM
    pool moves to a live replica after one dies) and reports a failed
    turn to it. A turn refused before any word of it was written (the replica is
    gone) is sent once more, to the endpoint the resolver then gives, if it is
    another one: the visitor never notices that failover.
    """

    def __init__(self, *, timeout_s: float = 15.0, endpoints: EndpointResolver | None = None,
                 apology: str = APOLOGY, **kwargs: Any) -> None:
        """`timeout_s` bounds connect + each read of the streamed reply; `endpoints`
        (default: `base_url` and the settings' model, fixed) chooses each turn's
        endpoint; `apology` is spoken after a failed turn ("" for none)."""
        self._timeout_s = timeout_s
        #: histories the server read ahead without replying (`prefill`)
        self.prefilled = 0
        #: turns whose reply failed (each got the apology and an error event)
        self.failed_turns = 0
        #: turns sent again to another endpoint after the first refused them
        self.resent_turns = 0
        self._apology = apology
        super().__init__(**kwargs)
        settings: OpenAILLMSettings = self._settings
        self._endpoints: EndpointResolver = endpoints or FixedEndpoint(ChatEndpoint(
            base_url=str(kwargs.get("base_url")), model=str(settings.model),
            api_key=str(kwargs.get("api_key"))))
        self._client_url: str | None = kwargs.get("base_url")
        self._turn_endpoint: ChatEndpoint | None = None
        self._turn_reported = False  # the turn's failure was already told to `endpoints`

    @property
    def endpoints(self) -> EndpointResolver:
        """Where each turn's endpoint comes from (its counters: failures, failovers)."""
        return self._endpoints

    async def _use(self, endpoint: ChatEndpoint) -> None:
        """Point the client at `endpoint` (a new client only when the URL changed)."""
        self._turn_endpoint = endpoint
        if endpoint.base_url == self._client_url:
            return
        old, self._client = self._client, self.create_client(api_key=endpoint.api_key,
                                                             base_url=endpoint.base_url)
        self._client_url = endpoint.base_url
        settings: OpenAILLMSettings = self._settings
        settings.model = endpoint.model
        with contextlib.suppress(Exception):
            await old.close()

    async def get_chat_completions(self, context: LLMContext) -> AsyncStream[ChatCompletionChunk]:
        """Open the reply's stream on this turn's endpoint; a refused connection is
        sent once more if the resolver then names another endpoint."""
        endpoint = await self._endpoints.endpoint()
        await self._use(endpoint)
        try:
            return await super().get_chat_completions(context)
        except openai.APIConnectionError as error:
            if isinstance(error, openai.APITimeoutError):
                raise  # a slow endpoint: waiting again would double the silence
            await self._endpoints.failed(endpoint, error)
            self._turn_reported = True
            other = await self._endpoints.endpoint()
            if other == endpoint:
                raise
            logger.info(f"{self}: {endpoint.base_url} refused the turn; sent to {other.base_url}")
            self.resent_turns += 1
            self._turn_reported = False
            await self._use(other)
            return await super().get_chat_completions(context)

    async def _process_context(self, context: LLMContext) -> None:
        """One turn's reply; on failure, report it, speak the apology, and let
        pipecat's handler turn the error into an error event."""
        self._turn_endpoint = None
        self._turn_reported = False
        try:
            await super()._process_context(context)
        except Exception as error:
            self.failed_turns += 1
            if self._turn_endpoint is not None:
                if not self._turn_reported and endpoint_failure(error):
                    await self._endpoints.failed(self._turn_endpoint, error)
            else:
                logger.warning(f"{self}: the turn found no LLM endpoint: {error!r}")
            if self._apology:
                # after any words already written: the visitor hears the reply stop
                # and why, and the assistant's history keeps what was said
                await self.push_frame(LLMTextFrame(f" {self._apology}"))
            raise

    async def prefill(self, context: LLMContext) -> None:
        """Have the server read `context` as this service would send it, without a reply
        (`agent.prefill`): the knowledge injector calls it after a reply the LLM did not
        write, so the next turn does not read that reply first. A failure is logged only:
        the next turn then reads it, as it would have."""
        settings: OpenAILLMSettings = self._settings
        adapter = self.get_llm_adapter()
        params = await adapter.get_llm_invocation_params(
            context, system_instruction=assert_given(settings.system_instruction),
            convert_developer_to_user=not self.supports_developer_role)
        try:
            seconds = await prefill(self._client, model=str(settings.model),
                                    messages=params["messages"])
        except (OpenAIError, TimeoutError) as error:
            logger.warning(f"{self}: prefill of the history failed: {error}")
            return
        self.prefilled += 1
        logger.debug(f"{self}: history read ahead in {seconds * 1000:.0f} ms")

    def create_client(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        default_headers: Any = None,
        **kwargs: Any,
    ) -> AsyncOpenAI:
        """The agent's client (`make_client`: no retries, the process's TLS context)
        with our timeout."""
        return make_client(base_url, api_key, timeout_s=self._timeout_s,
                           organization=organization, project=project,
                           default_headers=default_headers)
