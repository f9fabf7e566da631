"""The Avatar Forcing motion generator: dual motion encoder + causal DFoT transformer.

Paper: Ki et al., "Avatar Forcing" (arXiv 2601.00664), Sec. 3; sizes scaled to a
CPU (config.py). One token per motion frame (25 fps). Pieces, smallest first:

- `LocalCrossAttention`: every query frame attends to a fixed window of condition
  frames around it (the paper's sliding-window alignment of condition to motion).
- `DualMotionEncoder`: user motion attends to user audio; avatar audio attends to
  that (paper: "dual motion encoder"). Causal windows, so it streams exactly.
- `SelfAttention`: block-causal attention over a rolling window, RoPE with
  window-relative positions, optional `KVCache` (streaming).
- `DFoTBlock`: adaLN-modulated self-attention + condition cross-attention + MLP;
  the modulation comes from ONE shared projection of (time, reference) plus a small
  per-layer learned offset (the paper's "shared adaLN time modulation").
- `MotionGenerator`: predicts the flow-matching velocity of normalised motion
  relative to the portrait's reference motion.

The model knows nothing about sampling or streaming: `forward(x, t, cond, ...,
kv_cache=None)` is a pure function of its inputs; sampler.py and streaming.py
drive it.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from avatar.generator.config import GeneratorConfig
from avatar.generator.kv_cache import KVCache
from avatar.generator.rope import Rope
from avatar.motion import MOTION_COLUMNS

# Camera-framing columns of the USER's webcam motion carry where the user sits,
# not what they do; the encoder ignores them (avatar/motion.py docstring).
_USER_IGNORED = ("tx", "ty", "scale")
_NEG = -1e9  # mask value: finite so fully masked rows do not produce NaN
#: modulations kept per model at inference (a few flow times x the portraits in use)
_MODULATION_MEMO = 16
#: each model's memo of modulations (MotionGenerator._modulation), outside the module
#: so that copies and pickles of a model never carry another's; sessions of one
#: server share a model from several threads
_MEMOS: weakref.WeakKeyDictionary[nn.Module, OrderedDict[tuple, tuple[torch.Tensor, torch.Tensor]]]
_MEMOS = weakref.WeakKeyDictionary()
_MEMO_LOCK = threading.Lock()


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN (DiT, Peebles & Xie 2023): x * (1 + scale) + shift."""
    return x * (1.0 + scale) + shift


