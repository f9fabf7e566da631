"""Repeatable test speech from the bundled piper voice: benchkit/speech.py (shared with
the benches), under the names the tests use."""

from __future__ import annotations

from benchkit.speech import (
    SPEECH_RATE,
    TEST_VOICE_THREADS,
    load_test_voice,
    piper_int16,
    piper_pcm16k,
)

__all__ = ["SPEECH_RATE", "TEST_VOICE_THREADS", "load_test_voice", "piper_int16", "piper_pcm16k"]
