"""The jaw follows the voice it plays: the loudness of each spoken frame's own
audio blended into the generated jawOpen.

Why: since the generator learned the corpus's visemes, its jaw follows the phonemes
more than the loudness, and within a reply it keeps only part of the voice's beat;
the filter, the drawing and the re-reading each lose a little more (docs/GENERATOR.md,
"Lip sync from the generator to the wire", bench/face/lip_sync_stages.py). The generator
cannot see more: its look-ahead is two frames. But a frame's reply audio is known
when the frame is planned (it is cut from the queue with it), so its loudness can
drive the jaw with no delay and no look-ahead. The generator's jaw keeps its
phoneme shape (it still decides most of the opening); the voice adds the syllable
beat: open on loud vowels, closed in the gaps. Only jawOpen and only speaking frames change; the lips' shapes (rounding) and
listening are the generator's.

Loudness is the frame's power between 300 and 3,000 Hz (where the first formant, the
one the jaw's opening raises, lives: a hiss or a hum opens the jaw less than a
vowel), to the power 1/3 (as avatar/metrics.py `audio_envelope`: opening grows
sub-linearly with power), over the voice's running level, an average of its voiced
frames over about two seconds, so any TTS voice, loud or quiet, drives the same jaw
range; it starts at the bundled piper voice's level.
"""

from __future__ import annotations

import numpy as np

#: jawOpen the voice asks for at its running level (near the generator's own mean
#: jaw while speaking; loud vowels reach about twice the level)
JAW_AT_LEVEL = 0.2
#: the most the voice opens the jaw
JAW_MAX = 0.6
#: the bundled piper voice's running level (band power^(1/3) of voiced 40 ms frames)
START_LEVEL = 0.18
#: the band whose power is the loudness (Hz)
BAND_HZ = (300.0, 3000.0)
#: frames the running level averages over (2 s)
LEVEL_FRAMES = 50
#: a frame counts as voiced above this share of the running level
VOICED_SHARE = 0.25


class VoiceJaw:
    """Blends each speaking frame's loudness into the jaw; one per session (it keeps
    the voice's running level)."""

    def __init__(self, weight: float, rate: int) -> None:
        """`weight`: the voice's share of the speaking jaw, 0 (the generator's alone)..1;
        `rate`: the sample rate of the frames' audio."""
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"voice jaw weight must be 0..1, got {weight}")
        if rate < 2 * BAND_HZ[1]:
            raise ValueError(f"voice jaw needs audio at {2 * BAND_HZ[1]:.0f} Hz or more, "
                             f"got {rate}")
        self.weight = weight
        self.rate = rate
        self.level = START_LEVEL

    def __call__(self, jaw: np.ndarray, frames: np.ndarray, speaking: np.ndarray) -> np.ndarray:
        """jawOpen (n,) with the voice blended in where `speaking` (n,) is set;
        `frames` (n, samples): each frame's played audio, int16 or float in [-1, 1]."""
        jaw = np.asarray(jaw, np.float32)
        audio = np.asarray(frames)
        if audio.ndim != 2 or len(audio) != len(jaw) or np.shape(speaking) != jaw.shape:
            raise ValueError(f"voice jaw needs (n,) jaw, (n, samples) audio and (n,) speaking; "
                             f"got {jaw.shape}, {audio.shape}, {np.shape(speaking)}")
        loudness = band_power(audio, self.rate) ** (1.0 / 3.0)
        out = jaw.copy()
        for k in np.flatnonzero(speaking):
            if loudness[k] > VOICED_SHARE * self.level:
                self.level += (loudness[k] - self.level) / LEVEL_FRAMES
            out[k] = (1.0 - self.weight) * jaw[k] + self.weight * self._target(loudness[k])
        return out

    def opening(self, frames: np.ndarray) -> np.ndarray:
        """jawOpen (n,) the voice alone asks for in each frame of `frames` (n, samples),
        at the running level and without moving it: a reply's first frame, planned
        before the generator's step, opens the jaw with its own audio
        (`AvatarSession.open_block`); the step then counts the frame as ever."""
        loudness = band_power(np.asarray(frames), self.rate) ** (1.0 / 3.0)
        return self._target(loudness).astype(np.float32)

    def _target(self, loudness: np.ndarray) -> np.ndarray:
        """The jaw the voice asks for at `loudness` (cube root of band power), at the
        running level: JAW_AT_LEVEL at the level, at most JAW_MAX."""
        return np.minimum(JAW_MAX, JAW_AT_LEVEL * loudness / self.level)


def band_power(frames: np.ndarray, rate: int) -> np.ndarray:
    """Mean power per frame of (n, samples) audio in BAND_HZ (int16 read as [-1, 1]):
    the mean square the frame would have band-passed (Hann window, power-corrected)."""
    scale = 32768.0 if frames.dtype == np.int16 else 1.0
    audio = frames.astype(np.float64) / scale
    window = np.hanning(audio.shape[1])
    spectrum = np.abs(np.fft.rfft(audio * window, axis=1)) ** 2
    freqs = np.fft.rfftfreq(audio.shape[1], 1.0 / rate)
    band = (freqs >= BAND_HZ[0]) & (freqs < BAND_HZ[1])
    return 2.0 * spectrum[:, band].sum(axis=1) / (audio.shape[1] * np.sum(window ** 2))


__all__ = ["VoiceJaw", "band_power"]
