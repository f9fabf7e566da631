"""Speech to text in the pipeline: pipecat's whisper service on the shared model."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from faster_whisper import WhisperModel
from loguru import logger
from pipecat.frames.frames import Frame, TranscriptionFrame
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transcriptions.language import Language

from pipelines.speech.models import GreedyWhisper, SpeechModels
from pipelines.speech.transcript_confidence import WhisperConfidence, collect_segments
from pipelines.speech.whisper_abandon import WhisperRunAbandoned
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


@dataclass(frozen=True)
class SecondOpinion:
    """A larger whisper that hears an utterance again where the first hearing gets no
    answer from the file's rules (agent/answers/heard.py decides both questions below). It
    hears slower than tiny.en (~630 ms against ~300 ms an utterance on two cores), so only
    those turns pay it (docs/ANSWERS.md, sections 26-27)."""

    #: the larger model (`SpeechModels.second_whisper`)
    whisper: WhisperModel
    #: whether the first hearing (text) should be heard again
    wanted: Callable[[str], bool]
    #: the text to take from the larger model's hypotheses (text, score; best first),
    #: or None to keep the first hearing
    taken: Callable[[Sequence[tuple[str, float]]], str | None]


class BundledWhisperSTTService(WhisperSTTService):
    """pipecat's segmented whisper service on a shared, already-loaded model.

    An utterance that decodes to nothing is a sound without words (a laugh, a
    cough): it is logged and counted (`NO_WORDS`), and a `NoWordsFrame` lets a
    reply paused for it play on; the client is sent nothing, since a visitor's
    laugh is not an error.
    """

    def __init__(self, *, models: SpeechModels, language: str = "en", prompt: str | None = None,
                 choose: Callable[[Sequence[tuple[str, float]]], str] | None = None,
                 second: SecondOpinion | None = None, **kwargs: Any) -> None:
        """Share `models.whisper`; `language` is a whisper code such as 'en'; `prompt`:
        text whisper reads before each utterance (`initial_prompt`), such as the
        knowledge file's names (agent/asr_vocabulary.py), so store words are heard as
        such; None: no prompt. `choose`: picks the transcript from whisper's hypotheses
        (text, score), best first (agent/answers/heard.py), run in a worker thread; None:
        whisper's best, as decoded. `second`: a larger whisper asked again where the
        file's rules do not answer the (chosen) hearing; None: never asked."""
        self._shared_models = models
        self._choose = choose
        self._second = second
        self._second_decoder = (GreedyWhisper(second.whisper, models.asr)
                                if second is not None else None)
        self._second_options: dict[str, Any] = {"language": language, "initial_prompt": prompt}
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
                frame.text = await self._second_hearing(frame.text, audio)
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

    async def _second_hearing(self, heard: str, audio: bytes) -> str:
        """`heard`, or the larger whisper's hearing of the same `audio` where the file's
        rules answer it and not `heard` (`SecondOpinion`); on a failure there, `heard`. Run
        in a worker thread, which sees this run's abandon event (speech/whisper_abandon.py):
        a guess the visitor talked past stops there too."""
        if self._second is None:
            return heard
        try:
            other = await asyncio.to_thread(self._hear_again, heard, audio)
        except WhisperRunAbandoned:
            raise
        except Exception as error:  # the first hearing: never lose the turn
            logger.warning(f"{self}: no second opinion: {error!r}")
            return heard
        if other is None:
            return heard
        logger.info(f"{self}: heard {heard.strip()!r}, taken as {other!r} (the larger whisper)")
        return other

    def _hear_again(self, heard: str, audio: bytes) -> str | None:
        """The larger whisper's hearing to take, or None (see `_second_hearing`)."""
        second, decoder = self._second, self._second_decoder
        if second is None or decoder is None or not second.wanted(heard.strip()):
            return None
        started = time.perf_counter()
        windows = collect_alternatives()
        samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768.0
        segments, _ = decoder.transcribe(samples, **self._second_options)
        limit = self._shared_models.asr.no_speech_prob
        text = " ".join(s.text.strip() for s in segments if s.no_speech_prob < limit).strip()
        logger.info(f"{self}: heard again {heard.strip()!r} as {text!r} by the larger whisper "
                    f"in {(time.perf_counter() - started) * 1000:.0f} ms")
        hypotheses: Sequence[tuple[str, float]] = single_window(windows)
        if not hypotheses or hypotheses[0][0] != text:
            hypotheses = [(text, 0.0)] if text else []
        return second.taken(hypotheses) if hypotheses else None
