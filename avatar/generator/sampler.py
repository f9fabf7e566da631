"""Stateless samplers for the causal motion generator (k-diffusion style).

Flow matching (paper Sec. 3.3): x_t = t x1 + (1 - t) x0, t = 1 clean; Euler
integrates dx/dt = v from noise at t = 0 to motion at t = 1. Diffusion forcing
at inference: past blocks are clean (t = 1, in the KV cache), the current block
is denoised, then one extra pass at t = 1 writes its keys/values to the cache.

Classifier-free guidance with separate avatar-audio and user branches (paper
Eq. 6, upstream defaults w_a = 2, w_u = 1), batched as three rows per sample:

    v = v_none + w_a (v_audio - v_none) + w_u (v_full - v_audio)

where `full` sees every condition, `audio` only the avatar audio (user audio and
user motion dropped) and `none` nothing. w_a pushes lip sync, w_u reactivity.

Everything here is a function of its arguments: no step counters or noise state
(the streaming engine owns state; these functions can serve any number of streams).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from avatar.generator.attention import CondWindows
from avatar.generator.kv_cache import KVCache
from avatar.generator.model import MotionGenerator
from avatar.user_baseline import relative_user_motion

# drop masks of the three guidance branches: [avatar audio, user audio, user motion]
BRANCH_DROPS = torch.tensor(
    [[False, False, False], [False, True, True], [True, True, True]], dtype=torch.bool
)


POSE_DIMS = 6  # yaw, pitch, roll, tx, ty, scale (avatar/motion.py POSE_COLUMNS)
DEFAULT_ANCHOR = 0.2  # per-block pull toward the portrait (tuned on val: RESULTS.md)


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance weights (paper / upstream code defaults)."""

    avatar: float = 2.0  # w_a
    user: float = 1.0  # w_u


def branch_drop(batch: int, guidance: Guidance | None) -> torch.Tensor:
    """Drop mask (rows, 3) for `batch` samples: 3 branches each if guided, else none."""
    if guidance is None:
        return torch.zeros(batch, 3, dtype=torch.bool)
    return BRANCH_DROPS.repeat_interleave(batch, dim=0)  # rows ordered branch-major


def euler_times(nfe: int) -> list[float]:
    """Uniform Euler grid t_0 = 0 < ... < t_{nfe-1}, step 1/nfe (paper: 10 NFE)."""
    if nfe <= 0:
        raise ValueError(f"nfe must be positive, got {nfe}")
    return [i / nfe for i in range(nfe)]


def velocity(
    model: MotionGenerator,
    x: torch.Tensor,
    t: float | torch.Tensor,
    cond: torch.Tensor,
    reference: torch.Tensor,
    guidance: Guidance | None,
    cond_valid: torch.Tensor | None = None,
    cond_start: int = 0,
    kv_cache: KVCache | None = None,
) -> torch.Tensor:
    """(Guided) velocity of x (B, T, M).

    With guidance, cond and the cache hold 3B rows (branch-major, see
    `branch_drop`); x and reference are repeated internally and the branches
    combined. `t` is a float (whole x at one level) or a (B, T) tensor.
    """
    B, T, _ = x.shape
    reps = 1 if guidance is None else 3
    tt = torch.full((B, T), float(t)) if not isinstance(t, torch.Tensor) else t
    v = model(
        x.repeat(reps, 1, 1), tt.repeat(reps, 1), cond, reference.repeat(reps, 1),
        cond_valid=cond_valid, cond_start=cond_start, kv_cache=kv_cache,
    )
    return _combine(v, B, guidance)


def _combine(v: torch.Tensor, batch: int, guidance: Guidance | None) -> torch.Tensor:
    """The guided velocity from the branches' rows (branch-major), or v unguided."""
    if guidance is None:
        return v
    v_full, v_audio, v_none = v.split(batch, dim=0)
    return v_none + guidance.avatar * (v_audio - v_none) + guidance.user * (v_full - v_audio)


@dataclass(frozen=True)
class PendingRefresh:
    """A denoised block whose cache refresh waits to share the next block's first pass
    (`denoise_block_deferred`): the clean block (B, n, M), normalised, the condition
    window it was denoised with, and that window's projected keys/values a layer
    each when a merged pass made them (None: the next pass projects them)."""

    clean: torch.Tensor
    cond: torch.Tensor
    cond_valid: torch.Tensor
    cond_start: int
    windows: tuple[CondWindows, ...] | None = None


