"""Speech to text in the pipeline: pipecat's whisper service on the shared model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger
from pipecat.frames.frames import Frame, TranscriptionFrame
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transcriptions.language import Language

from pipelines.speech.models import GreedyWhisper, SpeechModels
from pipelines.speech.transcript_confidence import WhisperConfidence, collect_segments
from pipelines.speech.whisper_alternatives import collect_alternatives, single_window
from pipelines.wire.frames import NoWordsFrame


@dataclass
class NoWordsCounter:
    """Sounds the VAD took for speech but whisper found no words in (laughs, coughs,
    breaths, a door), counted for the operator (`GET /healthz`, `no_words_sounds`).

    They are not errors and the visitor is told nothing: a laugh over a reply
    lets the reply play on. A count that climbs fast still tells the operator that
    the room is noisy or the VAD too eager.
    """

    sounds: int = 0
    secs: float = 0.0

    def add(self, secs: float) -> None:
        """Count one sound of `secs` seconds."""
        self.sounds += 1
        self.secs += secs


#: Every session's no-word sounds since the process started (one server a process).
NO_WORDS = NoWordsCounter()


class BundledWhisperSTTService(WhisperSTTService):
    """pipecat's segmented whisper service on a shared, already-loaded model.

    An utterance that decodes to nothing is a sound without words (a laugh, a
    cough): it is logged and counted (`NO_WORDS`), and a `NoWordsFrame` lets a
    reply paused for it play on; the client is sent nothing, since a visitor's
    laugh is not an error.
    """

    def __init__(self, *, models: SpeechModels, language: str = "en", prompt: str | None = None,
                 choose: Callable[[Sequence[tuple[str, float]]], str] | None = None,
                 **kwargs: Any) -> None:
        """Share `models.whisper`; `language` is a whisper code such as 'en'; `prompt`:
        text whisper reads before each utterance (`initial_prompt`), such as the
        knowledge file's names (agent/asr_vocabulary.py), so store words are heard as
        such; None: no prompt. `choose`: picks the transcript from whisper's hypotheses
        (text, score), best first (agent/answers/heard.py), run in a worker thread; None:
        whisper's best, as decoded."""
        self._shared_models = models
        self._choose = choose
        super().__init__(
            settings=WhisperSTTService.Settings(
                model="bundled",
                language=Language(language),
                no_speech_prob=models.asr.no_speech_prob,
                initial_prompt=prompt,
            ),
            **kwargs,
        )

    def _load(self) -> None:
        """Use the shared model instead of loading (or downloading) one."""
        models = self._shared_models
        self._model = GreedyWhisper(models.whisper, models.asr)  # type: ignore[assignment]

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        """Transcribe one utterance; an empty result is counted and signalled downstream.

        The transcript carries whisper's confidence in `result` (a
        `WhisperConfidence`): the barge-in verdict ignores failed decodes. With `choose`,
        the transcript of a one-window utterance is the hypothesis it picks.
        """
        produced = False
        segments = collect_segments()
        windows = collect_alternatives() if self._choose is not None else []
        async for frame in super().run_stt(audio):
            produced = True
            if isinstance(frame, TranscriptionFrame):
                frame.result = WhisperConfidence.of(segments)
                frame.text = await self._chosen(frame.text, single_window(windows))
            yield frame
        if not produced:
            secs = len(audio) / 2 / self.sample_rate
            NO_WORDS.add(secs)
            logger.info(f"{self}: a sound of {secs:.2f} s without words (laugh, cough, noise)")
            yield NoWordsFrame()  # a reply paused for this sound may play on

    async def _chosen(self, heard: str, hypotheses: Sequence[tuple[str, float]]) -> str:
        """`heard` (the transcript as pipecat made it), or the hypothesis `choose` picks
        when `heard` is whisper's best hypothesis; on a failure there, `heard`."""
        if self._choose is None or len(hypotheses) < 2 or hypotheses[0][0] != heard.strip():
            return heard
        try:
            chosen = await asyncio.to_thread(self._choose, hypotheses)
        except Exception as error:  # the transcript as heard: never lose the turn
            logger.warning(f"{self}: no choice among whisper's hypotheses: {error!r}")
            return heard
        if chosen == hypotheses[0][0]:
            return heard
        logger.info(f"{self}: heard {heard.strip()!r}, taken as {chosen!r} (the file answers it)")
        return chosen
