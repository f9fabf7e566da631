"""Text to speech in the pipeline: piper on the shared voice, a sentence at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from loguru import logger
from pipecat.frames.frames import ErrorFrame, Frame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService

from pipelines.speech.models import SpeechModels


class SharedPiperTTSService(TTSService):
    """Piper TTS on a shared `PiperVoice` (pipecat's own service loads/downloads per instance).

    Piper yields one audio chunk per sentence; each chunk is streamed as soon as
    it is synthesized so the first sentence plays while the next is computed.
    """

    def __init__(self, *, models: SpeechModels, **kwargs: Any) -> None:
        """Share `models.piper`; kwargs go to pipecat's `TTSService`."""
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            settings=TTSSettings(model=None, voice="bundled", language=None),
            **kwargs,
        )
        self._voice = models.piper

    def can_generate_metrics(self) -> bool:
        """TTFB and usage metrics feed the latency benchmark."""
        return True

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        """Synthesize `text` sentence by sentence off the event loop."""
        chunks = iter(self._voice.synthesize(text))

        def next_chunk() -> bytes | None:
            item = next(chunks, None)
            return None if item is None else item.audio_int16_bytes

        async def audio() -> AsyncIterator[bytes]:
            while (pcm := await asyncio.to_thread(next_chunk)) is not None:
                yield pcm

        try:
            await self.start_tts_usage_metrics(text)
            async for frame in self._stream_audio_frames_from_iterator(
                audio(), in_sample_rate=self._voice.config.sample_rate, context_id=context_id
            ):
                await self.stop_ttfb_metrics()
                yield frame
        except Exception as error:  # a bad sentence must not end the session
            logger.bind(transcript=True).exception(f"{self}: piper failed on {text!r}")
            yield ErrorFrame(error=f"TTS failed: {error}")
        finally:
            await self.stop_ttfb_metrics()
