"""Whisper's confidence on the transcript, and the barge-in verdict that uses it
(pipelines/speech/transcript_confidence.py, pipelines/turns/barge_in.py).

Real whisper on real piper speech, and the same speech played backwards:
speech-like sound without words, which whisper turns into words it is unsure
of ("and us not a little"), as it does an acted laugh over a reply ("I'm so
sorry."). The verdict on real laughs is measured by bench/voice/barge_in.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMUserAggregator,
    LLMUserAggregatorParams,
)
from pipecat.tests.utils import SleepFrame, run_test
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from pipelines.speech.speculative_stt import SpeculativeWhisperSTTService
from pipelines.speech.stt import BundledWhisperSTTService
from pipelines.speech.transcript_confidence import WhisperConfidence
from pipelines.turns.barge_in import BackchannelTolerantStartStrategy
from pipelines.wire.frames import ReplyPauseFrame, ReplyResumeFrame

CHUNK = 640  # 20 ms at 16 kHz, in bytes
SPEECH = ("What time do you open on Sunday?", "I would like a coffee and a croissant.")


def backwards(pcm: bytes) -> bytes:
    """The utterance played backwards (its 0.3 s lead-in moved to the front again)."""
    audio = np.frombuffer(pcm, np.int16)
    return np.concatenate([audio[:4800], audio[4800:][::-1]]).tobytes()


def utterance(pcm: bytes) -> list[Frame]:
    """VAD start, the audio and 0.2 s of silence in 20 ms chunks at a mic's pace, VAD stop."""
    audio = pcm + bytes(6400)
    frames: list[Frame] = [VADUserStartedSpeakingFrame()]
    for i in range(0, len(audio), CHUNK):
        frames += [InputAudioRawFrame(audio=audio[i:i + CHUNK], sample_rate=16000,
                                      num_channels=1), SleepFrame(sleep=0.02)]
    return [*frames, VADUserStoppedSpeakingFrame()]


async def transcripts(stt: Any, pcm: bytes) -> list[TranscriptionFrame]:
    down, _ = await run_test(stt, frames_to_send=utterance(pcm), expected_down_frames=None)
    return [f for f in down if isinstance(f, TranscriptionFrame)]


@pytest.mark.e2e
@pytest.mark.parametrize("service", [BundledWhisperSTTService, SpeculativeWhisperSTTService])
async def test_transcripts_carry_whisper_confidence(
        service: type, speech_models: Any, say: Callable[[str], bytes]) -> None:
    """Speech decodes with confidence; the same sound backwards, when whisper makes
    words of it at all, decodes with far less (how far varies from run to run: -0.8 to
    -2.2 seen, so the bench's real laughs, not this, measure the verdict). Both the
    plain service and the speculative one (whose transcript is its guess)."""
    for text in SPEECH:
        pcm = say(text)
        heard = await transcripts(service(models=speech_models), pcm)
        assert len(heard) == 1
        sure = heard[0].result
        assert isinstance(sure, WhisperConfidence) and not sure.failed, (heard[0].text, sure)
        assert sure.tokens >= 5 and sure.avg_logprob > -0.5
        garbled = await transcripts(service(models=speech_models), backwards(pcm))
        print(f"\n{text!r}: {sure.avg_logprob:.2f}; backwards "
              f"{[(f.text, f.result) for f in garbled]}")
        for frame in garbled:  # whisper may also hear nothing at all: no frame
            assert isinstance(frame.result, WhisperConfidence)
            assert frame.result.avg_logprob < sure.avg_logprob - 0.4, (frame.text, frame.result)


def test_confidence_is_token_weighted() -> None:
    class Segment:
        def __init__(self, avg_logprob: float, tokens: int) -> None:
            self.avg_logprob, self.tokens = avg_logprob, list(range(tokens))

    confidence = WhisperConfidence.of([Segment(-0.2, 30), Segment(-3.0, 2)])
    assert confidence is not None and confidence.tokens == 32
    assert confidence.avg_logprob == pytest.approx((-0.2 * 30 - 3.0 * 2) / 32)
    assert not confidence.failed
    assert WhisperConfidence.of([]) is None


async def verdict_over_a_reply(transcript: TranscriptionFrame) -> tuple[list[Frame], dict]:
    """A sound over a playing reply (VAD start and stop), then its transcript."""
    strategy = BackchannelTolerantStartStrategy()
    user = LLMUserAggregator(LLMContext(), params=LLMUserAggregatorParams(
        user_turn_strategies=UserTurnStrategies(start=[strategy])))
    strategy.attach(user)
    down, _ = await run_test(Pipeline([user]), expected_down_frames=None, frames_to_send=[
        BotStartedSpeakingFrame(), VADUserStartedSpeakingFrame(), SleepFrame(sleep=0.1),
        VADUserStoppedSpeakingFrame(), SleepFrame(sleep=0.1), transcript, SleepFrame(sleep=0.2)])
    return down, dict(strategy.counters)


@pytest.mark.parametrize(("avg_logprob", "interrupts"), [(-1.7, False), (-0.4, True)])
async def test_unsure_words_over_a_reply_do_not_interrupt_it(
        avg_logprob: float, interrupts: bool) -> None:
    """"I'm so sorry." is what whisper made of an acted laugh: said with a failed decode
    the reply plays on; the same words decoded with confidence interrupt it."""
    frame = TranscriptionFrame("I'm so sorry.", "user", "2026-11-22T00:00:00Z",
                               result=WhisperConfidence(avg_logprob, 5))
    down, counters = await verdict_over_a_reply(frame)
    kinds = [type(f) for f in down]
    assert ReplyPauseFrame in kinds
    assert (InterruptionFrame in kinds) is interrupts, (kinds, counters)
    assert (ReplyResumeFrame in kinds) is not interrupts, (kinds, counters)
    assert counters["unsure"] == (0 if interrupts else 1)
