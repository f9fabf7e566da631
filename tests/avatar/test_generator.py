"""Generator model, samplers and streaming engine: exactness properties (fast).

Random-weight models here are not mocks: these tests check structural
properties that must hold for ANY weights (streamed == full-sequence sampling,
RoPE relativity, causality, guidance arithmetic, checkpoint round trips).
The zero-initialised output/modulation layers are re-initialised with noise so
that every path through the network carries signal.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.audio_features import FEATURE_DIM
from avatar.generator import GeneratorConfig, Guidance, KVCache, MotionGenerator
from avatar.generator.attention import block_causal_mask
from avatar.generator.checkpoint import export_checkpoint, load_generator, save_checkpoint
from avatar.generator.config import TrainConfig, load_pipeline
from avatar.generator.losses import Batch, column_weight_vector, diffusion_forcing_loss
from avatar.generator.rope import Rope
from avatar.generator.sampler import (
    DEFAULT_ANCHOR,
    branch_drop,
    sample_sequence,
    sample_stream,
    velocity,
)
from avatar.generator.streaming import StreamingGenerator
from avatar.motion import MOTION_DIM, column_index

REPO = Path(__file__).resolve().parents[2]
torch.set_num_threads(1)  # tiny tensors: more threads only add contention on 2 cores
SMALL = GeneratorConfig(hidden=64, depth=2, heads=2, encoder_heads=2, window_frames=20)


def _random_model(cfg: GeneratorConfig = SMALL, seed: int = 0) -> MotionGenerator:
    torch.manual_seed(seed)
    model = MotionGenerator(cfg)
    with torch.no_grad():
        for p in model.parameters():
            if p.abs().sum() == 0:
                p.normal_(0.0, 0.05)
    return model.eval()


def _conditions(frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((frames, FEATURE_DIM)).astype(np.float32),
            rng.standard_normal((frames, FEATURE_DIM)).astype(np.float32),
            rng.standard_normal((frames, MOTION_DIM)).astype(np.float32))


def _full_reference(model: MotionGenerator, conds: tuple[np.ndarray, ...], noise: torch.Tensor,
                    reference: np.ndarray, nfe: int, guidance: Guidance | None) -> np.ndarray:
    """Uncached whole-sequence sampling in the engine's frame convention
    (`lookahead` pre-roll frames of invalid condition before the stream)."""
    L = model.cfg.lookahead
    rows = 1 if guidance is None else 3

    def pad(x: np.ndarray) -> torch.Tensor:
        t = torch.cat([torch.zeros(L, x.shape[1]), torch.from_numpy(x)])
        return t[None].expand(rows, -1, -1)

    valid = torch.cat([torch.zeros(L, dtype=torch.bool), torch.ones(len(conds[0]), dtype=torch.bool)])
    with torch.no_grad():
        cond = model.encode(*(pad(c) for c in conds), valid, branch_drop(1, guidance))
        ref = torch.from_numpy(reference)[None]
        z = sample_sequence(model, noise, cond, ref, nfe, guidance, valid, anchor=DEFAULT_ANCHOR)
        return model.denormalize(z, ref)[0].numpy()


@pytest.mark.parametrize(("nfe", "guidance"), [(2, None), (3, Guidance(2.0, 1.0))])
def test_streamed_equals_full_sequence(nfe: int, guidance: Guidance | None) -> None:
    """The KV-cached, block-by-block engine reproduces uncached causal sampling
    for the same noise, over a session 3x longer than the attention window."""
    model = _random_model()
    n = model.cfg.block_frames
    blocks = 3 * model.cfg.window_blocks
    conds = _conditions(blocks * n)
    reference = np.random.default_rng(1).standard_normal(MOTION_DIM).astype(np.float32) * 0.1
    noise = torch.randn(blocks, n, MOTION_DIM, generator=torch.Generator().manual_seed(3))
    engine = StreamingGenerator(model, reference, nfe=nfe, guidance=guidance)
    streamed = np.concatenate([
        engine.step(*(c[k * n:(k + 1) * n] for c in conds), noise=noise[k:k + 1])
        for k in range(blocks)
    ])
    full = _full_reference(model, conds, noise.reshape(1, -1, MOTION_DIM), reference, nfe,
                           guidance)
    assert streamed.shape == (blocks * n, MOTION_DIM)
    assert np.abs(full).mean() > 0.1  # the comparison is not between zeros
    np.testing.assert_allclose(streamed, full, atol=2e-5, rtol=0)
    assert len(engine.cache) == model.cfg.cache_frames  # rolled, never grew


def test_batched_sessions_equal_the_engine() -> None:
    """`sample_stream` (evaluation: many sessions in one batch) reproduces the
    engine session by session, incl. guidance and the no-user-motion ablation."""
    model = _random_model()
    for guidance, use_user_motion in ((None, True), (Guidance(), False)):
        conds = [_conditions(40, seed=b) for b in range(3)]
        refs = np.stack([np.full(MOTION_DIM, 0.1 * b, np.float32) for b in range(3)])
        noise = torch.randn(3, 40, MOTION_DIM, generator=torch.Generator().manual_seed(4))
        engine_out = []
        for b in range(3):
            eng = StreamingGenerator(model, refs[b], nfe=2, guidance=guidance,
                                     use_user_motion=use_user_motion)
            engine_out.append(np.concatenate([
                eng.step(*(c[k:k + 5] for c in conds[b]), noise=noise[b, k:k + 5][None])
                for k in range(0, 40, 5)]))

        a, ua, um = (torch.from_numpy(np.stack([c[i] for c in conds])) for i in range(3))
        batched = sample_stream(model, a, ua, um, torch.from_numpy(refs), 2,
                                guidance, use_user_motion=use_user_motion, noise=noise)
        np.testing.assert_allclose(batched.numpy(), np.stack(engine_out), atol=2e-5)


def test_engine_accepts_any_chunking_and_reset_replays() -> None:
    """Uneven chunks give the same motion as block-sized ones; reset() restarts
    the session exactly (same seed -> same noise -> same motion)."""
    model = _random_model()
    conds = _conditions(60, seed=5)
    ref = np.zeros(MOTION_DIM, np.float32)
    engine = StreamingGenerator(model, ref, nfe=1, seed=7)
    by_block = np.concatenate([engine.step(*(c[i:i + 5] for c in conds)) for i in range(0, 60, 5)])
    engine.reset(seed=7)
    chunks = [0, 3, 11, 12, 30, 47, 60]
    uneven = np.concatenate([engine.step(*(c[a:b] for c in conds))
                             for a, b in zip(chunks, chunks[1:], strict=False)])
    np.testing.assert_allclose(by_block, uneven, atol=1e-6)


def test_future_conditions_beyond_lookahead_do_not_change_the_past() -> None:
    """Causality: changing the conditions from frame f on leaves every motion frame
    before f - lookahead untouched (the reaction latency is really bounded)."""
    model = _random_model()
    a, ua, um = _conditions(40, seed=2)
    ref = np.zeros(MOTION_DIM, np.float32)
    outs = []
    for change in (False, True):
        a2 = a.copy()
        if change:
            a2[25:] += 3.0
        eng = StreamingGenerator(model, ref, nfe=2, seed=1)
        outs.append(np.concatenate([eng.step(a2[i:i + 5], ua[i:i + 5], um[i:i + 5])
                                    for i in range(0, 40, 5)]))
    L = model.cfg.lookahead
    # output frame j shows input frame j - L; it may see input frames up to j
    np.testing.assert_array_equal(outs[0][:25], outs[1][:25])
    assert np.abs(outs[0][25 + L:] - outs[1][25 + L:]).max() > 1e-4


def test_rope_scores_depend_only_on_distance() -> None:
    """Why window-relative positions are safe: shifting every position by the
    same offset leaves q.k unchanged, so angles never need to grow."""
    rope = Rope(16, max_positions=50)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)
    s1 = (rope(q, torch.tensor([7])) * rope(k, torch.tensor([3]))).sum()
    s2 = (rope(q, torch.tensor([47])) * rope(k, torch.tensor([43]))).sum()
    s3 = (rope(q, torch.tensor([100_007])) * rope(k, torch.tensor([100_003]))).sum()
    assert torch.allclose(s1, s2, atol=1e-5)
    assert torch.allclose(s1, s3, atol=1e-3)  # far beyond the table: computed on the fly


def test_block_causal_mask_window() -> None:
    mask = block_causal_mask(20, block_frames=5, window_blocks=2)
    assert mask[4, 0:5].all() and not mask[4, 5:].any()  # whole own block, no future
    assert mask[12, 5:15].all() and not mask[12, :5].any()  # previous block only (window 2)


def test_guidance_combines_the_three_branches() -> None:
    """w_a = w_u = 0 gives the unconditional branch; w_a = 1, w_u = 1 the full one."""
    model = _random_model()
    B, T = 2, 10
    a, ua, um = (torch.from_numpy(c)[None].expand(B, -1, -1) for c in _conditions(T + 2))
    x, ref = torch.randn(B, T, MOTION_DIM), torch.zeros(B, MOTION_DIM)
    with torch.no_grad():
        cond3 = model.encode(a.repeat(3, 1, 1), ua.repeat(3, 1, 1), um.repeat(3, 1, 1),
                             drop=branch_drop(B, Guidance()))
        v_full, _, v_none = model(x.repeat(3, 1, 1), torch.full((3 * B, T), 0.3), cond3,
                                  ref.repeat(3, 1)).split(B)
        v00 = velocity(model, x, 0.3, cond3, ref, Guidance(0.0, 0.0))
        v11 = velocity(model, x, 0.3, cond3, ref, Guidance(1.0, 1.0))
    torch.testing.assert_close(v00, v_none)
    torch.testing.assert_close(v11, v_full, atol=1e-5, rtol=1e-5)
    assert (v_full - v_none).abs().max() > 1e-3


def test_kv_cache_rolls_and_bounds_memory() -> None:
    cache = KVCache(depth=2, max_frames=10)
    for _ in range(7):
        for layer in range(2):
            cache.append(layer, torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8))
    assert len(cache) == 10 and cache.frames_seen == 35
    assert cache.nbytes() == 2 * 2 * (1 * 2 * 10 * 8) * 4
    cache.reset()
    assert len(cache) == 0


def test_checkpoint_round_trip_and_half_export(tmp_path: Path) -> None:
    model = _random_model()
    path = save_checkpoint(tmp_path / "m.safetensors", model, {"stage": "teacher", "nfe": 10,
                                                               "guidance": None})
    loaded = load_generator(path)
    assert loaded.model.cfg == model.cfg and loaded.nfe == 10 and loaded.guidance is None
    for (name, a), b in zip(model.state_dict().items(), loaded.model.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
    half = export_checkpoint(path, tmp_path / "h.safetensors")
    assert half.stat().st_size < 0.6 * path.stat().st_size
    h = load_generator(half).model.state_dict()
    assert all(torch.allclose(v.float(), h[k].float(), atol=1e-3, rtol=1e-3)
               for k, v in model.state_dict().items())


def test_bad_inputs_raise_clear_errors(tmp_path: Path) -> None:
    model = _random_model()
    engine = StreamingGenerator(model, np.zeros(MOTION_DIM, np.float32), nfe=1)
    a, ua, um = _conditions(5)
    with pytest.raises(ValueError, match="user_motion"):
        engine.step(a, ua, um[:, :10])
    with pytest.raises(ValueError, match="lengths differ"):
        engine.step(a, ua[:4], um)
    with pytest.raises(ValueError, match="reference"):
        engine.reset(np.zeros(3, np.float32))
    with pytest.raises(FileNotFoundError):
        load_generator(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError):
        load_generator(tmp_path / "junk.safetensors")
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({"stepz": 3})
    with pytest.raises(ValueError, match="init_from"):
        TrainConfig(stage="dpo")
    with pytest.raises(ValueError, match="mouthFunel"):
        TrainConfig(column_weights={"mouthFunel": 4.0})
    with pytest.raises(ValueError, match="positive"):
        TrainConfig(column_weights={"mouthFunnel": 0.0})


def test_column_weights_scale_only_their_columns() -> None:
    """A column weight multiplies that column's share of the teacher loss and
    nothing else: the same batch and noise with mouthFunnel x4 adds exactly 3x
    the funnel column's own error (the issue-35 retrain leans on this)."""
    torch.manual_seed(0)
    model = _random_model()
    B, T = 2, model.cfg.window_frames
    Tc = T + model.cfg.lookahead
    a, ua, um = (torch.from_numpy(x) for x in _conditions(Tc))
    batch = Batch(x1=torch.randn(B, T, MOTION_DIM) * model.active,
                  avatar_audio=a[None].repeat(B, 1, 1), user_audio=ua[None].repeat(B, 1, 1),
                  user_motion=um[None].repeat(B, 1, 1), reference=torch.zeros(B, MOTION_DIM))
    funnel = column_index("mouthFunnel")
    only_funnel = torch.zeros(MOTION_DIM)
    only_funnel[funnel] = 1.0

    @torch.no_grad()
    def loss(columns: torch.Tensor | None) -> float:
        return float(diffusion_forcing_loss(model, batch, 0.0, 0.5,
                                            torch.Generator().manual_seed(3), columns)[0])

    assert column_weight_vector({}) is None
    weighted = column_weight_vector({"mouthFunnel": 4.0})
    assert weighted is not None and weighted[funnel] == 4.0 and weighted.sum() == MOTION_DIM + 3
    plain, funnel_part = loss(None), loss(only_funnel)
    assert funnel_part > 0
    assert loss(weighted) == pytest.approx(plain + 3 * funnel_part, rel=1e-5)


