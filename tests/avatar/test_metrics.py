"""Metrics on known-answer inputs (and one real synthetic-corpus speech clip)."""

from __future__ import annotations

import numpy as np
import pytest

from avatar import metrics
from avatar.motion import MOTION_DIM


def _smooth_noise(rng: np.random.Generator, frames: int, dims: int) -> np.ndarray:
    x = rng.normal(size=(frames + 8, dims))
    kernel = np.hanning(9) / np.hanning(9).sum()
    return np.stack([np.convolve(x[:, d], kernel, "valid") for d in range(dims)], axis=1)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_rpcc_zero_for_identical_and_positive_for_unrelated(rng: np.random.Generator) -> None:
    user = _smooth_noise(rng, 500, 6)
    real = 0.8 * user + 0.2 * _smooth_noise(rng, 500, 6)  # reacts to the user
    assert metrics.rpcc(user, real, real.copy()) == 0.0
    unrelated = _smooth_noise(rng, 500, 6)
    value = metrics.rpcc(user, real, unrelated)
    assert value == pytest.approx(abs(metrics.pcc(real, user) - metrics.pcc(unrelated, user)))
    assert value > 0.5


def test_pcc_known_values() -> None:
    a = np.arange(10.0)
    assert metrics.pcc(a, 2 * a + 1) == pytest.approx(1.0)
    assert metrics.pcc(a, -a) == pytest.approx(-1.0)
    assert metrics.pcc(a, np.ones(10)) == 0.0


def test_sid_uniform_over_clusters_is_log2_k(rng: np.random.Generator) -> None:
    centres = rng.normal(size=(8, 3)) * 50
    real = np.concatenate([c + rng.normal(size=(100, 3)) for c in centres])
    assert metrics.sid(real, real, k=8) == pytest.approx(3.0, abs=1e-6)  # log2(8)
    collapsed = centres[0] + rng.normal(size=(200, 3))  # a static generator
    assert metrics.sid(real, collapsed, k=8) == pytest.approx(0.0, abs=1e-9)


def test_variance_and_frechet(rng: np.random.Generator) -> None:
    a = rng.normal(size=(20000, 4))
    assert metrics.variance(a * 3.0) == pytest.approx(9.0, rel=0.05)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = a + np.array([1.0, 2.0, 0.0, 0.0])
    assert metrics.frechet_distance(a, shifted) == pytest.approx(5.0, rel=0.02)
    scaled = a * 2.0  # N(0, I) vs N(0, 4I): 4 * (1 + 4 - 2*2) = 4
    assert metrics.frechet_distance(a, scaled) == pytest.approx(4.0, rel=0.05)


@pytest.mark.parametrize("delay_frames", [0, 3, -2])
def test_lip_sync_lag_equals_delay(rng: np.random.Generator, delay_frames: int) -> None:
    env = np.abs(_smooth_noise(rng, 600, 1)[:, 0])
    jaw = np.roll(env, delay_frames)  # mouth after the audio by delay_frames
    result = metrics.lip_sync(jaw, env)
    assert result.lag_ms == pytest.approx(delay_frames * 40.0, abs=5.0)
    assert result.correlation > 0.95


def test_lip_sync_on_real_speech_envelope() -> None:
    """A jaw that follows real espeak speech 80 ms late is found 80 ms late."""
    import shutil
    import subprocess

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    import io
    import wave

    from avatar.audio_features import to_16k

    raw = subprocess.run(["espeak-ng", "--stdout", "Hello, how are you doing today, my friend?"
                          " I am fine, thank you very much."], capture_output=True).stdout
    with wave.open(io.BytesIO(raw)) as w:
        pcm = to_16k(np.frombuffer(w.readframes(w.getnframes()), np.int16), w.getframerate())
    env = metrics.audio_envelope(pcm)
    jaw = np.concatenate([np.zeros(2), env[:-2]]) * 0.5
    result = metrics.lip_sync(jaw, env)
    assert result.lag_ms == pytest.approx(80.0, abs=10.0)


def test_evaluate_keys_and_perfect_generator(rng: np.random.Generator) -> None:
    user = np.clip(_smooth_noise(rng, 400, MOTION_DIM) * 0.1 + 0.3, 0, 1)
    real = np.clip(user * 0.5 + _smooth_noise(rng, 400, MOTION_DIM) * 0.1 + 0.2, 0, 1)
    out = metrics.evaluate(user, real, real.copy())
    assert out["rpcc_pose"] == 0.0 and out["rpcc_exp"] == 0.0
    assert out["fd_exp"] == pytest.approx(0.0, abs=1e-6)
    assert out["sid_exp"] == pytest.approx(out["sid_exp_real"])
    assert out["var_pose"] == pytest.approx(out["var_pose_real"])


def test_bad_shapes_raise() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.rpcc(np.zeros((10, 3)), np.zeros((10, 3)), np.zeros((9, 3)))
    with pytest.raises(ValueError, match="frames"):
        metrics.variance(np.zeros(10))
    with pytest.raises(ValueError, match="lip sync"):
        metrics.lip_sync(np.zeros(10), np.zeros(10))
