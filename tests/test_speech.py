"""The tests' speech helper (tests/speech.py) is repeatable: same text, same bytes.

End-to-end tests check the words whisper hears in piper speech; they can only
pass every time they pass once if the speech itself never changes. A second
process matters as well as a second call: it has a fresh onnxruntime session and
fresh espeak-ng state, as every CI run does.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from piper import PiperVoice

from tests.speech import load_test_voice, piper_int16, piper_pcm16k

ROOT = Path(__file__).resolve().parents[1]
SENTENCE = "What time do you open on Sunday? Where can I park my car?"
#: prints the sha256 of the helper's 16 kHz PCM for SENTENCE, in a new interpreter
_OTHER_PROCESS = f"""
import hashlib
from tests.speech import load_test_voice, piper_pcm16k
print(hashlib.sha256(piper_pcm16k(load_test_voice(), {SENTENCE!r})).hexdigest())
"""


@pytest.fixture(scope="module")
def voice() -> PiperVoice:
    """The test voice every helper-made sentence comes from."""
    return load_test_voice()


def test_same_text_is_the_same_bytes_in_every_call(voice: PiperVoice) -> None:
    first = piper_pcm16k(voice, SENTENCE)
    assert len(first) // 2 > 2 * 16000  # two sentences: over 2 s of samples, not silence
    assert piper_pcm16k(voice, SENTENCE) == first
    native = piper_int16(voice, SENTENCE)
    assert native.dtype.name == "int16"
    assert native.tobytes() == piper_int16(voice, SENTENCE).tobytes()


def test_same_text_is_the_same_bytes_in_another_process(voice: PiperVoice) -> None:
    here = hashlib.sha256(piper_pcm16k(voice, SENTENCE)).hexdigest()
    there = subprocess.run([sys.executable, "-c", _OTHER_PROCESS], cwd=ROOT, check=True,
                           capture_output=True, text=True, timeout=120).stdout.split()[-1]
    assert there == here


def test_the_pipelines_voice_says_the_same_bytes(voice: PiperVoice) -> None:
    """The pipelines tests speak with `SpeechModels`' shared voice (the `say` fixture):
    pinned to the same thread count, it is the same audio as `load_test_voice`. If
    this fails, a change to `SpeechModels`' tts_threads changed the tests' speech."""
    from pipelines.speech.models import SpeechModels

    shared = SpeechModels.bundled().piper
    assert piper_pcm16k(shared, SENTENCE) == piper_pcm16k(voice, SENTENCE)


def test_the_servers_voice_keeps_no_memory_arena() -> None:
    """onnxruntime's CPU arena keeps the high-water mark of the longest sentence
    so far, and a kiosk server's RSS grew with it in steps (issue 36): the
    server's piper session runs without it, on the pinned threads."""
    from pipelines.speech.models import SpeechModels

    options = SpeechModels.bundled().piper.session.get_session_options()
    assert options.enable_cpu_mem_arena is False
    assert options.intra_op_num_threads == 2


def test_no_audio_is_a_clear_error(voice: PiperVoice) -> None:
    with pytest.raises(ValueError, match="no audio"):
        piper_int16(voice, "")
