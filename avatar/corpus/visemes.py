"""Mouth shapes from speech: phoneme timing -> visemes, or audio energy -> jaw.

Why: the speaker's mouth is the part of synthetic motion that must be exactly
right in time (lip sync is measured). Piper gives per-phoneme sample counts, so
each 40 ms frame takes the duration-weighted mean of the phoneme targets it
covers (a box filter ~ coarticulation), with a 20 ms look-ahead, which is
allowed because the avatar's own TTS audio is known before it is played.
For espeak voices (no timing) the jaw follows the smoothed energy envelope.

Target values are blendshape amplitudes in the ranges mediapipe measures on
real talking faces (jawOpen 0.05-0.5 while talking, lips closed on p/b/m).
"""

from __future__ import annotations

import numpy as np

from avatar.audio_features import FPS
from avatar.motion import MOTION_DIM, column_index

_J = column_index("jawOpen")
_CLOSE = column_index("mouthClose")
_FUNNEL = column_index("mouthFunnel")
_PUCKER = column_index("mouthPucker")
_PRESS = (column_index("mouthPressLeft"), column_index("mouthPressRight"))
_STRETCH = (column_index("mouthStretchLeft"), column_index("mouthStretchRight"))
_LOWER = (column_index("mouthLowerDownLeft"), column_index("mouthLowerDownRight"))
_UPPER = (column_index("mouthUpperUpLeft"), column_index("mouthUpperUpRight"))
_ROLL_LOWER = column_index("mouthRollLower")
_SHRUG_UPPER = column_index("mouthShrugUpper")

