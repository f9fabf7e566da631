"""The voice's loudness blended into the speaking jaw (avatar/live/voice_jaw.py)."""

import numpy as np
import pytest

from avatar.live.voice_jaw import VoiceJaw

RATE = 22050
SPF = RATE // 25  # 40 ms


def _syllables(frames: int, amplitude: float, seed: int = 0) -> np.ndarray:
    """(frames, SPF) noise bursts at 4 syllables a second: loud, loud, quiet, ... ."""
    rng = np.random.default_rng(seed)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * np.arange(frames) / 25.0)
    return rng.normal(0, 1, (frames, SPF)) * (amplitude * envelope)[:, None]


def test_the_jaw_opens_with_the_voice_only_while_speaking() -> None:
    frames = 100
    audio = _syllables(frames, 0.1)
    jaw = np.full(frames, 0.15, np.float32)  # a generator jaw that ignores the beat
    speaking = np.arange(frames) >= 50
    out = VoiceJaw(0.3, RATE)(jaw, audio, speaking)
    np.testing.assert_array_equal(out[:50], jaw[:50])  # listening: the generator's jaw
    loudness = np.sqrt((audio ** 2).mean(axis=1))
    assert np.corrcoef(out[50:], loudness[50:])[0, 1] > 0.9
    assert out[50:].max() > 0.15 > out[50:].min()
    # weight 0: the generator's jaw alone
    np.testing.assert_array_equal(VoiceJaw(0.0, RATE)(jaw, audio, speaking), jaw)


def test_a_quiet_voice_drives_the_same_jaw_once_its_level_is_known() -> None:
    frames = 400  # 16 s: the running level settles in a few seconds
    jaw = np.full(frames, 0.15, np.float32)
    speaking = np.ones(frames, bool)
    loud = VoiceJaw(0.3, RATE)(jaw, _syllables(frames, 0.2), speaking)
    quiet = VoiceJaw(0.3, RATE)(jaw, _syllables(frames, 0.02), speaking)
    assert abs(loud[-100:].mean() - quiet[-100:].mean()) < 0.01
    assert abs(loud[-100:].std() - quiet[-100:].std()) < 0.01
    # int16 frames read as the same float audio
    pcm = np.clip(_syllables(50, 0.1) * 32768, -32768, 32767).astype(np.int16)
    np.testing.assert_allclose(VoiceJaw(0.3, RATE)(jaw[:50], pcm, speaking[:50]),
                               VoiceJaw(0.3, RATE)(jaw[:50], pcm / 32768.0, speaking[:50]), atol=1e-3)


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="weight"):
        VoiceJaw(1.5, RATE)
    with pytest.raises(ValueError, match="6000 Hz or more"):
        VoiceJaw(0.3, 4000)
    with pytest.raises(ValueError, match="voice jaw needs"):
        VoiceJaw(0.3, RATE)(np.zeros(5), np.zeros((4, SPF)), np.ones(5, bool))
