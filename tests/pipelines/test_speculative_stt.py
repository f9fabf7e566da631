"""Speculative recognition: the transcript is made at the first pause, and used only if the
user did not go on. Real whisper on real (piper) speech, frames pushed through the service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.tests.utils import SleepFrame, run_test

from pipelines.speech.speculative_stt import SpeculativeWhisperSTTService
from pipelines.wire.frames import UserPausedFrame

CHUNK = 640  # 20 ms at 16 kHz, in bytes


def utterance(pcm: bytes, silence_secs: float) -> list[Frame]:
    """Audio frames of `pcm` then `silence_secs` of silence, 20 ms each, paced like a mic."""
    audio = pcm + bytes(int(silence_secs * 16000) * 2)
    frames: list[Frame] = []
    for i in range(0, len(audio), CHUNK):
        frames.append(InputAudioRawFrame(audio=audio[i:i + CHUNK], sample_rate=16000,
                                         num_channels=1))
        frames.append(SleepFrame(sleep=0.02))
    return frames


async def transcribe(speech_models: Any, frames: list[Frame]) -> tuple[str, dict[str, int]]:
    """Run frames through the service: (transcript, speculation counts). Each guess is
    announced downstream by a `UserPausedFrame` before any transcript (the face yields)."""
    stt = SpeculativeWhisperSTTService(models=speech_models)
    down, _ = await run_test(stt, frames_to_send=frames, expected_down_frames=None)
    texts = [f.text for f in down if isinstance(f, TranscriptionFrame)]
    paused = [i for i, f in enumerate(down) if isinstance(f, UserPausedFrame)]
    assert len(paused) == stt.speculation_counts["started"], "one pause frame per guess"
    first_text = next(i for i, f in enumerate(down) if isinstance(f, TranscriptionFrame))
    assert paused and paused[0] < first_text, "the pause is announced before the transcript"
    return " ".join(texts), stt.speculation_counts


@pytest.mark.e2e
async def test_a_single_utterance_uses_the_guess_made_at_its_pause(
        speech_models: Any, say: Callable[[str], bytes], wer: Callable[[str, str], float]) -> None:
    text = "What time does the store open on Sunday?"
    frames: list[Frame] = [VADUserStartedSpeakingFrame()]
    frames += utterance(say(text), 0.2)
    frames.append(VADUserStoppedSpeakingFrame())
    heard, counts = await transcribe(speech_models, frames)
    assert wer(text, heard) <= 0.2, heard
    assert counts["started"] >= 1 and counts["used"] == 1


@pytest.mark.e2e
async def test_speech_after_the_pause_discards_the_guess(
        speech_models: Any, say: Callable[[str], bytes], wer: Callable[[str, str], float]) -> None:
    first, second = "I would like a coffee", "and a glass of water"
    frames: list[Frame] = [VADUserStartedSpeakingFrame()]
    frames += utterance(say(first), 0.15)  # a pause the level check sees, the VAD does not end
    frames += utterance(say(second), 0.2)
    frames.append(VADUserStoppedSpeakingFrame())
    heard, counts = await transcribe(speech_models, frames)
    assert wer(f"{first} {second}", heard) <= 0.25, heard  # no lost words
    assert counts["started"] >= 1


@pytest.mark.e2e
async def test_a_guess_talked_past_is_abandoned_and_the_pause_after_is_guessed(
        speech_models: Any, say: Callable[[str], bytes], wer: Callable[[str, str], float]) -> None:
    first, second = "Where can I", "pick up my online order?"
    frames: list[Frame] = [VADUserStartedSpeakingFrame()]
    # say() leads in with 0.3 s of silence: the second part starts ~0.4 s after the first
    # pause, while the guess made there is still in whisper
    frames += utterance(say(first), 0.1)
    frames += utterance(say(second), 0.6)
    frames.append(VADUserStoppedSpeakingFrame())
    heard, counts = await transcribe(speech_models, frames)
    assert wer(f"{first} {second}", heard) <= 0.25, heard  # no lost words
    # the first guess stopped early; the one at the end was used as it stood
    assert counts["abandoned"] >= 1 and counts["used"] == 1, counts
