"""Training objectives: diffusion forcing (flow matching), DPO, student distillation.

All losses take a `Batch` of model-space tensors (see `Batch`) and return a
scalar plus a few numbers worth logging. Shapes: B batch, T motion frames
(a multiple of block_frames), Tc = T + lookahead condition frames, M = 58.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from avatar.generator.kv_cache import KVCache
from avatar.generator.model import MotionGenerator
from avatar.generator.sampler import Guidance, branch_drop, euler_times, velocity
from avatar.motion import MOTION_DIM, column_index


@dataclass
class Batch:
    """One training batch, already normalised by the model's statistics."""

    x1: torch.Tensor  # (B, T, M) clean normalised avatar motion (relative to reference)
    avatar_audio: torch.Tensor  # (B, Tc, F)
    user_audio: torch.Tensor  # (B, Tc, F)
    user_motion: torch.Tensor  # (B, Tc, M) raw (the model normalises it)
    reference: torch.Tensor  # (B, M) absolute reference motion

    def encode(self, model: MotionGenerator, drop: torch.Tensor | None = None) -> torch.Tensor:
        return model.encode(self.avatar_audio, self.user_audio, self.user_motion, drop=drop)


def sample_block_times(
    batch: int, n_blocks: int, clean_history_prob: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Diffusion-forcing noise levels (B, n_blocks): independent t ~ U(0, 1) per block
    (paper Sec. 3.3). For a share of samples, blocks before a random cut are set
    clean (t = 1): exactly the streaming situation (clean cached past, noisy now),
    which independent uniform levels would almost never produce."""
    t = torch.rand(batch, n_blocks, generator=generator)
    clean = torch.rand(batch, generator=generator) < clean_history_prob
    cut = torch.randint(0, n_blocks, (batch,), generator=generator)
    before_cut = torch.arange(n_blocks)[None, :] < cut[:, None]
    return torch.where(clean[:, None] & before_cut, torch.ones_like(t), t)


def frames_from_blocks(t_blocks: torch.Tensor, block_frames: int) -> torch.Tensor:
    """(B, n_blocks) -> (B, n_blocks * block_frames): one level shared inside a block."""
    return t_blocks.repeat_interleave(block_frames, dim=1)


def condition_dropout(
    batch: int, p: float, generator: torch.Generator | None
) -> torch.Tensor:
    """(B, 3) independent drops of avatar audio, user audio, user motion (paper: 10%),
    which trains the null branches classifier-free guidance needs."""
    return torch.rand(batch, 3, generator=generator) < p


def _masked_l1(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
               columns: torch.Tensor | None = None) -> torch.Tensor:
    """Mean |pred - target| over frames with weight (B, T) and active dims (M,);
    `columns` (M,) weighs each motion column (None: all 1)."""
    err = (pred - target).abs() * weight[..., None]
    if columns is not None:
        err = err * columns
    return err.sum() / (weight.sum() * pred.shape[-1]).clamp_min(1.0)


def column_weight_vector(weights: dict[str, float]) -> torch.Tensor | None:
    """(M,) loss weights from {column name: weight}; None when there are none,
    so the default losses stay bit-identical to the unweighted ones."""
    if not weights:
        return None
    vector = torch.ones(MOTION_DIM)
    for name, weight in weights.items():
        vector[column_index(name)] = float(weight)
    return vector


def diffusion_forcing_loss(
    model: MotionGenerator,
    batch: Batch,
    cond_dropout: float,
    clean_history_prob: float,
    generator: torch.Generator | None = None,
    columns: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """L_DF: L1 flow matching with per-block noise levels (paper Eq. 3).

    x_t = t x1 + (1 - t) x0, target x1 - x0; blocks at t = 1 are context only.
    `columns` (M,): per-column loss weights (`column_weight_vector`).
    """
    B, T, M = batch.x1.shape
    n = model.cfg.block_frames
    t_blocks = sample_block_times(B, T // n, clean_history_prob, generator)
    t = frames_from_blocks(t_blocks, n)  # (B, T)
    x0 = torch.randn(batch.x1.shape, generator=generator) * model.active
    xt = t[..., None] * batch.x1 + (1 - t[..., None]) * x0
    cond = batch.encode(model, condition_dropout(B, cond_dropout, generator))
    v = model(xt, t, cond, batch.reference)
    weight = (t < 1.0).float()
    loss = _masked_l1(v * model.active, (batch.x1 - x0) * model.active, weight, columns)
    loss = loss * M / model.active.sum().clamp_min(1)  # mean over active dims only
    return loss, {"df": float(loss.detach())}


@torch.no_grad()
def sample_block_given_past(
    model: MotionGenerator,
    past: torch.Tensor,
    noise: torch.Tensor,
    cond: torch.Tensor,
    reference: torch.Tensor,
    nfe: int,
    guidance: Guidance | None,
) -> torch.Tensor:
    """Euler-sample the block after a clean past, teacher-forced on real motion:
    how DPO losers and distillation targets are made in training. The past is
    prefilled into a KV cache once, so each Euler step costs one block."""
    B, P, _ = past.shape
    reps = 1 if guidance is None else 3
    cache = KVCache(model.cfg.depth, model.cfg.cache_frames)
    if P:
        model(past.repeat(reps, 1, 1), torch.ones(B * reps, P), cond,
              reference.repeat(reps, 1), kv_cache=cache, write_cache=True)
    x, dt = noise, 1.0 / nfe
    for t in euler_times(nfe):
        x = x + dt * velocity(model, x, t, cond, reference, guidance,
                              cond_start=P, kv_cache=cache)
    return x * model.active


def _cut(batch: Batch, model: MotionGenerator, generator: torch.Generator | None) -> int:
    """A random block index with >= 1 block of history: the block trained on."""
    n_blocks = batch.x1.shape[1] // model.cfg.block_frames
    return int(torch.randint(1, n_blocks, (1,), generator=generator))


def _block_error(
    model: MotionGenerator, seq: torch.Tensor, t: torch.Tensor, x0: torch.Tensor,
    target_block: torch.Tensor, cond: torch.Tensor, reference: torch.Tensor, start: int,
) -> torch.Tensor:
    """Per-sample mean squared flow-matching error on the last block (B,)."""
    v = model(seq, t, cond, reference)[:, start:]
    err = ((v - (target_block - x0)) * model.active) ** 2
    return err.sum(dim=(1, 2)) / (model.active.sum() * v.shape[1])


def dpo_loss(
    policy: MotionGenerator,
    reference_model: MotionGenerator,
    batch: Batch,
    beta: float,
    loser_nfe: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Diffusion-DPO (Wallace et al. 2024) on flow matching, as Avatar Forcing Sec. 3.5.

    Winner: the real avatar motion. Loser: what the frozen reference model makes
    with the user conditions dropped (less reactive). Both are noised with the
    SAME x0 and t and scored under the FULL condition; the policy is pushed to
    lower its error on the winner relative to the reference more than on the loser:
        L = -log sigmoid(-beta * ((e_w - e_w_ref) - (e_l - e_l_ref)))
    """
    B, T, M = batch.x1.shape
    n = policy.cfg.block_frames
    c = _cut(batch, policy, generator)
    start, end = c * n, (c + 1) * n
    past = batch.x1[:, :start]
    winner = batch.x1[:, start:end]
    with torch.no_grad():
        blind = batch.encode(reference_model, torch.tensor([[False, True, True]]).expand(B, 3))
        noise = torch.randn((B, n, M), generator=generator) * policy.active
        loser = sample_block_given_past(reference_model, past, noise, blind, batch.reference,
                                        loser_nfe, None)
    x0 = torch.randn((B, n, M), generator=generator) * policy.active
    t = torch.rand(B, 1, 1, generator=generator)
    pair = torch.cat([winner, loser])  # (2B, n, M): shared x0 and t for winner and loser
    x0_2, t_2 = x0.repeat(2, 1, 1), t.repeat(2, 1, 1)
    seq = torch.cat([past.repeat(2, 1, 1), t_2 * pair + (1 - t_2) * x0_2], dim=1)
    tt = torch.cat([torch.ones(2 * B, start), t_2[:, :, 0].expand(2 * B, n)], dim=1)
    ref2 = batch.reference.repeat(2, 1)
    with torch.no_grad():
        cond_ref = batch.encode(reference_model)
        e_ref = _block_error(reference_model, seq, tt, x0_2, pair,
                             cond_ref.repeat(2, 1, 1), ref2, start)
    cond = batch.encode(policy)
    e_pol = _block_error(policy, seq, tt, x0_2, pair, cond.repeat(2, 1, 1), ref2, start)
    diff_w = e_pol[:B] - e_ref[:B]
    diff_l = e_pol[B:] - e_ref[B:]
    loss = -F.logsigmoid(-beta * (diff_w - diff_l)).mean()
    acc = float(((diff_w - diff_l) < 0).float().mean())
    margin = float((diff_l - diff_w).detach().mean())
    return loss, {"dpo": float(loss.detach()), "dpo_acc": acc, "margin": margin}


def distillation_loss(
    student: MotionGenerator,
    teacher: MotionGenerator,
    batch: Batch,
    student_steps: int,
    teacher_nfe: int,
    guidance: Guidance,
    generator: torch.Generator | None = None,
    columns: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Guidance + step distillation: the student, with NO guidance branches and
    `student_steps` Euler steps, regresses the teacher's guided `teacher_nfe`-step
    sample from the same noise (the ODE flow map is deterministic, so plain L1
    regression is well posed; cf. InstaFlow / the second reference's one-step
    student). The past is real motion, clean, as in streaming."""
    B, T, M = batch.x1.shape
    n = student.cfg.block_frames
    c = _cut(batch, student, generator)
    start = c * n
    past = batch.x1[:, :start]
    noise = torch.randn((B, n, M), generator=generator) * student.active
    with torch.no_grad():
        drop = branch_drop(B, guidance)
        rep = 3
        cond_t = teacher.encode(batch.avatar_audio.repeat(rep, 1, 1),
                                batch.user_audio.repeat(rep, 1, 1),
                                batch.user_motion.repeat(rep, 1, 1), drop=drop)
        target = sample_block_given_past(teacher, past, noise, cond_t, batch.reference,
                                         teacher_nfe, guidance)
    cond = batch.encode(student)
    x, dt = noise, 1.0 / student_steps
    for t in euler_times(student_steps):
        seq = torch.cat([past, x], dim=1)
        tt = torch.cat([torch.ones(B, start), torch.full((B, n), t)], dim=1)
        x = x + dt * student(seq, tt, cond, batch.reference)[:, start:]
    loss = _masked_l1(x * student.active, target, torch.ones(B, n), columns)
    loss = loss * M / student.active.sum().clamp_min(1)
    return loss, {"distill": float(loss.detach())}