def velocity_after_refresh(
    model: MotionGenerator,
    pending: PendingRefresh,
    x: torch.Tensor,
    t: float,
    cond: torch.Tensor,
    reference: torch.Tensor,
    guidance: Guidance | None,
    cond_valid: torch.Tensor,
    cond_start: int,
    kv_cache: KVCache,
) -> tuple[torch.Tensor, tuple[CondWindows, ...]]:
    """`refresh_cache(pending...)` then `velocity(x, t, ...)`, in one model pass
    (MotionGenerator.forward_after_refresh): the same cache and velocity up to float
    rounding, at about half the cost of the two passes. Also returns the condition
    windows the pass projected for `cond` (the next block's pending refresh reuses them)."""
    B, T, _ = x.shape
    reps = 1 if guidance is None else 3
    v, windows = model.forward_after_refresh(
        pending.clean.repeat(reps, 1, 1), (pending.cond, pending.cond_valid, pending.cond_start),
        x.repeat(reps, 1, 1), torch.full((B * reps, T), float(t)), cond,
        reference.repeat(reps, 1), cond_valid, cond_start, kv_cache, pending.windows)
    return _combine(v, B, guidance), tuple(windows)


def denoise_block_deferred(
    model: MotionGenerator,
    noise: torch.Tensor,
    cond: torch.Tensor,
    reference: torch.Tensor,
    kv_cache: KVCache,
    nfe: int,
    guidance: Guidance | None,
    pending: PendingRefresh | None,
    cond_valid: torch.Tensor | None = None,
    cond_start: int = 0,
    history: torch.Tensor | None = None,
    anchor: float = 0.0,
) -> tuple[torch.Tensor, PendingRefresh]:
    """`denoise_block` with the cache refresh deferred: the previous block's refresh
    (`pending`) runs inside this block's first velocity pass, and this block's is
    returned to run inside the next one's. The streaming engine's path: one model
    pass a block at 1 NFE instead of two. The cache holds the returned
    block only once the next block's pass has run (`refresh_cache` with the pending
    block's fields writes it on its own)."""
    if cond_valid is None:
        cond_valid = torch.ones(cond.shape[1], dtype=torch.bool)
    x = noise
    dt = 1.0 / nfe
    windows = None
    for i, t in enumerate(euler_times(nfe)):
        if i == 0 and pending is not None:
            v, windows = velocity_after_refresh(model, pending, x, t, cond, reference, guidance,
                                                cond_valid, cond_start, kv_cache)
        else:
            v = velocity(model, x, t, cond, reference, guidance, cond_valid, cond_start,
                         kv_cache)
        x = x + dt * v
    x = anchor_pose(x, history, anchor)
    return x, PendingRefresh(x, cond, cond_valid, cond_start, windows)


def anchor_pose(block: torch.Tensor, history: torch.Tensor | None, strength: float
                ) -> torch.Tensor:
    """Portrait anchor: pull the block's head pose (normalised columns 0-5) back
    toward the portrait by `strength` x the mean pose offset of the recent window
    (cached history + this block).

    Why: a trained model has small per-block biases (measured teacher-forced: yaw
    +0.3 deg per block); fed its own output they accumulate into a drift of the
    head away from the portrait (+16 deg yaw in 20 s here), the failure a public
    streaming port also hit. The correction is a leaky integrator acting on what
    the model sees next (it enters the cache), so nods and turns lasting a few
    blocks pass while a slow drift cannot build up. 0 disables it.
    """
    if strength <= 0:
        return block
    window = block if history is None or not history.shape[1] else torch.cat([history, block], 1)
    offset = window[..., :POSE_DIMS].mean(dim=1, keepdim=True)  # (B, 1, 6)
    out = block.clone()
    out[..., :POSE_DIMS] = block[..., :POSE_DIMS] - strength * offset
    return out


def denoise_block(
    model: MotionGenerator,
    noise: torch.Tensor,
    cond: torch.Tensor,
    reference: torch.Tensor,
    kv_cache: KVCache,
    nfe: int,
    guidance: Guidance | None,
    cond_valid: torch.Tensor | None = None,
    cond_start: int = 0,
    history: torch.Tensor | None = None,
    anchor: float = 0.0,
) -> torch.Tensor:
    """Euler-integrate one block from noise (B, n, M) given the cached clean past,
    apply the portrait anchor (see `anchor_pose`; `history` = the cached frames'
    clean values), then refresh the cache with the clean block. Returns it.
    (`denoise_block_deferred` with nothing pending, its refresh run at once.)"""
    x, pending = denoise_block_deferred(model, noise, cond, reference, kv_cache, nfe,
                                        guidance, None, cond_valid, cond_start, history,
                                        anchor)
    refresh_cache(model, x, cond, reference, kv_cache, guidance, pending.cond_valid,
                  cond_start)
    return x


