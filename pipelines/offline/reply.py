"""The avatar's answer to the user's utterance: what whisper heard, what the LLM (or a
given text) answers, and piper's speech of it, as the voice pipeline would make them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pipelines.settings import Settings
    from pipelines.speech.models import SpeechModels


@dataclass(frozen=True)
class Reply:
    """What the avatar answers: the words it heard and said, and the speech."""

    transcript: str
    text: str
    pcm: np.ndarray  # int16 mono at sample_rate
    sample_rate: int
    source: str  # "--reply" or the LLM that wrote it

    @property
    def secs(self) -> float:
        """Length of the spoken reply."""
        return len(self.pcm) / self.sample_rate


def transcribe(models: SpeechModels, audio_16k: np.ndarray, language: str = "en") -> str:
    """The bundled whisper's greedy transcript of one utterance (as the pipeline decodes)."""
    segments, _info = models.whisper.transcribe(
        audio_16k.astype(np.float32), language=language, beam_size=models.asr.beam_size,
        temperature=0.0, condition_on_previous_text=False, without_timestamps=True,
        vad_filter=False)
    kept = [s.text for s in segments
            if s.compression_ratio <= models.asr.max_compression_ratio]
    return " ".join(text.strip() for text in kept).strip()


def synthesize(models: SpeechModels, text: str) -> np.ndarray:
    """Piper speech for `text`: int16 mono at `models.tts_sample_rate`."""
    chunks = [chunk.audio_int16_array.reshape(-1) for chunk in models.piper.synthesize(text)]
    if not chunks:
        raise ValueError(f"piper produced no audio for {text!r}")
    return np.concatenate(chunks).astype(np.int16)


def ask_llm(settings: Settings, transcript: str) -> tuple[str, str]:
    """The LLM's spoken-style answer to `transcript`; returns (text, which LLM answered).

    The endpoint is the settings' one, or the embedded llama.cpp server started
    for this call and stopped after it. The system prompt is the voice
    pipeline's (persona + knowledge + spoken-style rules).

    Raises:
        LLMServerError: the embedded server did not start (its log tail is in the message).
        LLMEndpointError: the endpoint is down, refused us, or answered nothing; the
            message names its URL.
    """
    from agent.errors import LLMEndpointError
    from agent.llm_client import build_messages, check_llm_endpoint, complete_reply, make_client
    from agent.llm_server import resolve_llm_endpoint
    from agent.persona import build_system_prompt
    from pipelines.voice_pipeline import spoken_system_prompt

    system_prompt = spoken_system_prompt(build_system_prompt(settings.persona))
    endpoint = resolve_llm_endpoint(settings.llm, video=settings.avatar.video)
    where = (f"the embedded LLM ({endpoint.model}) at {endpoint.base_url}"
             if endpoint.server is not None else
             f"LLM endpoint {endpoint.base_url} (model {endpoint.model or '?'})")

    async def answer() -> str:
        await check_llm_endpoint(endpoint.base_url, endpoint.api_key)
        client = make_client(endpoint.base_url, endpoint.api_key,
                             timeout_s=settings.llm.request_timeout_s)
        try:
            return await complete_reply(
                client, model=endpoint.model, messages=build_messages(system_prompt, transcript),
                max_tokens=settings.llm.max_tokens, temperature=settings.llm.temperature)
        except LLMEndpointError as error:
            raise LLMEndpointError(f"{where}: {error}") from error
        finally:
            await client.close()

    try:
        text = asyncio.run(answer())
    finally:
        if endpoint.server is not None:
            endpoint.server.stop()
    if not text:
        raise LLMEndpointError(f"{where} returned an empty reply to {transcript!r}")
    return text, where
