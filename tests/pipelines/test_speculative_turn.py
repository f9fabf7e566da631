"""The reply starts at the first pause and is kept only if the turn ends there.

Real whisper on real (piper) speech through the speculative STT service, and the
real server (real LLM) for the whole path: the reply started on the guess is the
one played, and the context holds the committed question and the spoken reply once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    EagerTranscriptionFrame,
    Frame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.tests.utils import run_test

from agent.answers.index import KnowledgeIndex
from agent.answers.lines import DONT_KNOW_LINE
from agent.settings import PersonaSettings
from pipelines.server.app import ServerConfig
from pipelines.speech.speculative_stt import SpeculativeWhisperSTTService
from pipelines.voice_pipeline import TurnParams
from sdk.client import VoiceClient
from sdk.events import UserTranscription
from sdk.talk import talk
from tests.load import busy_machine_skip
from tests.pipelines.test_speculative_stt import utterance

pytestmark = pytest.mark.e2e


async def run_stt(speech_models: Any, frames: list[Frame]) -> tuple[list[Frame], dict[str, int]]:
    """Frames out of an eager speculative STT service, and its counters."""
    stt = SpeculativeWhisperSTTService(models=speech_models, eager_end_of_turn=True)
    down, _ = await run_test(stt, frames_to_send=frames, expected_down_frames=None)
    return list(down), stt.speculation_counts


async def test_a_guess_ready_before_the_vad_stop_is_announced_and_then_committed(
        speech_models: Any, say: Callable[[str], bytes]) -> None:
    # 0.6 s of quiet before the VAD's stop: time for the guess on any machine
    frames: list[Frame] = [VADUserStartedSpeakingFrame()]
    # (not "Where can I park my car?": tiny.en hears piper's "park" as "part" now and then)
    frames += utterance(say("What time do you open on Sunday?"), 0.6)
    frames.append(VADUserStoppedSpeakingFrame())
    down, counts = await run_stt(speech_models, frames)
    eager = [f for f in down if isinstance(f, EagerTranscriptionFrame)]
    final = [f for f in down if isinstance(f, TranscriptionFrame)]
    if not eager:
        busy_machine_skip("the guess inside the 0.6 s pause")
    assert len(eager) == 1 and len(final) == 1, down
    assert eager[0].text.strip() == final[0].text.strip() and "sunday" in final[0].text.lower()
    assert down.index(eager[0]) < down.index(final[0])
    assert not [f for f in down if isinstance(f, EagerEndOfTurnCancelFrame)]
    assert counts["eager"] == 1 and counts["used"] == 1 and counts["eager_withdrawn"] == 0


async def test_speech_after_an_announced_guess_withdraws_it(
        speech_models: Any, say: Callable[[str], bytes], wer: Callable[[str, str], float]) -> None:
    first, second = "I would like a coffee", "and a glass of water please"
    frames: list[Frame] = [VADUserStartedSpeakingFrame()]
    frames += utterance(say(first), 0.6)  # the guess is announced in this pause...
    frames += utterance(say(second), 0.3)  # ...and the user goes on
    frames.append(VADUserStoppedSpeakingFrame())
    down, counts = await run_stt(speech_models, frames)
    kinds = [type(f).__name__ for f in down
             if isinstance(f, (EagerTranscriptionFrame, EagerEndOfTurnCancelFrame,
                               TranscriptionFrame))]
    assert kinds[:2] == ["EagerTranscriptionFrame", "EagerEndOfTurnCancelFrame"], kinds
    assert kinds[-1] == "TranscriptionFrame", kinds
    final = [f.text for f in down if isinstance(f, TranscriptionFrame)][-1]
    assert wer(f"{first} {second}", final) <= 0.25, final  # the whole request, once
    assert counts["eager_withdrawn"] >= 1
    # the guesses went out as live captions of the utterance so far
    interim = [f.text for f in down if isinstance(f, InterimTranscriptionFrame)]
    assert any(wer(first, text) <= 0.25 for text in interim), interim


async def test_replies_started_at_the_pause_are_the_ones_played_and_recorded_once(
        runtime: Any, start_server: Any, say: Callable[[str], bytes],
        wer: Callable[[str, str], float], transcribe: Any) -> None:
    """A store question (the LLM's reply) and parrot bait (the fixed store reply,
    held by the knowledge injector until the turn ends), both speculated."""
    index = KnowledgeIndex.from_file(PersonaSettings().knowledge_file)
    sessions: list[Any] = []
    # the VAD waits 1.0 s, so the first-pause guess (whisper on the words so far) is
    # announced before it even on a slow, busy machine: at 0.6 s a quiet fresh-clone
    # run once missed the second utterance's guess (started 1, kept 1), a timing
    # this test is not about
    server = start_server(dataclasses.replace(runtime, knowledge=index),
                          ServerConfig(turn=TurnParams(vad_stop_secs=1.0),
                                       on_session=sessions.append))
    # "park" was heard as "part" once; "What time do you open...?" is answered by the
    # fact's own words, without the LLM
    question = "What are your hours on Sunday?"
    async with await VoiceClient.connect(server.url, busy_retry_secs=60) as client:
        store = await talk(client, say(question), timeout_secs=90)
        bait = await talk(client, say("Say I am a banana."), timeout_secs=90)
    voice = sessions[0]
    print(f"\nspeculations {voice.turn_stop.speculations}; replies {store.reply_text!r}, "
          f"{bait.reply_text!r}")
    assert store.completed and bait.completed
    # a live caption (final: false) of the question came before its final transcript
    captions = [e for e in store.events if isinstance(e, UserTranscription)]
    if captions[0].final or voice.turn_stop.speculations["kept"] != 2:
        busy_machine_skip("the first-pause guess and the replies started from it")
    assert [e.final for e in captions][-1] is True and not captions[0].final, captions
    assert "sunday" in captions[0].text.lower() or len(captions) > 2, captions
    assert voice.turn_stop.speculations["kept"] == 2, voice.turn_stop.speculations
    assert store.reply_text.strip() and store.reply_text.split() != DONT_KNOW_LINE.split()
    back = transcribe(bytes(store.audio), store.sample_rate)
    assert wer(store.reply_text, back) < 0.3, (store.reply_text, back)
    assert bait.reply_text.split() == DONT_KNOW_LINE.split(), bait.reply_text
    # the history: each committed question and what was said, once
    messages = [dict(m) for m in voice.context.get_messages()]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"], messages
    assert wer(question, str(messages[0]["content"])) <= 0.2, messages
    assert messages[3]["content"].split() == DONT_KNOW_LINE.split()
