"""The traced steady-state block step (avatar/generator/steady.py) on the shipped checkpoint.

Past its first blocks a session's step has one shape, and runs as one frozen TorchScript
graph of the eager step's own operations in the eager step's order: the motion stream
must be the eager engine's bit for bit (not merely close: the same operations on the same
numbers), and every block of another shape must take the eager step.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from avatar.generator import steady
from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, GeneratorCheckpoint, load_generator
from avatar.generator.config import GeneratorConfig
from avatar.generator.streaming import StreamingGenerator, Window, step_windows
from avatar.motion import MOTION_DIM
from avatar.portrait import Portrait

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def shipped() -> GeneratorCheckpoint:
    return load_generator(DEFAULT_CHECKPOINT)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return Portrait.default().reference_motion.astype(np.float32)


def _windows(
    cfg: GeneratorConfig, reference: np.ndarray, blocks: int, seed: int = 0
) -> list[Window]:
    """A speaking avatar and a user near the portrait who leaves the camera for a while."""
    n, L, F = cfg.block_frames, cfg.lookahead, cfg.audio_dim
    rng = np.random.default_rng(seed)
    frames = blocks * n + L
    avatar = rng.standard_normal((frames, F)).astype(np.float32)
    user_audio = (0.3 * rng.standard_normal((frames, F))).astype(np.float32)
    user_motion = (reference + 0.02 * rng.standard_normal((frames, MOTION_DIM))).astype(np.float32)
    present = np.ones(frames, bool)
    present[12 * n + 3 : 14 * n] = False  # the face lost mid-session: an input, not a shape
    return [
        Window(
            avatar[k * n : k * n + n + L],
            user_audio[k * n : k * n + n + L],
            user_motion[k * n : k * n + n + L],
            present[k * n : k * n + n + L],
        )
        for k in range(blocks)
    ]


def _stream(engine: StreamingGenerator, windows: list[Window]) -> np.ndarray:
    return np.stack(
        [
            engine.step_window(w.avatar_audio, w.user_audio, w.user_motion, w.user_present)
            for w in windows
        ]
    )


def test_the_traced_step_streams_the_eager_motion_bit_for_bit(
    shipped: GeneratorCheckpoint, reference: np.ndarray
) -> None:
    cfg = shipped.model.cfg
    blocks = 2 * cfg.window_blocks  # 4 s: the cache fills, then rolls for ten blocks
    windows = _windows(cfg, reference, blocks)
    traced = StreamingGenerator.from_loaded(shipped, reference, seed=5, traced=True)
    eager = StreamingGenerator.from_loaded(shipped, reference, seed=5, traced=False)
    assert traced._steady is not None, "the shipped checkpoint traces"
    got, expected = _stream(traced, windows), _stream(eager, windows)
    assert np.abs(expected).mean() > 0.1  # the comparison is not between zeros
    np.testing.assert_array_equal(got, expected)
    # the first blocks (cache filling, pre-roll frames in the window) ran eager, then all traced
    assert eager.traced_blocks == 0
    assert 0 < traced.traced_blocks <= blocks - (cfg.window_blocks - 1)
    assert traced.traced_blocks >= blocks - cfg.window_blocks - 2
    # the state it leaves is the eager one's: a later eager block reads it alike
    assert len(traced.cache) == len(eager.cache) == cfg.cache_frames
    for layer in range(cfg.depth):
        assert torch.equal(traced.cache.k[layer], eager.cache.k[layer])  # type: ignore[arg-type]
        assert torch.equal(traced.cache.v[layer], eager.cache.v[layer])  # type: ignore[arg-type]
    traced.anchor = eager.anchor = 0.1  # another sampling: not the traced shape, eager
    more = _windows(cfg, reference, blocks + 2, seed=1)[blocks:]
    done = traced.traced_blocks
    np.testing.assert_array_equal(_stream(traced, more), _stream(eager, more))
    assert traced.traced_blocks == done


def test_batched_steps_and_a_new_session_take_the_eager_step(
    shipped: GeneratorCheckpoint, reference: np.ndarray
) -> None:
    """Engines stepped together (`step_windows`) run the batched eager pass; one left
    alone in its shape takes the traced step; a reset session starts eager again."""
    cfg = shipped.model.cfg
    blocks = cfg.window_blocks + 3
    conds = [_windows(cfg, reference, blocks, seed=s) for s in range(2)]
    together = [
        StreamingGenerator.from_loaded(shipped, reference, seed=s, traced=True) for s in range(2)
    ]
    alone = [
        StreamingGenerator.from_loaded(shipped, reference, seed=s, traced=False) for s in range(2)
    ]
    for k in range(blocks):
        got = step_windows(together, [c[k] for c in conds])
        for engine, cond, g in zip(alone, conds, got, strict=True):
            assert isinstance(g, np.ndarray)
            e = engine.step_window(
                cond[k].avatar_audio, cond[k].user_audio, cond[k].user_motion, cond[k].user_present
            )
            np.testing.assert_allclose(g, e, atol=2e-5, rtol=0)  # wider products' rounding
    assert [e.traced_blocks for e in together] == [0, 0]
    # one engine alone is a group of one: its own step, eager once (the batched pass left
    # no condition windows to reuse), then traced
    lone = together[0]
    extra = _windows(cfg, reference, blocks + 2, seed=0)[blocks:]
    step_windows([lone], [extra[0]])
    step_windows([lone], [extra[1]])
    assert lone.traced_blocks == 1
    lone.reset(reference)  # a new session: its first blocks are not steady
    assert lone.traced_blocks == 0  # counted per session
    _stream(lone, _windows(cfg, reference, 3))
    assert lone.traced_blocks == 0


def test_turned_off_by_the_environment(
    shipped: GeneratorCheckpoint, reference: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(steady.TRACED_STEP_ENV, "0")
    engine = StreamingGenerator.from_loaded(shipped, reference)
    assert engine._steady is None
    monkeypatch.setenv(steady.TRACED_STEP_ENV, "1")
    assert StreamingGenerator.from_loaded(shipped, reference)._steady is not None


def test_a_failed_trace_is_logged_once_and_the_engine_stays_eager(
    shipped: GeneratorCheckpoint,
    reference: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """TorchScript refusing the graph (here: freezing fails) must never break a session."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("freezing refused")

    monkeypatch.setattr(torch.jit, "freeze", refuse)
    model = shipped.model
    anchor = 0.123  # a sampling no other test traced: this engine traces anew
    with caplog.at_level(logging.WARNING, logger=steady.__name__):
        engines = [
            StreamingGenerator(
                model,
                reference,
                nfe=shipped.nfe,
                guidance=shipped.guidance,
                anchor=anchor,
                traced=True,
            )
            for _ in range(2)
        ]
    assert [e._steady for e in engines] == [None, None]
    assert sum("freezing refused" in r.getMessage() for r in caplog.records) == 1
    blocks = model.cfg.window_blocks + 2
    out = _stream(engines[0], _windows(model.cfg, reference, blocks))
    assert out.shape == (blocks, model.cfg.block_frames, MOTION_DIM)
    assert np.isfinite(out).all() and engines[0].traced_blocks == 0
