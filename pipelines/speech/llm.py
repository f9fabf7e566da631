"""The LLM in the pipeline: pipecat's OpenAI service on the local endpoint, bounded."""

from __future__ import annotations

from typing import Any

from loguru import logger
from openai import AsyncOpenAI, OpenAIError
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.openai.base_llm import OpenAILLMSettings
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.utils.types import assert_given

from agent.llm_client import prefill


class LocalOpenAILLMService(OpenAILLMService):
    """pipecat's OpenAI service with a bounded timeout and no silent retries.

    The stock client retries twice with back-off and waits up to 10 minutes: a
    voice user would hear nothing for that long. Here a dead or slow endpoint
    fails within `timeout_s` and becomes an error event (see events.py).
    """

    def __init__(self, *, timeout_s: float = 15.0, **kwargs: Any) -> None:
        """`timeout_s` bounds connect + each read of the streamed reply."""
        self._timeout_s = timeout_s
        #: histories the server read ahead without replying (`prefill`)
        self.prefilled = 0
        super().__init__(**kwargs)

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
        """An AsyncOpenAI client with `max_retries=0` and our timeout."""
        return AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            organization=organization,
            project=project,
            default_headers=default_headers,
            timeout=self._timeout_s,
            max_retries=0,
        )
