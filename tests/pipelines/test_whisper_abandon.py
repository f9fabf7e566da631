"""A whisper run its owner abandons stops at the encoder (pipelines.speech.whisper_abandon), on
the bundled tiny.en and real piper speech; other runs, and runs on other threads, go on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from pipelines.speech.models import GreedyWhisper
from pipelines.speech.whisper_abandon import WhisperRunAbandoned, abandonable


def heard(model: GreedyWhisper, audio: np.ndarray) -> str:
    """The transcript of `audio`, decoded in full."""
    return " ".join(s.text.strip() for s in model.transcribe(audio, language="en")[0])


async def test_an_abandoned_run_stops_and_a_wanted_one_hears_the_words(
        speech_models: Any, say: Callable[[str], bytes], wer: Callable[[str, str], float]
) -> None:
    model = GreedyWhisper(speech_models.whisper, speech_models.asr)
    text = "Where can I park my car?"
    audio = np.frombuffer(say(text), np.int16).astype(np.float32) / 32768
    abandoned, wanted = threading.Event(), threading.Event()
    abandoned.set()
    with abandonable(abandoned), pytest.raises(WhisperRunAbandoned):
        # the event travels into the worker thread, as it does in pipecat's run_stt
        await asyncio.to_thread(heard, model, audio)
    with abandonable(wanted):
        assert wer(text, await asyncio.to_thread(heard, model, audio)) <= 0.2
    # outside any abandonable block (the run at the VAD's stop, another session)
    assert wer(text, heard(model, audio)) <= 0.2

