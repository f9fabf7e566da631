"""The first text of a reply has its opening clause synthesised first
(pipelines.speech.tts), with the bundled piper voice and frames through the service."""

from __future__ import annotations

from typing import Any

import pytest
from pipecat.frames.frames import TTSAudioRawFrame, TTSSpeakFrame
from pipecat.tests.utils import run_test

from pipelines.speech.tts import SharedPiperTTSService, opening_clause


def test_a_short_opening_clause_is_split_off_and_nothing_else() -> None:
    assert opening_clause("No, gift cards do not expire.") == ("No,", "gift cards do not expire.")
    assert opening_clause("On Sunday, the opening hours are 10 a.m. to 6 p.m.") == (
        "On Sunday,", "the opening hours are 10 a.m. to 6 p.m.")
    assert opening_clause("Yes; it is free.") == ("Yes;", "it is free.")
    # a chunk that only ends at a mark, a long clause, a rest of one word, marks inside
    # numbers, and no mark at all: whole
    for whole in ("Monday to Saturday,", "The garden center by the main doors is open, daily.",
                  "Open 10 to 6, daily.", "It is 9:30 to 5 and costs 1,000 dollars.",
                  "There is free parking behind the store."):
        assert opening_clause(whole) is None, whole


def seconds(frames: list[Any]) -> float:
    """Audio seconds in `frames` (16-bit mono)."""
    return sum(len(f.audio) / 2 / f.sample_rate for f in frames)


@pytest.mark.e2e
async def test_the_reply_opens_with_its_clause_alone_and_says_all_of_it(speech_models: Any) -> None:
    reply = "No, gift cards do not expire."
    down, _ = await run_test(SharedPiperTTSService(models=speech_models),
                             frames_to_send=[TTSSpeakFrame(reply)], expected_down_frames=None)
    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    rate = speech_models.tts_sample_rate
    alone = [len(c.audio_int16_bytes) / 2 / rate for c in speech_models.piper.synthesize("No,")]
    whole = sum(len(c.audio_int16_bytes) / 2 / rate for c in speech_models.piper.synthesize(reply))
    # the first audio out is "No," by itself, then the rest: the whole reply, as long as
    # piper makes it in one piece (the comma's pause is piper's either way). Piper's
    # durations are sampled (its noise), so one word's length varies by ~0.07 s run to
    # run; the whole sentence, had it not been split, would last ~4 times as long.
    assert seconds(audio[:1]) == pytest.approx(sum(alone), abs=0.15)
    assert seconds(audio[:1]) < whole / 2
    assert seconds(audio) == pytest.approx(whole, rel=0.1)
