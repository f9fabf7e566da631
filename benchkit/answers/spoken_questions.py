"""The spoken kiosk questions: the set, the voices that say them and the hall noise.

Why here: bench/answers/asr_questions.py (the recognizer's word error) and
bench/answers/spoken_answers.py (the answers through the real server) must hear the same
questions in the same voices and the same noise for their figures to line up.

Voices: the bundled piper voice without sampled noise (benchkit/speech.py) and
espeak-ng's default American voice (a formant synthesiser, far from piper's).
Hall noise: babble of four real recordings of people talking at once (a lecture,
an AMI meeting, a phone call, a conversational meeting: benchkit/real_media.py),
each at the same level, from a seeded offset: the crowd a kiosk in a hall hears.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchkit.answers.word_error import edit_distance
from benchkit.paths import ROOT
from benchkit.speech import SPEECH_RATE, load_test_voice, piper_pcm16k

QUESTIONS_FILE = ROOT / "bench" / "answers" / "spoken_questions.json"
VOICES = ("piper", "espeak")
#: the real recordings the babble is made of (benchkit/real_media.py names)
BABBLE_SOURCES = ("lecture", "ami_meeting", "phone_conversation", "meeting_chan3")
LEAD_S = 0.3


def load_questions(path: Path = QUESTIONS_FILE) -> dict[str, Any]:
    """The question set (bench/answers/spoken_questions.json)."""
    return json.loads(path.read_text(encoding="utf-8"))


def espeak_pcm16k(text: str, voice: str = "en-us") -> bytes:
    """`text` said by espeak-ng at 16 kHz after `LEAD_S` of silence; raises RuntimeError
    when espeak-ng is not installed (Debian package `espeak-ng`)."""
    import soundfile
    import soxr

    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "q.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
        audio, rate = soundfile.read(str(wav), dtype="float32")
    audio16 = soxr.resample(audio, rate, SPEECH_RATE) * 32768.0
    lead = np.zeros(int(LEAD_S * SPEECH_RATE), dtype=np.float32)
    return np.concatenate([lead, audio16]).clip(-32768, 32767).astype(np.int16).tobytes()


def say(voice: str, text: str) -> bytes:
    """`text` in `voice` ('piper' or 'espeak'), 16 kHz PCM s16le with a lead-in."""
    if voice == "piper":
        return piper_pcm16k(load_test_voice(), text, lead_s=LEAD_S)
    if voice == "espeak":
        return espeak_pcm16k(text)
    raise ValueError(f"unknown voice {voice!r}: choose from {VOICES}")


@functools.cache
def babble() -> np.ndarray:
    """The hall's crowd: the babble sources summed at equal RMS, float32 at 16 kHz."""
    import soundfile

    from benchkit.real_media import wav16k

    tracks = []
    for name in BABBLE_SOURCES:
        audio, rate = soundfile.read(str(wav16k(name)), dtype="float32")
        if rate != SPEECH_RATE:
            raise ValueError(f"{name}: expected {SPEECH_RATE} Hz, got {rate}")
        tracks.append(audio / (np.sqrt(np.mean(audio ** 2)) + 1e-9))
    length = min(len(t) for t in tracks)
    return np.sum([t[:length] for t in tracks], axis=0).astype(np.float32)


def speech_rms(pcm: np.ndarray) -> float:
    """RMS of the speech alone: the 20 ms frames above 5 % of the peak frame level."""
    frame = SPEECH_RATE // 50
    n = len(pcm) // frame
    levels = np.sqrt((pcm[: n * frame].astype(np.float64).reshape(n, frame) ** 2).mean(axis=1))
    loud = levels[levels > 0.05 * levels.max()]
    return float(np.sqrt(np.mean(loud ** 2)))


def with_noise(pcm: bytes, snr_db: float, seed: int) -> bytes:
    """`pcm` with the hall's babble mixed in at `snr_db` (speech RMS over noise RMS)
    from a seeded offset; the noise covers the lead-in too."""
    speech = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    crowd = babble()
    if len(crowd) < len(speech):
        raise ValueError(f"babble ({len(crowd)} samples) shorter than the speech")
    start = np.random.default_rng(seed).integers(0, len(crowd) - len(speech) + 1)
    noise = crowd[start:start + len(speech)]
    gain = speech_rms(speech) / (np.sqrt(np.mean(noise ** 2)) + 1e-9) / 10 ** (snr_db / 20)
    return (speech + gain * noise).clip(-32768, 32767).astype(np.int16).tobytes()


_CONTRACTIONS = {"'s": " is", "'re": " are", "'m": " am", "'ll": " will", "'ve": " have",
                 "'d": " would", "n't": " not"}
_SMALL = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
          "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number_words(n: int) -> str:
    """0-9999 in words ("500" -> "five hundred"); other numbers as digits."""
    if n < 20:
        return _SMALL[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _SMALL[n % 10])
    if n < 1000:
        rest = n % 100
        return _SMALL[n // 100] + " hundred" + ("" if rest == 0 else " " + _number_words(rest))
    if n < 10000:
        rest = n % 1000
        return _SMALL[n // 1000] + " thousand" + ("" if rest == 0 else " " + _number_words(rest))
    return str(n)


def normalised_words(text: str) -> list[str]:
    """Words as a listener hears them: lowercase, contractions spelled out ("where's" ->
    "where is"), "$500" -> "five hundred dollars", hyphens and punctuation dropped.
    Whisper writes the same words either way; a word error should not count them."""
    import re
    import unicodedata

    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = text.lower().replace("\u2019", "'").replace("-", " ").replace("&", " and ")
    text = re.sub(r"\$(\d+)", r"\1 dollars", text)
    text = re.sub(r"\b(\w+)('s|'re|'m|'ll|'ve|'d|n't)\b",
                  lambda m: ("can" if m.group(0) == "can't" else "will" if m.group(0) == "won't"
                             else m.group(1)) + _CONTRACTIONS[m.group(2)], text)
    text = re.sub(r"\d+", lambda m: _number_words(int(m.group(0))), text)
    return re.findall(r"[a-z']+", text)


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(errors, reference words) of the normalised words; two words heard for one
    ("master card" for "Mastercard", "pick up" for "pickup") count as that one."""
    ref, hyp = normalised_words(reference), normalised_words(hypothesis)
    joined = {a + b for a, b in zip(ref, ref[1:], strict=False)}
    merged: list[str] = []
    for word in hyp:
        if merged and merged[-1] + word in set(ref) and merged[-1] + word not in joined:
            merged[-1] += word
        else:
            merged.append(word)
    ref_split = [part for w in ref for part in _split_if_heard(w, merged)]
    return edit_distance(ref_split, merged), max(1, len(ref_split))


def _split_if_heard(word: str, heard: list[str]) -> list[str]:
    """`word` as two words when the hypothesis has it so ("restrooms" -> "rest rooms")."""
    for a, b in zip(heard, heard[1:], strict=False):
        if a + b == word:
            return [a, b]
    return [word]


__all__ = ["normalised_words", "word_errors", "BABBLE_SOURCES", "QUESTIONS_FILE", "VOICES", "babble", "espeak_pcm16k",
           "load_questions", "say", "speech_rms", "with_noise"]
