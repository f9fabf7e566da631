"""Whisper's n-best (pipelines/speech/whisper_alternatives.py) with the bundled models: a
question said by piper and decoded with the shipped beam gives its hypotheses, best first,
the first being the transcript; the stt service's choice takes a near one only where its
`choose` picks it (docs/ANSWERS.md, section 25)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pipecat.frames.frames import TranscriptionFrame

from pipelines.speech.models import GreedyWhisper
from pipelines.speech.stt import BundledWhisperSTTService
from pipelines.speech.whisper_alternatives import collect_alternatives, single_window


def test_the_beam_gives_its_hypotheses_best_first(speech_models: Any,
                                                  say: Callable[[str], bytes]) -> None:
    audio = np.frombuffer(say("How late are you open on Friday?"), np.int16).astype(np.float32)
    whisper = GreedyWhisper(speech_models.whisper, speech_models.asr)
    windows = collect_alternatives()
    segments, _ = whisper.transcribe(audio / 32768.0, language="en")
    heard = "".join(s.text for s in segments).strip()
    hypotheses = single_window(windows)
    assert len(hypotheses) >= 2, hypotheses
    assert hypotheses[0].text == heard
    assert all(a.score >= b.score for a, b in zip(hypotheses, hypotheses[1:], strict=False))


def test_the_service_says_the_hypothesis_its_choice_picks(speech_models: Any,
                                                          say: Callable[[str], bytes]) -> None:
    asked: list[Sequence[tuple[str, float]]] = []

    def last(hypotheses: Sequence[tuple[str, float]]) -> str:
        asked.append(hypotheses)
        return hypotheses[-1][0]

    async def hear(choose: Callable[[Sequence[tuple[str, float]]], str] | None) -> str:
        stt = BundledWhisperSTTService(models=speech_models, choose=choose)
        stt._load()
        frames = [f async for f in stt.run_stt(say("Where can I park my car?"))]
        return " ".join(f.text.strip() for f in frames if isinstance(f, TranscriptionFrame))

    plain = asyncio.run(hear(None))
    chosen = asyncio.run(hear(last))
    assert plain and len(asked) == 1
    assert asked[0][0][0] == plain
    assert chosen == asked[0][-1][0]
