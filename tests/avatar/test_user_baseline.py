"""User motion relative to the user's running baseline: streaming exactness,
offset invariance, and the engine reading it live exactly as in training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avatar.audio_features import FEATURE_DIM
from avatar.generator import GeneratorConfig, MotionGenerator
from avatar.generator.sampler import sample_stream
from avatar.generator.streaming import StreamingGenerator
from avatar.motion import MOTION_DIM, column_index
from avatar.user_baseline import UserBaseline, relative_user_motion

SMILE = column_index("mouthSmileLeft")
SMALL = GeneratorConfig(hidden=64, depth=2, heads=2, encoder_heads=2, window_frames=20,
                        user_relative=True)


def _track(frames: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.2, 0.05, (frames, MOTION_DIM)), 0, 1).astype(np.float32)


def test_chunked_equals_whole_and_peek_commits_nothing() -> None:
    track = _track(300)
    present = np.ones(300, bool)
    present[100:130] = False  # the face left the camera for 1.2 s
    whole = relative_user_motion(track, present)
    baseline = UserBaseline()
    parts = []
    for a, b in ((0, 7), (7, 99), (99, 131), (131, 300)):
        peeked = baseline.peek(track[a:b], present[a:b])
        parts.append(baseline.apply(track[a:b], present[a:b]))
        np.testing.assert_array_equal(peeked, parts[-1])  # peek == apply from the same state
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-6)
    assert not whole[100:130].any()  # no face: no signal, baseline held


def test_a_new_face_after_three_seconds_away_starts_afresh() -> None:
    track = _track(300)
    track[150:, SMILE] += 0.4  # the next visitor's resting face reads more smile
    present = np.ones(300, bool)
    present[100:150] = False
    short = relative_user_motion(track, present)  # 2 s away: same person, smile stands out
    present[70:150] = False
    long = relative_user_motion(track, present)  # 3.2 s away: someone new
    assert short[152, SMILE] > 0.3
    assert abs(long[152, SMILE]) < 0.1


def test_a_smile_stands_out_and_a_resting_offset_does_not() -> None:
    """A person whose resting face reads +0.25 smile gives the same relative
    signal once the baseline has settled; a smile on top stands out fully."""
    track = _track(500)
    smiley = track.copy()
    smiley[:, SMILE] += 0.25
    pulse = np.zeros(500, np.float32)
    pulse[400:440] = 0.5
    a = relative_user_motion(track + pulse[:, None] * (np.arange(MOTION_DIM) == SMILE))
    b = relative_user_motion(smiley + pulse[:, None] * (np.arange(MOTION_DIM) == SMILE))
    np.testing.assert_allclose(a[300:, SMILE], b[300:, SMILE], atol=1e-3)
    assert a[420, SMILE] > 0.4  # the smile reads almost whole while it lasts
    assert abs(a[390, SMILE]) < 0.1  # the resting face reads ~0


def test_engine_reads_relative_motion_as_training_and_evaluation_do() -> None:
    """step(), step_window() and the batched sampler (each converting absolute
    user motion itself) give the same motion for a model trained on relative
    user motion."""
    torch.manual_seed(0)
    model = MotionGenerator(SMALL)
    with torch.no_grad():
        for p in model.parameters():
            if p.abs().sum() == 0:
                p.normal_(0.0, 0.05)
    model.eval()
    rng = np.random.default_rng(1)
    frames, n, L = 40, SMALL.block_frames, SMALL.lookahead
    a = rng.standard_normal((frames + L, FEATURE_DIM)).astype(np.float32)
    ua = rng.standard_normal((frames + L, FEATURE_DIM)).astype(np.float32)
    um = _track(frames + L, seed=2)
    ref = np.zeros(MOTION_DIM, np.float32)

    stepped = StreamingGenerator(model, ref, nfe=2, seed=3)
    by_step = np.concatenate([stepped.step(a[k:k + n], ua[k:k + n], um[k:k + n])
                              for k in range(0, frames + L - (frames + L) % n, n)])
    windowed = StreamingGenerator(model, ref, nfe=2, seed=3)
    by_window = np.concatenate([
        windowed.step_window(a[k:k + n + L], ua[k:k + n + L], um[k:k + n + L])
        for k in range(0, frames - n + 1, n)])
    batched = sample_stream(
        model, torch.from_numpy(a[:frames])[None], torch.from_numpy(ua[:frames])[None],
        torch.from_numpy(um[:frames])[None], torch.from_numpy(ref)[None],
        2, None, torch.Generator().manual_seed(3))[0].numpy()
    np.testing.assert_allclose(by_step[:frames], batched, atol=2e-5)
    # step_window has no pre-roll (the live session's convention), so it is not
    # frame-aligned with step(); what must hold is that it runs on relative motion
    assert by_window.shape == (frames, MOTION_DIM) and np.isfinite(by_window).all()
    # changing a look-ahead row that is given again later must not leak into the baseline
    probe = StreamingGenerator(model, ref, nfe=2, seed=3)
    first = um[:n + L].copy()
    first[n:] += 0.5  # provisional rows, replaced by the true ones next time
    probe.step_window(a[:n + L], ua[:n + L], first)
    windowed2 = StreamingGenerator(model, ref, nfe=2, seed=3)
    windowed2.step_window(a[:n + L], ua[:n + L], um[:n + L])
    assert probe._user_baseline is not None and windowed2._user_baseline is not None
    np.testing.assert_array_equal(probe._user_baseline.base, windowed2._user_baseline.base)


def test_a_nan_frame_is_refused_before_it_reaches_the_baseline() -> None:
    model = MotionGenerator(SMALL).eval()
    engine = StreamingGenerator(model, np.zeros(MOTION_DIM, np.float32), nfe=1)
    a = np.zeros((5, FEATURE_DIM), np.float32)
    bad = _track(5)
    bad[2, SMILE] = np.nan
    engine.step(a, a, _track(5))
    assert engine._user_baseline is not None
    before = engine._user_baseline.base.copy()
    with pytest.raises(ValueError, match="NaN"):
        engine.step(a, a, bad)
    np.testing.assert_array_equal(engine._user_baseline.base, before)