def refresh_cache(
    model: MotionGenerator,
    clean: torch.Tensor,
    cond: torch.Tensor,
    reference: torch.Tensor,
    kv_cache: KVCache,
    guidance: Guidance | None,
    cond_valid: torch.Tensor | None = None,
    cond_start: int = 0,
) -> None:
    """The extra pass at t = 1 that writes the clean block's keys/values (paper Sec. 3.4)."""
    B, T, _ = clean.shape
    reps = 1 if guidance is None else 3
    model(
        clean.repeat(reps, 1, 1), torch.ones(B * reps, T), cond, reference.repeat(reps, 1),
        cond_valid=cond_valid, cond_start=cond_start, kv_cache=kv_cache, write_cache=True,
    )


@torch.no_grad()
def sample_sequence(
    model: MotionGenerator,
    noise: torch.Tensor,
    cond: torch.Tensor,
    reference: torch.Tensor,
    nfe: int,
    guidance: Guidance | None,
    cond_valid: torch.Tensor | None = None,
    anchor: float = 0.0,
) -> torch.Tensor:
    """Uncached full-sequence causal sampling: the reference the streaming engine
    must reproduce. Block by block, the WHOLE prefix is recomputed (past blocks
    clean at t = 1, block-causal rolling-window mask) -- O(T^2), for tests/eval.

    noise (B, T, M) with T a multiple of block_frames; cond (rows, >= T + lookahead, H)
    aligned so cond frame i belongs to motion frame i. Returns clean (B, T, M).
    """
    B, T, M = noise.shape
    n = model.cfg.block_frames
    if T % n:
        raise ValueError(f"sequence length {T} is not a multiple of block_frames {n}")
    out = noise.new_zeros(B, 0, M)
    for start in range(0, T, n):
        x = noise[:, start : start + n]
        dt = 1.0 / nfe
        for t in euler_times(nfe):
            seq = torch.cat([out, x], dim=1)
            tt = torch.cat([torch.ones(B, start), torch.full((B, n), t)], dim=1)
            v = velocity(model, seq, tt, cond, reference, guidance, cond_valid, 0, None)
            x = x + dt * v[:, start:]
        x = anchor_pose(x, out[:, max(0, start - model.cfg.cache_frames):], anchor)
        out = torch.cat([out, x], dim=1)
    return out


@torch.inference_mode()
def sample_stream(
    model: MotionGenerator,
    avatar_audio: torch.Tensor,
    user_audio: torch.Tensor,
    user_motion: torch.Tensor,
    reference: torch.Tensor,
    nfe: int,
    guidance: Guidance | None,
    generator: torch.Generator | None = None,
    use_user_motion: bool = True,
    noise: torch.Tensor | None = None,
    anchor: float = DEFAULT_ANCHOR,
) -> torch.Tensor:
    """Many sessions at once, exactly as `StreamingGenerator` runs each of them
    (same frame convention and KV-cached block loop), for fast evaluation.

    Conditions (B, T, ·) with T a multiple of block_frames, user motion absolute
    as the engine takes it (read relative to each session's running baseline
    when `cfg.user_relative`, as the engine does); returns absolute motion
    (B, T, M) in the engine's output timing (output frame j shows input frame
    j - lookahead). Why it exists: on a CPU a block step is per-operation
    overhead, so B sessions in one batch cost little more than one.
    """
    cfg = model.cfg
    if cfg.user_relative:
        user_motion = torch.from_numpy(np.stack(
            [relative_user_motion(u) for u in user_motion.detach().numpy()]))
    B, T, _ = avatar_audio.shape
    n, L, P = cfg.block_frames, cfg.lookahead, cfg.cond_past
    if T % n:
        raise ValueError(f"session length {T} is not a multiple of block_frames {n}")
    reps = 1 if guidance is None else 3
    drop = branch_drop(B, guidance)
    if not use_user_motion:
        drop[:, 2] = True

    def pad(x: torch.Tensor) -> torch.Tensor:  # L pre-roll frames, then repeat per branch
        return torch.cat([x.new_zeros(B, L, x.shape[2]), x], dim=1).repeat(reps, 1, 1)

    valid = torch.cat([torch.zeros(L, dtype=torch.bool), torch.ones(T, dtype=torch.bool)])
    cond = model.encode(pad(avatar_audio), pad(user_audio), pad(user_motion), valid, drop)
    cache = KVCache(cfg.depth, cfg.cache_frames)
    zs: list[torch.Tensor] = []
    for s in range(0, T, n):
        lo, hi = max(0, s - P), s + n + L
        if noise is None:
            x0 = torch.randn((B, n, reference.shape[-1]), generator=generator)
        else:
            x0 = noise[:, s : s + n]
        history = torch.cat(zs, dim=1)[:, -cfg.cache_frames:] if zs else None
        z = denoise_block(model, x0, cond[:, lo:hi], reference, cache, nfe, guidance,
                          valid[lo:hi], cond_start=s - lo, history=history, anchor=anchor)
        zs.append(z)
    return model.denormalize(torch.cat(zs, dim=1), reference)
