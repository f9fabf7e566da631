"""The live lip-sync measure (benchkit/live/av_sync.py) on a jaw known beforehand."""

import numpy as np

from benchkit.live.av_sync import lip_sync, pooled_lip_sync
from benchkit.live.live_turns import TurnWindow

RATE = 16000
SPF = RATE // 25  # samples in a 40 ms slot


def _window(slots: int = 120, seed: int = 0) -> tuple[TurnWindow, np.ndarray]:
    """Reply audio in 40 ms chunks: silence, 3 s of syllables, silence; and its RMS."""
    rng = np.random.default_rng(seed)
    level = np.zeros(slots)
    level[20:95] = 0.2 + 0.15 * np.sin(2 * np.pi * 4.0 * np.arange(75) / 25.0)
    chunks = [(k * 40_000, (rng.normal(0, 1, SPF) * level[k] * 32767 / 4).astype(np.int16)
               .tobytes()) for k in range(slots)]
    rms = np.array([np.sqrt(np.mean((np.frombuffer(c, np.int16) / 32768.0) ** 2))
                    for _, c in chunks])
    return TurnWindow(audio=chunks, video=[], first_loud_pts=20 * 40_000,
                      last_loud_pts=94 * 40_000, rate=RATE), rms


def test_a_jaw_two_frames_behind_the_voice_reads_80_ms_late_and_in_sync() -> None:
    window, rms = _window()
    jaw = np.concatenate([np.zeros(2), rms[:-2]])  # the mouth follows the sound by 80 ms
    result = lip_sync(window, (0, jaw))
    assert result["lag_ms"] == 80 and result["r"] > 0.99
    assert result["r_at_0"] < result["r"]
    pooled = pooled_lip_sync([result, lip_sync(window, (0, jaw))])
    assert pooled["av_offset_ms"] == 80 and pooled["lip_sync_r"] > 0.99


def test_a_jaw_that_ignores_the_voice_does_not_correlate() -> None:
    window, _ = _window()
    jaw = np.random.default_rng(1).uniform(0, 0.3, 120)
    assert abs(lip_sync(window, (0, jaw))["r"]) < 0.4
