"""Text to speech in the pipeline: piper on the shared voice, a sentence at a time.

A reply's first audio waits for piper to synthesise its whole first chunk (piper's
VITS voice renders a sentence in one pass; it cannot stream inside one). An answer
said from the knowledge file comes as one checked sentence ("No, gift cards do not
expire."), so a short opening clause of the reply's first chunk is synthesised on its
own first ("No,"), and the rest while it plays (`opening_clause`); the comma's pause is
piper's either way (docs/LATENCY.md measures both). The split is made here, after the fact guard
(pipelines/speech/fact_check.py) has passed the whole sentence, so nothing is cut
once its audio started.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from loguru import logger
from pipecat.frames.frames import ErrorFrame, Frame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService

from pipelines.speech.models import SpeechModels

#: a clause mark with the space after it ("9,000" and "9:30" are no clause ends)
_CLAUSE_END = re.compile(r"[,;:](?=\s)")


def opening_clause(text: str, *, max_words: int = 4,
                   min_rest_words: int = 2) -> tuple[str, str] | None:
    """(`text`'s opening clause, the rest) when it opens with a short clause ending at
    , ; or : ("No," | "gift cards do not expire."), else None.

    `max_words`: the longest opening clause split off (a long one would take as long
    to synthesise as the chunk); `min_rest_words`: the rest must have this many words,
    so a chunk that merely ends at a mark ("Monday to Saturday,") stays whole.
    """
    match = _CLAUSE_END.search(text)
    if match is None:
        return None
    head, rest = text[:match.end()].strip(), text[match.end():].strip()
    if not 1 <= len(head.split()) <= max_words or len(rest.split()) < min_rest_words:
        return None
    return head, rest


class SharedPiperTTSService(TTSService):
    """Piper TTS on a shared `PiperVoice` (pipecat's own service loads/downloads per instance).

    Piper yields one audio chunk per sentence; each chunk is streamed as soon as
    it is synthesized so the first sentence plays while the next is computed. The
    first text of each reply (pipecat's turn context) has its opening clause
    synthesised first (`opening_clause`, the module doc).
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
        self._last_context_id: str | None = None  # the reply whose first text was seen

    def can_generate_metrics(self) -> bool:
        """TTFB and usage metrics feed the latency benchmark."""
        return True

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        """Synthesize `text` sentence by sentence off the event loop (a reply's first
        text: its opening clause first)."""
        first_of_reply, self._last_context_id = context_id != self._last_context_id, context_id
        split = opening_clause(text) if first_of_reply else None
        pieces = list(split) if split is not None else [text]
        chunks = (chunk for piece in pieces for chunk in self._voice.synthesize(piece))

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
