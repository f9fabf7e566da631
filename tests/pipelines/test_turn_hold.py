"""Which transcripts sound unfinished, and the turn-end hold that follows (pipelines/turns/turn_hold.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

from pipelines.speech.transcript_confidence import WhisperConfidence
from pipelines.turns.turn_hold import (
    HoldIncompleteTurnStopStrategy,
    cannot_end_here,
    sounds_unfinished,
    unmarked,
)
from pipelines.voice_pipeline import TurnParams
from sdk.client import VoiceClient


@pytest.mark.parametrize("text", [
    "I'd like a coffee and", "I need apples,", "Could you tell me where the",
    "My order number is", "I'm looking for a present for my", "Um, I want the...", "So",
    "I'm looking for the.",
])
def test_promising_more(text: str) -> None:
    assert sounds_unfinished(text)


@pytest.mark.parametrize("text", [
    "Where are the toilets?", "A croissant, please.", "Two coffees.", "Thanks!", "Yes", "",
    "I need apples, bananas and milk.", "Thank you.", "Yes, it is.", "Thank you",
])
def test_complete_looking(text: str) -> None:
    assert not sounds_unfinished(text)


@pytest.mark.parametrize("text", [
    "Could you tell me where the", "We had a long discussion about.", "I'd like a coffee and.",
    "I'm looking for a present for my",
])
def test_words_no_sentence_ends_on_get_the_long_hold(text: str) -> None:
    assert cannot_end_here(text) and sounds_unfinished(text)


@pytest.mark.parametrize("text", ["My order number is", "I need apples,", "So", "Thank you."])
def test_words_that_often_go_on_get_the_short_hold(text: str) -> None:
    assert not cannot_end_here(text)


@pytest.mark.parametrize("text", [
    "No, on the desktop you'll find that there's a project", "once the tick melts",
    "is delivery free", "I want the blue one \u201d",
])
def test_transcripts_whisper_did_not_close_are_unmarked(text: str) -> None:
    assert unmarked(text)


@pytest.mark.parametrize("text", [
    "Where are the toilets?", "Two coffees.", "Thanks!", "He said \"yes.\"", "Well\u2026.", "",
    "...",
])
def test_closed_or_empty_transcripts_are_not_unmarked(text: str) -> None:
    assert not unmarked(text)


def strategy(**kwargs: float) -> HoldIncompleteTurnStopStrategy:
    """The hold strategy with the product's default hold lengths (real smart-turn)."""
    turn = TurnParams()
    return HoldIncompleteTurnStopStrategy(
        turn_analyzer=LocalSmartTurnAnalyzerV3(),
        **({"hold_secs": turn.incomplete_hold_secs,
            "unfinished_hold_secs": turn.unfinished_hold_secs,
            "uncertain_hold_secs": turn.uncertain_hold_secs} | kwargs))


def test_an_uncertain_end_waits_the_short_hold_and_words_keep_their_tiers() -> None:
    hold = strategy()
    short, long_ = TurnParams().incomplete_hold_secs, TurnParams().unfinished_hold_secs
    assert hold.hold_secs_for("Where are the toilets?") == 0.0
    assert hold.hold_secs_for("Two coffees.") == 0.0
    assert hold.hold_secs_for("is delivery free") == TurnParams().uncertain_hold_secs
    # whisper's own failed decode (mean log-probability -1.3) of a closed sentence
    failed = WhisperConfidence(avg_logprob=-1.3, tokens=9).failed
    assert hold.hold_secs_for("Ebenezer. At the miswais.", failed) == TurnParams().uncertain_hold_secs
    assert hold.hold_secs_for("Ebenezer. At the miswais.",
                              WhisperConfidence(avg_logprob=-0.4, tokens=9).failed) == 0.0
    # the word tiers come first and keep their lengths
    assert hold.hold_secs_for("I'd like a coffee and") == long_
    assert hold.hold_secs_for("My order number is") == short


def test_the_uncertain_hold_can_be_switched_off() -> None:
    hold = strategy(uncertain_hold_secs=0.0)
    assert hold.hold_secs_for("is delivery free") == 0.0
    assert hold.hold_secs_for("Ebenezer.", True) == 0.0
    assert hold.hold_secs_for("I'd like a coffee and") == TurnParams().unfinished_hold_secs


@pytest.mark.e2e
async def test_a_long_pause_after_with_is_one_turn(
        voice_server: Any, say: Callable[[str], bytes]) -> None:
    """piper says "I want to buy a sofa with" (whisper: "...a sofa with."), pauses
    1.2 s, longer than the 0.8 s hold that such pauses outlasted
    (bench/results/turn_splits*.json), then "a footrest.". The server ends the turn
    once, after the whole request, and the LLM gets both pieces in one message."""
    first, second = say("I want to buy a sofa with"), say("a footrest.")[9600:]  # no lead-in
    pcm = first + bytes(int(1.2 * 16000) * 2) + second
    stops: list[float] = []
    async with await VoiceClient.connect(voice_server.url, busy_retry_secs=60) as client:
        session = voice_server.registry.active[client.welcome.session_id]

        async def listen() -> None:
            async for item in client.receive():
                if getattr(item, "type", "") == "user-stopped-speaking":
                    stops.append(time.monotonic())

        listener = asyncio.create_task(listen())
        started = time.monotonic()
        await client.stream_pcm(pcm)
        speech_end = started + len(pcm) / 32000
        await client.stream_pcm(bytes(int(3.0 * 16000) * 2))
        users = [str(dict(m)["content"]) for m in session.context.get_messages()
                 if dict(m)["role"] == "user"]
        listener.cancel()
    pause_end = speech_end - len(second) / 32000
    print(f"\nturn ends {[round(t - speech_end, 2) for t in stops]} s after the speech, "
          f"{[round(t - pause_end, 2) for t in stops]} s after the pause; "
          f"user messages {users}")
    assert stops and all(t > speech_end for t in stops), "the turn ended inside the pause"
    # one message with both pieces (tiny.en spells the second, after 1.2 s of silence
    # inside the utterance, in odd ways: "I've foot rest.", "F-O-T-R-S-")
    assert len(users) == 1 and "sofa with" in users[0].lower(), users
    assert len(users[0].lower().split("sofa with", 1)[1].split()) >= 1, users