# name -> (jawOpen, close, funnel, pucker, press, stretch, lowerDown, upperUp, rollLower)
_SHAPES: dict[str, tuple[float, ...]] = {
    "rest": (0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "open": (0.42, 0.0, 0.05, 0.0, 0.0, 0.05, 0.30, 0.10, 0.0),  # a ɑ æ ʌ
    "mid": (0.26, 0.0, 0.02, 0.0, 0.0, 0.12, 0.20, 0.08, 0.0),  # e ɛ
    "schwa": (0.18, 0.0, 0.02, 0.0, 0.0, 0.04, 0.12, 0.05, 0.0),  # ə ɜ ɚ ɐ
    "close_front": (0.12, 0.0, 0.0, 0.0, 0.0, 0.22, 0.10, 0.08, 0.0),  # i ɪ
    "round_open": (0.30, 0.0, 0.35, 0.20, 0.0, 0.0, 0.12, 0.04, 0.0),  # o ɔ ɒ
    "round_close": (0.12, 0.0, 0.25, 0.50, 0.0, 0.0, 0.04, 0.02, 0.0),  # u ʊ w
    "bilabial": (0.03, 0.35, 0.0, 0.0, 0.35, 0.0, 0.0, 0.0, 0.05),  # p b m
    "labiodental": (0.06, 0.05, 0.0, 0.0, 0.05, 0.0, 0.0, 0.15, 0.40),  # f v
    "dental": (0.10, 0.0, 0.0, 0.0, 0.0, 0.08, 0.08, 0.05, 0.0),  # θ ð
    "alveolar": (0.08, 0.0, 0.0, 0.0, 0.0, 0.15, 0.06, 0.04, 0.0),  # t d n l s z
    "postalveolar": (0.10, 0.0, 0.30, 0.25, 0.0, 0.0, 0.10, 0.08, 0.0),  # ʃ ʒ
    "velar": (0.15, 0.0, 0.0, 0.0, 0.0, 0.06, 0.08, 0.04, 0.0),  # k ɡ ŋ h
    "rhotic": (0.12, 0.0, 0.20, 0.18, 0.0, 0.0, 0.06, 0.04, 0.0),  # ɹ r
    "glide": (0.10, 0.0, 0.0, 0.0, 0.0, 0.18, 0.06, 0.05, 0.0),  # j
}
_PHONEME_CLASS: dict[str, str] = {}
for _cls, _chars in {
    "open": "aɑæʌ", "mid": "eɛ", "schwa": "əɜɚɐᵻ", "close_front": "iɪy",
    "round_open": "oɔɒ", "round_close": "uʊw", "bilabial": "pbm", "labiodental": "fv",
    "dental": "θð", "alveolar": "tdnlszɾ", "postalveolar": "ʃʒ", "velar": "kɡgŋhx",
    "rhotic": "ɹr", "glide": "j",
}.items():
    for _ch in _chars:
        _PHONEME_CLASS[_ch] = _cls

_STRESS = {"ˈ", "ˌ"}
_LENGTH = "ː"


def _shape_vector(name: str) -> np.ndarray:
    jaw, close, funnel, pucker, press, stretch, lower, upper, roll = _SHAPES[name]
    v = np.zeros(MOTION_DIM, dtype=np.float32)
    v[_J], v[_CLOSE], v[_FUNNEL], v[_PUCKER] = jaw, close, funnel, pucker
    v[list(_PRESS)] = press
    v[list(_STRETCH)] = stretch
    v[list(_LOWER)] = lower
    v[list(_UPPER)] = upper
    v[_ROLL_LOWER] = roll
    v[_SHRUG_UPPER] = 0.5 * close
    return v


SHAPE_VECTORS: dict[str, np.ndarray] = {name: _shape_vector(name) for name in _SHAPES}
MOUTH_COLUMNS: np.ndarray = np.nonzero(np.any([v for v in SHAPE_VECTORS.values()], axis=0))[0]


def phoneme_class(phoneme: str) -> str:
    """Viseme class of one piper/espeak IPA symbol; pauses and unknowns are 'rest'."""
    return _PHONEME_CLASS.get(phoneme, "rest")


def resolve_phonemes(
    phonemes: list[tuple[str, float, float]],
) -> tuple[list[tuple[str, float, float]], list[float]]:
    """Turn raw piper alignments into (viseme class, t0, t1) spans and stress times.

    Piper gives stress marks and the length mark their own durations: a stress
    mark's span belongs to the next phoneme (and marks a stressed syllable), a
    length mark's span extends the previous one.
    """
    spans: list[tuple[str, float, float]] = []
    stresses: list[float] = []
    pending_start: float | None = None
    for ph, t0, t1 in phonemes:
        if ph in _STRESS:
            pending_start = t0 if pending_start is None else pending_start
            stresses.append(t0)
            continue
        if ph == _LENGTH and spans:
            cls, s0, _ = spans[-1]
            spans[-1] = (cls, s0, t1)
            continue
        start = pending_start if pending_start is not None else t0
        pending_start = None
        spans.append((phoneme_class(ph), start, t1))
    return spans, stresses


def phoneme_mouth(
    spans: list[tuple[str, float, float]], n_frames: int, offset_s: float = 0.0,
    lookahead_s: float = 0.02, gain: float = 1.0,
) -> np.ndarray:
    """(n_frames, MOTION_DIM) mouth offsets from viseme spans placed at `offset_s`.

    Frame t covers [t/FPS, (t+1)/FPS) shifted by `lookahead_s` earlier; each
    column is the duration-weighted mean of the targets overlapping it.
    """
    out = np.zeros((n_frames, MOTION_DIM), dtype=np.float32)
    frame_s = 1.0 / FPS
    for cls, t0, t1 in spans:
        a, b = t0 + offset_s - lookahead_s, t1 + offset_s - lookahead_s
        if b <= 0 or cls == "rest":
            continue
        vec = SHAPE_VECTORS[cls] * gain
        f0, f1 = max(0, int(a // frame_s)), min(n_frames - 1, int(b // frame_s))
        for f in range(f0, f1 + 1):
            overlap = min(b, (f + 1) * frame_s) - max(a, f * frame_s)
            if overlap > 0:
                out[f] += vec * (overlap / frame_s)
    # jaw and lips cannot follow 30-60 ms phonemes one by one: a [1, 2, 1] / 4 blend
    # with the neighbouring frames (the next one is known: own TTS audio) smooths it.
    smoothed = out.copy()
    smoothed[1:] += 0.25 * (out[:-1] - out[1:])
    smoothed[:-1] += 0.25 * (out[1:] - out[:-1])
    return smoothed


class EnergyMouth:
    """Jaw from frame energy, one frame at a time (causal one-pole smoothing).

    Why this mapping: jaw opening follows loudness roughly log-linearly; -45 dBFS
    (breath) -> closed, -10 dBFS (loud vowel) -> 0.45. Opens faster than it closes.
    """

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain
        self._smooth = 0.0

    def step(self, energy_db: float) -> np.ndarray:
        """Mouth offsets (MOTION_DIM,) for one frame."""
        x = min(1.0, max(0.0, (energy_db + 45.0) / 35.0))
        self._smooth += (0.7 if x > self._smooth else 0.5) * (x - self._smooth)
        out = SHAPE_VECTORS["schwa"] * 0.3 * self._smooth * self.gain
        out[_J] = 0.45 * self._smooth * self.gain
        out[list(_LOWER)] = 0.25 * self._smooth * self.gain
        return out


def energy_mouth(energy_db: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """(T, MOTION_DIM) mouth offsets from frame energy: EnergyMouth over a whole track."""
    mouth = EnergyMouth(gain)
    out = np.zeros((len(energy_db), MOTION_DIM), dtype=np.float32)
    for t, e in enumerate(energy_db):
        out[t] = mouth.step(float(e))
    return out