def block_causal_mask(n_frames: int, block_frames: int, window_blocks: int) -> torch.Tensor:
    """(T, T) bool, True = may attend: keys in the query's block or the previous
    `window_blocks - 1` blocks (block-causal with a rolling window)."""
    block = torch.arange(n_frames) // block_frames
    diff = block[:, None] - block[None, :]  # query block - key block
    return (diff >= 0) & (diff < window_blocks)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, out: int | None = None) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, out or dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class LocalCrossAttention(nn.Module):
    """Query frame i attends to kv frames [i + start - before, i + start + after].

    Frames outside the kv sequence or marked invalid are masked; a learned bias per
    window slot and head tells the attention *where* in the window a key sits.
    """

    def __init__(self, dim: int, heads: int, before: int, after: int) -> None:
        super().__init__()
        self.heads, self.before, self.after = heads, before, after
        self.span = before + after + 1
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.slot_bias = nn.Parameter(torch.zeros(heads, self.span))

    def forward(
        self, x: torch.Tensor, kv: torch.Tensor, kv_valid: torch.Tensor, start: int = 0
    ) -> torch.Tensor:
        """x (B, T, C) queries; kv (B, Tk, C); kv_valid (Tk,) bool; start = kv index of query 0."""
        return self.out(self._attend(self.q(x), kv, kv_valid, start))

    def forward_groups(self, x: torch.Tensor,
                       groups: list[tuple[int, torch.Tensor, torch.Tensor, int]]) -> torch.Tensor:
        """`forward` for consecutive runs of query rows, each with its own kv sequence:
        `groups` = [(rows, kv, kv_valid, start), ...] in row order. One query and one
        output projection for all rows (the generator's merged refresh pass)."""
        q = self.q(x)
        parts, first = [], 0
        for rows, kv, kv_valid, start in groups:
            parts.append(self._attend(q[:, first:first + rows], kv, kv_valid, start))
            first += rows
        return self.out(torch.cat(parts, dim=1))

    def _attend(self, q: torch.Tensor, kv: torch.Tensor, kv_valid: torch.Tensor,
                start: int) -> torch.Tensor:
        """The attention core for projected queries q (B, T, C): (B, T, C) before `out`."""
        B, T, C = q.shape
        Tk = kv.shape[1]
        nh, hd = self.heads, C // self.heads
        k, v = self.kv(kv).chunk(2, dim=-1)  # (B, Tk, C) each
        # pad so that every window is in range, then slice the part the queries use
        lo = start - self.before
        pad_l, pad_r = max(0, -lo), max(0, lo + T + self.span - 1 - Tk)
        k = F.pad(k, (0, 0, pad_l, pad_r))
        v = F.pad(v, (0, 0, pad_l, pad_r))
        valid = F.pad(kv_valid.to(torch.bool), (pad_l, pad_r), value=False)
        first = lo + pad_l
        length = T + self.span - 1
        k = k[:, first : first + length].unfold(1, self.span, 1)  # (B, T, C, S)
        v = v[:, first : first + length].unfold(1, self.span, 1)
        valid = valid[first : first + length].unfold(0, self.span, 1)  # (T, S)
        q = q.reshape(B, T, nh, hd)
        k = k.reshape(B, T, nh, hd, self.span)
        v = v.reshape(B, T, nh, hd, self.span)
        scores = torch.einsum("btnd,btnds->btns", q, k) / math.sqrt(hd)  # (B, T, nh, S)
        scores = scores + self.slot_bias
        scores = scores.masked_fill(~valid[None, :, None, :], _NEG)
        att = scores.softmax(dim=-1) * valid.any(dim=-1)[None, :, None, None]
        return torch.einsum("btns,btnds->btnd", att, v).reshape(B, T, C)


