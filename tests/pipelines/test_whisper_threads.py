"""Whisper's CPU threads: half the usable cores by default (one on the 2-core kiosk),
what the settings ask otherwise; the real bundled model loads and hears with them."""

from __future__ import annotations

import os

import numpy as np
import pytest

from pipelines.settings import Settings
from pipelines.speech.models import ASRParams, SpeechModels, whisper_threads
from tests.speech import load_test_voice, piper_pcm16k


@pytest.mark.parametrize("cores, expected", [({0}, 1), ({0, 1}, 1), ({0, 1, 2, 3}, 2),
                                             (set(range(8)), 4)])
def test_the_default_is_half_the_usable_cores_at_least_one(
        monkeypatch: pytest.MonkeyPatch, cores: set[int], expected: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: cores)
    assert whisper_threads(0) == expected
    assert whisper_threads(3) == 3  # asked for: as asked, whatever the machine


def test_without_an_affinity_call_every_core_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity")  # macOS has none
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert whisper_threads(0) == 4


def test_settings_default_to_the_machines_choice_and_take_a_number(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.load().asr.cpu_threads == 0
    assert ASRParams.from_section(Settings.load().asr).cpu_threads == 0
    monkeypatch.setenv("AVATAR_FORCING_ASR_CPU_THREADS", "2")
    assert Settings.load().asr.cpu_threads == 2


def test_the_bundled_whisper_loads_with_the_resolved_threads_and_hears() -> None:
    models = SpeechModels.bundled()
    assert models.whisper_threads == whisper_threads(0) >= 1
    pcm = piper_pcm16k(load_test_voice(), "Where can I park my car?")
    audio = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768
    segments, _ = models.whisper.transcribe(audio, language="en", beam_size=1)
    heard = " ".join(s.text for s in segments).lower()
    assert "park" in heard and "car" in heard, heard
