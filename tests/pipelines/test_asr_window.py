"""Whisper encodes the utterance, not a padded 30 s (pipelines.speech.models.fit_encoder_window),
on the bundled tiny.en and real piper speech."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from faster_whisper import WhisperModel

from agent.bundled_models import whisper_model_dir
from pipelines.speech.models import ASRParams, GreedyWhisper

QUESTIONS = ["Do you sell gift cards?", "Where can I park my car?", "Is there a cafe?",
             "When do you close on Sunday?", "Do you accept Apple Pay?",
             "How long do I have to return something?", "Where are the restrooms?",
             "Can I pick up my online order today?"]


def test_the_encoder_sees_the_utterance_and_hears_the_same_words(
        speech_models: Any, say: Callable[[str], bytes], wer: Callable[[str, str], float]
) -> None:
    asr = speech_models.asr
    assert asr.encoder_min_secs == ASRParams().encoder_min_secs > 0
    fitted = GreedyWhisper(speech_models.whisper, asr)
    whole = GreedyWhisper(WhisperModel(str(whisper_model_dir()), device="cpu",
                                        compute_type=asr.compute_type, cpu_threads=1), asr)
    speech = [np.frombuffer(say(q), np.int16).astype(np.float32) / 32768 for q in QUESTIONS]
    short = speech[0]
    long = np.concatenate(speech)  # ~20 s of questions: longer than encoder_min_secs - 2 s
    for audio in (short, long):
        heard = [" ".join(s.text.strip() for s in model.transcribe(audio, language="en")[0])
                 for model in (fitted, whole)]
        assert wer(heard[1], heard[0]) <= 0.1, heard  # the same words as the 30 s window
        # faster-whisper pads to 3,000 frames; the encoder got the utterance + 2 s,
        # at least encoder_min_secs
        expected = max(asr.encoder_min_secs * 100, int(np.ceil(len(audio) / 16000)) * 100 + 200)
        assert speech_models.whisper.encode.last_frames == min(3000, expected) < 3000
    assert wer(" ".join(QUESTIONS), heard[0]) <= 0.15, heard