def test_shipped_pipeline_config_chains_the_stages() -> None:
    stages = load_pipeline(REPO / "configs" / "generator.toml")
    assert [s.stage for s in stages] == ["teacher", "dpo", "student"]
    assert stages[1].init_from.endswith("teacher/final.safetensors")
    assert stages[2].init_from.endswith("dpo/final.safetensors")
    assert stages[1].dpo_beta == 1000.0 and stages[1].dpo_weight == 0.1  # paper


def test_memoised_modulation_is_the_computed_one_and_follows_weight_changes() -> None:
    """Inference reuses the adaLN modulations per (flow times, reference) (issue 48):
    the velocity must equal the one computed with autograd on (no memo), bit for
    bit, and a weight changed in place between two calls must be used."""
    model = _random_model()
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.standard_normal((1, 5, MOTION_DIM)).astype(np.float32))
    cond = torch.from_numpy(rng.standard_normal((1, 9, SMALL.hidden)).astype(np.float32))
    reference = torch.from_numpy(rng.standard_normal((1, MOTION_DIM)).astype(np.float32))
    t = torch.zeros(1, 5)

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.inference_mode():
            first = model(x, t, cond, reference, cond_start=2)
            again = model(x, t, cond, reference, cond_start=2)  # from the memo
        assert torch.equal(first, again)
        computed = model(x, t, cond, reference, cond_start=2).detach()  # autograd on: no memo
        return again, computed

    memo, computed = run()
    assert torch.equal(memo, computed)
    with torch.no_grad():
        model.ada_out.bias.add_(0.5)
    changed, recomputed = run()
    assert torch.equal(changed, recomputed)
    assert not torch.equal(changed, memo)
    # a copy (the trainers' frozen references) starts from its own, empty memo
    copied = copy.deepcopy(model)
    with torch.no_grad():
        copied.ada_out.bias.sub_(0.5)
    with torch.inference_mode():
        from_copy = copied(x, t, cond, reference, cond_start=2)
    assert torch.equal(from_copy, copied(x, t, cond, reference, cond_start=2).detach())
    torch.testing.assert_close(from_copy, memo)  # back where it started (+0.5 - 0.5)