class DualMotionEncoder(nn.Module):
    """Fuse (avatar audio, user audio, user motion) into one condition per frame.

    Paper Sec. 3.2: an MLP embeds user motion, which attends to user audio (what
    the user does while saying what); the avatar audio then attends to that, so
    the condition is "my speech, in the context of the user's behaviour". Each
    condition has a learned null embedding used when it is dropped (training
    dropout and classifier-free guidance branches).
    """

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        H = cfg.hidden
        self.avatar_in = nn.Linear(cfg.audio_dim, H)
        self.user_audio_in = nn.Linear(cfg.audio_dim, H)
        self.user_motion_in = Mlp(cfg.motion_dim, H, H)
        self.null_avatar = nn.Parameter(torch.zeros(H))
        self.null_user_audio = nn.Parameter(torch.zeros(H))
        self.null_user_motion = nn.Parameter(torch.zeros(H))
        self.norm_u, self.norm_ua = nn.LayerNorm(H), nn.LayerNorm(H)
        self.user_attn = LocalCrossAttention(H, cfg.encoder_heads, cfg.encoder_past, 0)
        self.user_mlp, self.norm_um = Mlp(H, 2 * H), nn.LayerNorm(H)
        self.norm_a, self.norm_u2 = nn.LayerNorm(H), nn.LayerNorm(H)
        self.avatar_attn = LocalCrossAttention(H, cfg.encoder_heads, cfg.encoder_past, 0)
        self.avatar_mlp, self.norm_am = Mlp(H, 2 * H), nn.LayerNorm(H)
        self.norm_out = nn.LayerNorm(H)

    def forward(
        self,
        avatar_audio: torch.Tensor,
        user_audio: torch.Tensor,
        user_motion: torch.Tensor,
        valid: torch.Tensor,
        drop: torch.Tensor,
        user_present: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Inputs (B, T, ·) already normalised; valid (T,); drop (B, 3) bool for
        [avatar audio, user audio, user motion]; `user_present` (T,) bool marks
        frames where the user's face was seen (None: all). Returns (B, T, H).

        A frame without a face takes the user-motion null embedding, the one
        condition dropout trained for "no user motion": a missing face is a
        missing condition, never a zero (neutral-looking) face."""

        def embed(x: torch.Tensor, null: torch.Tensor, dropped: torch.Tensor) -> torch.Tensor:
            return torch.where(dropped[:, None, None], null, x)

        a = embed(self.avatar_in(avatar_audio), self.null_avatar, drop[:, 0])
        ua = embed(self.user_audio_in(user_audio), self.null_user_audio, drop[:, 1])
        um = embed(self.user_motion_in(user_motion), self.null_user_motion, drop[:, 2])
        if user_present is not None:
            um = torch.where(user_present[None, :, None], um, self.null_user_motion)
        um = um + self.user_attn(self.norm_u(um), self.norm_ua(ua), valid)
        um = um + self.user_mlp(self.norm_um(um))
        c = a + self.avatar_attn(self.norm_a(a), self.norm_u2(um), valid)
        c = c + self.avatar_mlp(self.norm_am(c))
        return self.norm_out(c)


class SelfAttention(nn.Module):
    """Block-causal multi-head self-attention with RoPE and an optional KV cache."""

    def __init__(self, cfg: GeneratorConfig, rope: Rope) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.qkv = nn.Linear(cfg.hidden, 3 * cfg.hidden)
        self.out = nn.Linear(cfg.hidden, cfg.hidden)
        self.rope = rope

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        kv_cache: KVCache | None,
        layer: int,
        write_cache: bool,
    ) -> torch.Tensor:
        B, T, C = x.shape
        nh, hd = self.heads, C // self.heads
        q, k, v = self.qkv(x).view(B, T, 3, nh, hd).permute(2, 0, 3, 1, 4)  # 3 x (B, nh, T, hd)
        y = self._attend(q, k, v, mask, kv_cache, layer, write_cache)  # (B, nh, T, hd)
        return self.out(y.transpose(1, 2).reshape(B, T, C))

    def forward_after_refresh(self, x: torch.Tensor, refresh_rows: int, kv_cache: KVCache,
                              layer: int) -> torch.Tensor:
        """x (B, R + T, C): R clean rows of the previous block, then one block.

        The clean rows attend as the refresh pass does (the cache, then themselves)
        and their keys/values are written; the block's rows then attend as a
        denoising pass does, to the cache with the clean rows in it. One qkv and one
        output projection for both (see MotionGenerator.forward_after_refresh)."""
        B, T, C = x.shape
        nh, hd = self.heads, C // self.heads
        q, k, v = self.qkv(x).view(B, T, 3, nh, hd).permute(2, 0, 3, 1, 4)
        r = refresh_rows
        clean = self._attend(q[:, :, :r], k[:, :, :r], v[:, :, :r], None, kv_cache, layer, True)
        block = self._attend(q[:, :, r:], k[:, :, r:], v[:, :, r:], None, kv_cache, layer, False)
        y = torch.cat([clean, block], dim=2)
        return self.out(y.transpose(1, 2).reshape(B, T, C))

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None, kv_cache: KVCache | None, layer: int,
                write_cache: bool) -> torch.Tensor:
        """Attention of q over the cache and k, v (each (B, nh, T, hd)): (B, nh, T, hd)."""
        T = q.shape[2]
        keys, values = k, v
        if kv_cache is not None:
            past_k, past_v = kv_cache.get(layer)
            if past_k is not None and past_v is not None:
                keys = torch.cat([past_k, k], dim=2)  # (B, nh, P+T, hd)
                values = torch.cat([past_v, v], dim=2)
            if write_cache:
                kv_cache.append(layer, k, v)  # unrotated: rotated by window slot below
        Tk = keys.shape[2]
        q = self.rope.rotate_range(q, Tk - T)
        keys = self.rope.rotate_range(keys, 0)
        return F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)


class DFoTBlock(nn.Module):
    """One diffusion-forcing transformer block (adaLN self-attn, cond cross-attn, MLP)."""

    def __init__(self, cfg: GeneratorConfig, rope: Rope) -> None:
        super().__init__()
        H = cfg.hidden
        self.norm1 = nn.LayerNorm(H, elementwise_affine=False)
        self.attn = SelfAttention(cfg, rope)
        self.norm_c = nn.LayerNorm(H)
        self.cross = LocalCrossAttention(H, cfg.heads, cfg.cond_past, cfg.lookahead)
        self.norm2 = nn.LayerNorm(H, elementwise_affine=False)
        self.mlp = Mlp(H, cfg.mlp_ratio * H)
        # per-layer offset to the shared modulation (PixArt-alpha's adaLN-single)
        self.ada_offset = nn.Parameter(torch.zeros(6, H))

    def forward(
        self,
        x: torch.Tensor,
        mod: torch.Tensor,
        cond: torch.Tensor,
        cond_valid: torch.Tensor,
        cond_start: int,
        mask: torch.Tensor | None,
        kv_cache: KVCache | None,
        layer: int,
        write_cache: bool,
    ) -> torch.Tensor:
        B, T, C = x.shape
        m = mod.view(B, T, 6, C) + self.ada_offset
        shift1, scale1, gate1, shift2, scale2, gate2 = m.unbind(dim=2)  # (B, T, C) each
        h = _modulate(self.norm1(x), shift1, scale1)
        x = x + gate1 * self.attn(h, mask, kv_cache, layer, write_cache)
        x = x + self.cross(self.norm_c(x), cond, cond_valid, cond_start)
        x = x + gate2 * self.mlp(_modulate(self.norm2(x), shift2, scale2))
        return x

    def forward_after_refresh(
        self,
        x: torch.Tensor,
        mod: torch.Tensor,
        refresh_rows: int,
        conds: list[tuple[int, torch.Tensor, torch.Tensor, int]],
        kv_cache: KVCache,
        layer: int,
    ) -> torch.Tensor:
        """`forward` for R clean rows (the refresh) followed by one block, in one pass;
        `conds` = [(rows, cond, cond_valid, cond_start)] for the two runs of rows."""
        B, T, C = x.shape
        m = mod.view(B, T, 6, C) + self.ada_offset
        shift1, scale1, gate1, shift2, scale2, gate2 = m.unbind(dim=2)
        h = _modulate(self.norm1(x), shift1, scale1)
        x = x + gate1 * self.attn.forward_after_refresh(h, refresh_rows, kv_cache, layer)
        x = x + self.cross.forward_groups(self.norm_c(x), conds)
        x = x + gate2 * self.mlp(_modulate(self.norm2(x), shift2, scale2))
        return x


def _timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of flow time t in [0, 1] (scaled by 1000 as in DiT)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[..., None] * 1000.0 * freqs
    return torch.cat([args.cos(), args.sin()], dim=-1)


class MotionGenerator(nn.Module):
    """Velocity model v(x_t, t | condition, reference) over normalised relative motion.

    Conventions (paper, flow matching): x_t = t * x1 + (1 - t) * x0 with x1 clean
    motion and x0 Gaussian noise; t = 1 is clean; the target velocity is x1 - x0.
    `t` is per frame, constant within a block and independent across blocks
    (diffusion forcing). Motion is normalised as (motion - reference - mean) / std
    with statistics of the training corpus kept as buffers in the checkpoint.
    """

    motion_mean: torch.Tensor
    motion_std: torch.Tensor
    ref_mean: torch.Tensor
    ref_std: torch.Tensor
    user_mean: torch.Tensor
    user_std: torch.Tensor
    active: torch.Tensor
    user_keep: torch.Tensor

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        H, M = cfg.hidden, cfg.motion_dim
        self.rope = Rope(H // cfg.heads, cfg.window_frames, cfg.rope_base)
        self.encoder = DualMotionEncoder(cfg)
        self.x_in = nn.Linear(M, H)
        self.t_embed = Mlp(256, H, H)
        self.ref_embed = Mlp(M, H, H)
        self.ada_shared = nn.Linear(H, 6 * H)
        self.blocks = nn.ModuleList(DFoTBlock(cfg, self.rope) for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(H, elementwise_affine=False)
        self.ada_out = nn.Linear(H, 2 * H)
        self.x_out = nn.Linear(H, M)
        for name in ("motion", "ref", "user"):
            self.register_buffer(f"{name}_mean", torch.zeros(M))
            self.register_buffer(f"{name}_std", torch.ones(M))
        self.register_buffer("active", torch.ones(M, dtype=torch.bool))
        user_keep = torch.tensor([c not in _USER_IGNORED for c in MOTION_COLUMNS])
        self.register_buffer("user_keep", user_keep[:M], persistent=False)
        # DiT init: every block starts as the identity, the output at zero velocity
        for lin in (self.ada_shared, self.ada_out, self.x_out):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    # ----------------------------------------------------------------- normalisation
    def set_stats(self, stats: dict[str, torch.Tensor]) -> None:
        """Install corpus statistics (trainer) so the checkpoint carries them."""
        for key, value in stats.items():
            getattr(self, key).copy_(value)

    def normalize(self, motion: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Absolute motion (..., T, M) and reference (..., M) -> model space."""
        z = (motion - reference.unsqueeze(-2) - self.motion_mean) / self.motion_std
        return z * self.active

    def denormalize(self, z: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Model space -> absolute motion; inactive columns stay at the reference."""
        delta = (z * self.motion_std + self.motion_mean) * self.active
        return reference.unsqueeze(-2) + delta

    # ------------------------------------------------------------------- condition
    def encode(
        self,
        avatar_audio: torch.Tensor,
        user_audio: torch.Tensor,
        user_motion: torch.Tensor,
        valid: torch.Tensor | None = None,
        drop: torch.Tensor | None = None,
        user_present: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Raw per-frame conditions (B, T, ·) -> encoded condition (B, T, H).

        `valid` (T,) marks frames that exist (False: before the session start);
        `drop` (B, 3) bool drops [avatar audio, user audio, user motion];
        `user_present` (T,) bool marks frames where the user's face was seen.
        """
        B, T, _ = avatar_audio.shape
        if user_audio.shape[:2] != (B, T) or user_motion.shape[:2] != (B, T):
            raise ValueError(
                f"condition lengths differ: avatar audio {tuple(avatar_audio.shape)}, "
                f"user audio {tuple(user_audio.shape)}, user motion {tuple(user_motion.shape)}"
            )
        if valid is None:
            valid = torch.ones(T, dtype=torch.bool)
        if drop is None:
            drop = torch.zeros(B, 3, dtype=torch.bool)
        um = (user_motion - self.user_mean) / self.user_std * self.user_keep
        return self.encoder(avatar_audio, user_audio, um, valid, drop, user_present)

    # --------------------------------------------------------------------- forward
    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        cond: torch.Tensor,
        reference: torch.Tensor,
        cond_valid: torch.Tensor | None = None,
        cond_start: int = 0,
        kv_cache: KVCache | None = None,
        write_cache: bool = False,
    ) -> torch.Tensor:
        """Velocity (B, T, M) of noisy normalised motion x (B, T, M) at times t (B, T).

        cond (B, Tc, H) from `encode`; frame i of x aligns with cond frame
        cond_start + i and sees cond frames [i - cond_past, i + lookahead] around it.
        reference (B, M) is the portrait's absolute reference motion.
        Without a cache, x is a whole sequence starting at a block boundary and
        the block-causal rolling-window mask applies; with a cache, x is ONE block
        that attends to the cached clean past and itself; write_cache=True (the
        refresh pass on the clean block) appends its keys/values to the cache.
        """
        B, T, M = x.shape
        if t.shape != (B, T):
            raise ValueError(f"t must be (B, T) = {(B, T)}, got {tuple(t.shape)}")
        if cond_valid is None:
            cond_valid = torch.ones(cond.shape[1], dtype=torch.bool)
        mod, out_mod = self._modulation(t, reference)
        cfg = self.cfg
        if kv_cache is None or (len(kv_cache) == 0 and T > cfg.block_frames):
            # whole sequence, or a prefill of an empty cache (training samplers)
            mask = block_causal_mask(T, cfg.block_frames, cfg.window_blocks)
        else:
            if T > cfg.block_frames:
                raise ValueError(f"cached forward takes one block (<= {cfg.block_frames})")
            mask = None  # one block: it sees the whole cache and all of itself
        h = self.x_in(x)
        for layer, block in enumerate(self.blocks):
            h = block(h, mod, cond, cond_valid, cond_start, mask, kv_cache, layer, write_cache)
        shift, scale = out_mod.chunk(2, dim=-1)
        return self.x_out(_modulate(self.norm_out(h), shift, scale))

    def forward_after_refresh(
        self,
        clean: torch.Tensor,
        clean_cond: tuple[torch.Tensor, torch.Tensor, int],
        x: torch.Tensor,
        t: torch.Tensor,
        cond: torch.Tensor,
        reference: torch.Tensor,
        cond_valid: torch.Tensor,
        cond_start: int,
        kv_cache: KVCache,
    ) -> torch.Tensor:
        """The previous block's cache refresh and this block's first velocity, in ONE pass.

        Equivalent to `forward(clean, ones, *clean_cond..., write_cache=True)` (the
        refresh of the previous, clean block (B, R, M) with its own condition
        window `clean_cond` = (cond, cond_valid, cond_start)) followed by
        `forward(x, t, cond, ...)` on the cache it wrote: the clean rows never see
        the block's, the block's see the cache with the clean rows in it. Returns
        the block's velocity (B, T, M).

        Why: the model is small (hidden 128) and a pass over 5 rows
        costs nearly what a pass over 10 does (each weight matrix is read once
        either way, and PyTorch's per-operation overhead is paid once): streaming
        ran two passes a block, the refresh and the 1-NFE step; merged it runs one.
        Results equal the two passes' up to float rounding of the wider matrix
        products (tests/avatar/test_generator.py).
        """
        B, R, _ = clean.shape
        T = x.shape[1]
        if R > self.cfg.block_frames or T > self.cfg.block_frames:
            raise ValueError(f"merged pass takes one clean and one noisy block, got {R} + {T}")
        rows = torch.cat([clean, x], dim=1)
        times = torch.cat([torch.ones(B, R), t], dim=1)
        mod, out_mod = self._modulation(times, reference)
        h = self.x_in(rows)
        conds = [(R, *clean_cond), (T, cond, cond_valid, cond_start)]
        for layer, block in enumerate(self.blocks):
            assert isinstance(block, DFoTBlock)  # for the type checker: a ModuleList item
            h = block.forward_after_refresh(h, mod, R, conds, kv_cache, layer)
        shift, scale = out_mod[:, R:].chunk(2, dim=-1)
        return self.x_out(_modulate(self.norm_out(h[:, R:]), shift, scale))

    def _modulation(self, t: torch.Tensor, reference: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """adaLN modulations (B, T, 6H) for the blocks and (B, T, 2H) for the output,
        from the flow times and the portrait's reference only.

        Why memoised: streaming runs the same two flow times (the
        1-NFE step at t = 0, the cache refresh at t = 1) for one portrait, block
        after block, so these six small matrix products gave the same tensors
        every time; at inference (no autograd) they are computed once per
        (times, reference) and reused: the same tensors, bit for bit."""
        if torch.is_grad_enabled() or t.device.type != "cpu" or reference.device.type != "cpu":
            return self._compute_modulation(t, reference)
        # the weights' version counters too: a model trained on (or loaded into)
        # between two evaluations must not answer from its old weights; weights made
        # under inference mode keep no counter, and are not memoised
        try:
            versions = tuple(w._version for w in self._modulation_weights())
        except RuntimeError:
            return self._compute_modulation(t, reference)
        key = (tuple(t.shape), t.numpy().tobytes(), reference.numpy().tobytes(), versions)
        with _MEMO_LOCK:
            memo = _MEMOS.setdefault(self, OrderedDict())
            found = memo.get(key)
            if found is not None:
                memo.move_to_end(key)
                return found
        found = self._compute_modulation(t, reference)
        with _MEMO_LOCK:
            memo[key] = found
            while len(memo) > _MODULATION_MEMO:
                memo.popitem(last=False)
        return found

    def _modulation_weights(self) -> list[torch.Tensor]:
        """Every tensor the modulations are computed from."""
        modules = (self.t_embed, self.ref_embed, self.ada_shared, self.ada_out)
        return ([w for m in modules for w in m.parameters()]
                + [self.ref_mean, self.ref_std])

    def _compute_modulation(self, t: torch.Tensor, reference: torch.Tensor
                            ) -> tuple[torch.Tensor, torch.Tensor]:
        ref = ((reference - self.ref_mean) / self.ref_std)[:, None, :]  # (B, 1, M)
        c = self.t_embed(_timestep_embedding(t, 256)) + self.ref_embed(ref)  # (B, T, H)
        mod = self.ada_shared(F.silu(c))  # (B, T, 6H), shared by every block
        return mod, self.ada_out(F.silu(c))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
