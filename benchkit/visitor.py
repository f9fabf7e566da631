"""The visitor's side of a voice bench: kiosk questions spoken by piper, and where the
speech starts and ends.

Why here: voice-to-voice is measured from the end of the user's speech, so every
bench that speaks to the server must find that end the same way (level-based, on
20 ms frames), and ask the same questions, for figures to compare across benches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Kiosk questions as a visitor would say them (no commas: a pause would split the turn).
QUESTIONS = (
    "What time do you open on Saturday?",
    "Where can I park my car?",
    "Do you accept Apple Pay?",
    "Where are the restrooms?",
    "How long do I have to return something?",
    "Is delivery free?",
    "When do you close on Sunday?",
    "Do you sell gift cards?",
    "Where is the garden center?",
    "What is the Wi-Fi network called?",
    "Are you open on Christmas Day?",
    "Where can I pick up my online order?",
)
#: What a visitor says to the kiosk that is not a question: answers to the bot, thanks,
#: what they came for. Each is a whole turn; with the LLM's reading alone each waited
#: 1-2 s (docs/LATENCY.md). Only ever used to judge the turn-end reader, never to fit it.
STATEMENTS = (
    "Yes, please.",
    "No, thank you.",
    "Thanks, that's all.",
    "I'm looking for the garden center.",
    "The receipt says the twelfth.",
    "My name is Ada Lovelace.",
    "I need help with my order.",
    "I'd like to return these shoes.",
    "That's great, thanks.",
    "Okay.",
    "I bought it last week.",
    "I want to speak to a manager.",
    "My order number is four five six.",
    "It's a blue jacket, size medium.",
    "I lost my wallet somewhere in the store.",
    "No, that's everything.",
    "Sure, go ahead.",
    "I'll pay by card.",
    "The lamp is broken.",
    "Hello.",
)
INTERRUPTION = "Stop please. Where is the cafe?"


def _loud_frames(pcm: bytes, rate: int) -> tuple[np.ndarray, int]:
    """Indices of 20 ms frames above 5 % of the peak level, and the frame length."""
    audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    frame = rate // 50
    n = len(audio) // frame
    levels = np.sqrt((audio[: n * frame].reshape(n, frame) ** 2).mean(axis=1))
    return np.nonzero(levels > 0.05 * levels.max())[0], frame


def speech_end_secs(pcm: bytes, rate: int) -> float:
    """Where speech ends: the end of the last loud 20 ms frame."""
    loud, frame = _loud_frames(pcm, rate)
    return float((loud[-1] + 1) * frame / rate)


def speech_start_secs(pcm: bytes, rate: int) -> float:
    """Where speech starts: the start of the first loud 20 ms frame."""
    loud, frame = _loud_frames(pcm, rate)
    return float(loud[0] * frame / rate)


def synthesize(models: Any, text: str) -> bytes:
    """Piper speech at 16 kHz with 0.3 s of lead-in silence."""
    import soxr

    chunks = [chunk.audio_int16_array for chunk in models.piper.synthesize(text)]
    audio = np.concatenate(chunks).astype(np.float32)
    audio16 = soxr.resample(audio, models.tts_sample_rate, 16000)
    lead = np.zeros(4800, dtype=np.float32)
    return np.concatenate([lead, audio16]).clip(-32768, 32767).astype(np.int16).tobytes()
