"""Per-frame audio signals the motion rules react to: energy in dBFS and a causal VAD.

Why not the model's log-mel: the rules are hand-written thresholds that must
behave the same on synthetic speech and on a real microphone, so they use the
plainest measures there are. Both are causal (frame t sees samples <= t).
"""

from __future__ import annotations

import numpy as np

from avatar.audio_features import SAMPLES_PER_FRAME

SILENCE_DB: float = -100.0
VAD_ON_DB: float = -38.0  # frame energy above this is voice (mic noise sits below -50)
VAD_HANGOVER_FRAMES: int = 5  # 200 ms: short stops inside words are not pauses
NOISE_MARGIN_DB: float = 15.0  # speech must stand this far above a noisy mic's floor


def frame_energy_db(pcm: np.ndarray) -> np.ndarray:
    """Mean-square energy of each whole 640-sample frame in dBFS: (len // 640,)."""
    n = len(pcm) // SAMPLES_PER_FRAME
    frames = pcm[: n * SAMPLES_PER_FRAME].astype(np.float64).reshape(n, SAMPLES_PER_FRAME)
    return (10.0 * np.log10((frames**2).mean(axis=1) + 1e-10)).astype(np.float32)


class CausalVad:
    """Energy VAD with hangover, one frame at a time (the live path uses this too).

    The threshold is VAD_ON_DB, raised to NOISE_MARGIN_DB above a tracked noise
    floor when the microphone is noisy (the floor follows quiet frames quickly
    and loud ones very slowly), so a real room at -45 dBFS is not "speech".
    On the synthetic corpus (noise -68..-52 dBFS) the fixed threshold rules.
    """

    def __init__(self, on_db: float = VAD_ON_DB, hangover: int = VAD_HANGOVER_FRAMES) -> None:
        self.on_db = on_db
        self.hangover = hangover
        self._since_voice = hangover + 1
        self._floor: float | None = None

    def step(self, energy_db: float) -> bool:
        """True while voice is present or was present less than `hangover` frames ago."""
        if self._floor is None:
            self._floor = energy_db
        rate = 0.3 if energy_db < self._floor else 0.001
        self._floor += rate * (energy_db - self._floor)
        threshold = max(self.on_db, self._floor + NOISE_MARGIN_DB)
        self._since_voice = 0 if energy_db > threshold else self._since_voice + 1
        return self._since_voice <= self.hangover


def vad(energy_db: np.ndarray) -> np.ndarray:
    """Offline run of CausalVad over a whole track: (T,) bool."""
    detector = CausalVad()
    return np.array([detector.step(float(e)) for e in energy_db], dtype=bool)
