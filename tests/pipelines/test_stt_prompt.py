"""Whisper reads the knowledge file's names before a visitor's question
(pipelines/speech/stt.py `prompt`, agent/asr_vocabulary.py).

Real whisper tiny.en on real piper speech: store words it mishears on its own
("Maple and Main" as "Maple in Maine", "How early can I" as "How are we":
bench/answers/asr_questions.py)
are heard with the shipped file's prompt, and plain speech stays as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pipecat.frames.frames import TranscriptionFrame

from agent.answers.index import KnowledgeIndex
from agent.asr_vocabulary import recognizer_prompt
from pipelines.speech.speculative_stt import SpeculativeWhisperSTTService
from pipelines.speech.stt import BundledWhisperSTTService
from tests.pipelines.test_transcript_confidence import transcripts

SHIPPED = Path(__file__).resolve().parents[2] / "agent" / "data" / "kiosk_knowledge.md"


def heard(frames: list[TranscriptionFrame]) -> str:
    return " ".join(f.text for f in frames).lower().replace("&", "and")


@pytest.mark.e2e
@pytest.mark.parametrize("service", [BundledWhisperSTTService, SpeculativeWhisperSTTService])
async def test_store_words_are_heard_with_the_files_prompt(
        service: type, speech_models: Any, say: Callable[[str], bytes]) -> None:
    prompt = recognizer_prompt("\n".join(KnowledgeIndex.from_file(SHIPPED).facts))
    for text, word in (("How early can I come in on a Tuesday?", "how early can i"),
                       ("Who founded Maple and Main?", "maple and main")):
        text_heard = heard(await transcripts(service(models=speech_models, prompt=prompt),
                                             say(text)))
        assert word in text_heard, text_heard
    plain = "Go somewhere and do something."
    assert heard(await transcripts(service(models=speech_models, prompt=prompt), say(plain))
                 ).strip(" .") == plain.lower().strip(".")
