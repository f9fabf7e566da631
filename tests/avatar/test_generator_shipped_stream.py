"""The shipped generator's streaming path against plain uncached sampling.

The engine's block step (one merged pass a block: the previous block's cache
refresh and this block's denoising, one masked attention over the rolling cache,
the last layer's clean rows cut short, condition windows projected only where
they reach) must give the motion the paper's sampler gives when it recomputes the
whole prefix every block (`sample_sequence`, no cache, block-causal mask), on the
real checkpoint, its own NFE and guidance, over a session three attention windows
long (the cache rolls). Exact up to float rounding: the tolerance is 1e-5 on
motion whose values are ~0.2 on average.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, GeneratorCheckpoint, load_generator
from avatar.generator.sampler import DEFAULT_ANCHOR, branch_drop, sample_sequence
from avatar.generator.streaming import StreamingGenerator, Window, step_windows
from avatar.motion import MOTION_DIM
from avatar.portrait import Portrait
from avatar.user_baseline import relative_user_motion

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def shipped() -> GeneratorCheckpoint:
    return load_generator(DEFAULT_CHECKPOINT)


def _conditions(frames: int, reference: np.ndarray, audio_dim: int, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Speech-like features and a user who sits near the portrait's pose."""
    rng = np.random.default_rng(seed)
    avatar = rng.standard_normal((frames, audio_dim)).astype(np.float32)
    user_audio = 0.3 * rng.standard_normal((frames, audio_dim)).astype(np.float32)
    user_motion = (reference + 0.02 * rng.standard_normal((frames, MOTION_DIM))).astype(np.float32)
    return avatar, user_audio, user_motion


def test_the_shipped_engine_streams_what_uncached_sampling_gives(
        shipped: GeneratorCheckpoint) -> None:
    model, cfg = shipped.model.eval(), shipped.model.cfg
    reference = Portrait.default().reference_motion.astype(np.float32)
    n, L = cfg.block_frames, cfg.lookahead
    blocks = 3 * cfg.window_blocks
    conds = _conditions(blocks * n, reference, cfg.audio_dim)
    noise = torch.randn(blocks, n, MOTION_DIM, generator=torch.Generator().manual_seed(3))

    engine = StreamingGenerator.from_loaded(shipped, reference)
    streamed = np.concatenate([
        engine.step(*(c[k * n:(k + 1) * n] for c in conds), noise=noise[k:k + 1])
        for k in range(blocks)])

    rows = 1 if shipped.guidance is None else 3

    def pad(x: np.ndarray) -> torch.Tensor:  # the engine's L pre-roll frames, then a row a branch
        return torch.cat([torch.zeros(L, x.shape[1]), torch.from_numpy(x)])[None].expand(
            rows, -1, -1)

    avatar, user_audio, user_motion = conds
    if cfg.user_relative:  # read against the user's running baseline, as the engine does
        user_motion = relative_user_motion(user_motion)
    valid = torch.cat([torch.zeros(L, dtype=torch.bool), torch.ones(blocks * n, dtype=torch.bool)])
    ref = torch.from_numpy(reference)[None]
    with torch.inference_mode():
        cond = model.encode(pad(avatar), pad(user_audio), pad(user_motion), valid,
                            branch_drop(1, shipped.guidance))
        z = sample_sequence(model, noise.reshape(1, -1, MOTION_DIM), cond, ref, shipped.nfe,
                            shipped.guidance, valid, anchor=DEFAULT_ANCHOR)
        full = model.denormalize(z, ref)[0].numpy()

    assert streamed.shape == full.shape == (blocks * n, MOTION_DIM)
    assert np.abs(full).mean() > 0.1  # the comparison is not between zeros
    np.testing.assert_allclose(streamed, full, atol=1e-5, rtol=0)
    assert len(engine.cache) == cfg.cache_frames  # rolled, never grew


def test_the_shipped_engines_batched_step_as_each_alone(shipped: GeneratorCheckpoint) -> None:
    """A face worker's sessions stepped in one pass (`step_windows`) get the blocks
    each engine's own `step_window` gives, past the point where the cache rolls."""
    cfg = shipped.model.cfg
    reference = Portrait.default().reference_motion.astype(np.float32)
    n, L = cfg.block_frames, cfg.lookahead
    blocks = cfg.window_blocks + 3
    conds = [_conditions(blocks * n + L, reference, cfg.audio_dim, seed=s) for s in range(3)]
    alone = [StreamingGenerator.from_loaded(shipped, reference, seed=s) for s in range(3)]
    together = [StreamingGenerator.from_loaded(shipped, reference, seed=s) for s in range(3)]
    for k in range(blocks):
        windows = [Window(*(c[k * n:k * n + n + L] for c in cond)) for cond in conds]
        expected = [engine.step_window(w.avatar_audio, w.user_audio, w.user_motion)
                    for engine, w in zip(alone, windows, strict=True)]
        got = step_windows(together, windows)
        for e, g in zip(expected, got, strict=True):
            assert isinstance(g, np.ndarray)
            # the wider products' rounding, scaled by the pose columns' spread (values of a
            # few units): up to 1.3e-5 on a fresh machine (session 24, eager and traced alike)
            np.testing.assert_allclose(g, e, atol=2e-5, rtol=0)
