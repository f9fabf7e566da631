"""The causal One-Euro filter on generated motion."""

import numpy as np
import pytest

from avatar.motion import MOTION_DIM, column_index, neutral_frame
from avatar.motion_filter import SPEECH_COLUMNS, MotionFilter

YAW = column_index("yaw")
JAW = column_index("jawOpen")


def _track(frames: int = 250, seed: int = 0) -> np.ndarray:
    """A slow head turn and a syllable-rate jaw, plus frame-to-frame jitter."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 25.0
    clean = np.repeat(neutral_frame()[None], frames, axis=0)
    clean[:, YAW] = 8 * np.sin(2 * np.pi * 0.2 * t)
    clean[:, JAW] = 0.25 + 0.2 * np.sin(2 * np.pi * 4.0 * t)
    noisy = clean.copy()
    noisy[:, YAW] += rng.normal(0, 1.0, frames)
    noisy[:, JAW] += rng.normal(0, 0.03, frames)
    return clean, noisy


def test_block_by_block_equals_whole_track() -> None:
    _, noisy = _track()
    whole = MotionFilter()(noisy)
    streamed = MotionFilter()
    blocks = np.concatenate([streamed(noisy[i:i + 5]) for i in range(0, len(noisy), 5)])
    np.testing.assert_allclose(blocks, whole, rtol=1e-6, atol=1e-6)


def test_removes_pose_jitter_and_keeps_the_jaw_moving() -> None:
    clean, noisy = _track()
    out = MotionFilter()(noisy)
    jitter = lambda x: np.mean(np.abs(np.diff(x)))  # noqa: E731
    # the clean turn itself moves ~0.26 deg a frame; the noise adds ~0.9
    assert jitter(out[:, YAW]) < 0.4 * jitter(noisy[:, YAW])
    assert np.abs(out[:, YAW] - clean[:, YAW])[25:].mean() < np.abs(noisy[:, YAW] - clean[:, YAW])[25:].mean()
    # syllables survive: the 4 Hz jaw keeps most of its swing and tracks the clean one
    assert np.std(out[25:, JAW]) > 0.6 * np.std(clean[25:, JAW])
    assert np.corrcoef(out[25:, JAW], clean[25:, JAW])[0, 1] > 0.8


def test_reset_and_bad_input() -> None:
    f = MotionFilter()
    first = f(np.full((1, MOTION_DIM), 0.5, dtype=np.float32))
    np.testing.assert_allclose(first, 0.5)
    f.reset()
    np.testing.assert_allclose(f(np.zeros((1, MOTION_DIM))), 0.0)
    with pytest.raises(ValueError, match="motion block"):
        f(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="fps"):
        MotionFilter(fps=0)


def test_speaking_frames_keep_more_of_the_jaw_and_nothing_else_changes() -> None:
    clean, noisy = _track()
    speaking = np.ones(len(noisy), bool)
    listening_out = MotionFilter()(noisy)
    speaking_out = MotionFilter()(noisy, speaking)
    # the articulating jaw follows the syllables closer (less lag and damping)
    err = lambda out: np.abs(out[25:, JAW] - clean[25:, JAW]).mean()  # noqa: E731
    assert err(speaking_out) < err(listening_out)
    assert np.std(speaking_out[25:, JAW]) > np.std(listening_out[25:, JAW])
    # head pose and the smiles are filtered as while listening
    others = [c for c in range(MOTION_DIM) if c not in {column_index(n) for n in SPEECH_COLUMNS}]
    np.testing.assert_array_equal(speaking_out[:, others], listening_out[:, others])
    # no speaking frame at all: exactly the listening filter
    np.testing.assert_array_equal(MotionFilter()(noisy, ~speaking), listening_out)


def test_speaking_mask_streams_block_by_block_and_is_checked() -> None:
    _, noisy = _track()
    speaking = (np.arange(len(noisy)) // 40) % 2 == 1  # turns of 1.6 s
    whole = MotionFilter()(noisy, speaking)
    streamed = MotionFilter()
    blocks = np.concatenate([streamed(noisy[i:i + 5], speaking[i:i + 5])
                             for i in range(0, len(noisy), 5)])
    np.testing.assert_allclose(blocks, whole, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="speaking must be"):
        MotionFilter()(noisy[:5], speaking[:4])
