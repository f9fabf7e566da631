"""The turn-taking models shared by every session of a process
(pipelines/turns/shared_models.py), against pipecat's own analyzers on real speech:
the same scores, each analyzer with its own recurrent state though they run on one
model session, and one session a process."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroVADAnalyzer

from pipelines.turns.shared_models import (
    SharedSileroVAD,
    SharedSmartTurnAnalyzer,
    silero_session,
    smart_turn_session,
)
from pipelines.turns.speech_onset import WindowTapSileroVAD

RATE = 16000
SENTENCE = "Where is the garden center? I would like to buy a small lemon tree."


def windows(pcm: bytes, analyzer: SileroVADAnalyzer) -> list[bytes]:
    size = analyzer.num_frames_required() * 2
    return [pcm[i:i + size] for i in range(0, len(pcm) - size + 1, size)]


def test_shared_vads_score_as_pipecats_own_each_with_its_own_state(
        say: Callable[[str], bytes]) -> None:
    speech = say(SENTENCE)
    stock, shared, tapped = (SileroVADAnalyzer(), SharedSileroVAD(), WindowTapSileroVAD())
    for analyzer in (stock, shared, tapped):
        analyzer.set_sample_rate(RATE)
    silence = bytes(len(speech))
    expected, got = [], []
    for window, quiet in zip(windows(speech, stock), windows(silence, stock), strict=True):
        expected.append(stock.voice_confidence(window))
        got.append(shared.voice_confidence(window))
        tapped.voice_confidence(quiet)  # between them, on the same model session
    np.testing.assert_allclose(np.ravel(got), np.ravel(expected), atol=1e-5)
    assert max(np.ravel(expected)) > 0.9 and min(np.ravel(expected)) < 0.1  # speech and pauses
    assert max(w.confidence for w in tapped.take_windows()) < 0.1  # its silence stayed silence
    assert shared._model.session is tapped._model.session is silero_session()


def test_a_shared_smart_turn_reads_ends_as_pipecats_own(say: Callable[[str], bytes]) -> None:
    audio = np.frombuffer(say(SENTENCE), np.int16).astype(np.float32) / 32768.0
    unfinished = audio[: len(audio) * 2 // 3]
    stock = LocalSmartTurnAnalyzerV3(sample_rate=RATE)
    first, second = SharedSmartTurnAnalyzer(sample_rate=RATE), SharedSmartTurnAnalyzer()
    second.set_sample_rate(RATE)
    for clip in (audio, unfinished):
        expected = stock._predict_endpoint(clip)["probability"]
        assert abs(first._predict_endpoint(clip)["probability"] - expected) < 1e-5
        assert abs(second._predict_endpoint(clip)["probability"] - expected) < 1e-5
    assert first._session is second._session is smart_turn_session()