def test_rope_rotate_range_equals_the_gathered_rotation() -> None:
    """The slice path attention uses (issue 48) gives the table path's numbers, bit for
    bit, inside the table, and the on-the-fly angles past it."""
    rope = Rope(16, 50)
    x = torch.randn(2, 3, 9, 16)
    for start in (0, 17, 41):
        assert torch.equal(rope.rotate_range(x, start), rope(x, torch.arange(start, start + 9)))
    assert torch.equal(rope.rotate_range(x, 45), rope(x, torch.arange(45, 54)))


@pytest.mark.parametrize(("nfe", "guidance"), [(1, None), (2, Guidance())])
def test_deferred_refresh_equals_the_two_pass_block(nfe: int, guidance: Guidance | None) -> None:
    """The engine's merged pass (the last block's cache refresh inside this block's
    first velocity pass, issue 48) gives the blocks and the cache of `denoise_block`'s
    two passes, up to float rounding of the wider matrix products."""
    from avatar.generator.sampler import denoise_block, denoise_block_deferred

    model = _random_model()
    cfg = model.cfg
    reps = 1 if guidance is None else 3
    rng = np.random.default_rng(5)
    reference = torch.from_numpy(rng.standard_normal((1, MOTION_DIM)).astype(np.float32))
    two_pass, merged = KVCache(cfg.depth, cfg.cache_frames), KVCache(cfg.depth, cfg.cache_frames)
    pending = None
    n = cfg.block_frames
    for _ in range(8):  # past the window: the cache rolls
        cond = torch.from_numpy(rng.standard_normal((1, n + 6, cfg.hidden)).astype(np.float32))
        cond = cond.expand(reps, -1, -1)
        noise = torch.from_numpy(rng.standard_normal((1, n, MOTION_DIM)).astype(np.float32))
        with torch.inference_mode():
            expected = denoise_block(model, noise, cond, reference, two_pass, nfe, guidance,
                                     cond_start=2)
            got, pending = denoise_block_deferred(model, noise, cond, reference, merged, nfe,
                                                  guidance, pending, cond_start=2)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # the merged cache is one refresh behind (the last block's waits for the next
    # pass): both full, it holds the blocks before the two-pass cache's last one
    assert len(merged) == len(two_pass) == cfg.cache_frames
    for layer in range(cfg.depth):
        torch.testing.assert_close(merged.k[layer][:, :, n:], two_pass.k[layer][:, :, :-n],
                                   rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(merged.v[layer][:, :, n:], two_pass.v[layer][:, :, :-n],
                                   rtol=1e-5, atol=1e-5)


def test_a_model_built_under_inference_mode_runs_without_the_memo() -> None:
    """Weights made under inference mode keep no version counter: the modulation is
    computed each time rather than failing (issue 48's memo)."""
    with torch.inference_mode():
        model = _random_model()
        x = torch.randn(1, 5, MOTION_DIM)
        cond = torch.randn(1, 9, SMALL.hidden)
        reference = torch.randn(1, MOTION_DIM)
        first = model(x, torch.zeros(1, 5), cond, reference, cond_start=2)
        assert torch.equal(first, model(x, torch.zeros(1, 5), cond, reference, cond_start=2))


def test_masks_kept_from_inference_serve_a_training_step() -> None:
    """The attention masks the generator keeps between calls (made once per window
    shape) are ordinary tensors: a model stepped under inference mode then trains
    on the same shapes without "inference tensors cannot be saved for backward"."""
    model = _random_model()
    x = torch.randn(1, 5, MOTION_DIM)
    cond = torch.randn(1, 9, SMALL.hidden)
    valid = torch.tensor([False, False] + [True] * 7)  # some windows masked
    reference = torch.randn(1, MOTION_DIM)
    with torch.inference_mode():
        model(x, torch.zeros(1, 5), cond, reference, cond_valid=valid, cond_start=2)
    model.train()
    out = model(x, torch.zeros(1, 5), cond, reference, cond_valid=valid, cond_start=2)
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
