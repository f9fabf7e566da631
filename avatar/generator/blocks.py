"""The generator's building blocks: the condition encoder and the transformer block.

- `DualMotionEncoder`: user motion attends to user audio; avatar audio attends to
  that (paper: "dual motion encoder"). Causal windows, so it streams exactly.
- `DFoTBlock`: adaLN-modulated self-attention + condition cross-attention + MLP;
  the modulation comes from ONE shared projection of (time, reference) plus a small
  per-layer learned offset (the paper's "shared adaLN time modulation").
- `Mlp` and `modulate`, shared with `MotionGenerator` (model.py).

Their parameter names are the checkpoint's state-dict keys and must not change.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from avatar.generator.attention import CondWindows, LocalCrossAttention, SelfAttention
from avatar.generator.config import GeneratorConfig
from avatar.generator.kv_cache import KVCache
from avatar.generator.rope import Rope


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN (DiT, Peebles & Xie 2023): x * (1 + scale) + shift."""
    return x * (1.0 + scale) + shift


class Mlp(nn.Module):
    """Two linear layers with a tanh-approximated GELU between them."""

    def __init__(self, dim: int, hidden: int, out: int | None = None) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, out or dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


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
        first: int = 0,
    ) -> torch.Tensor:
        """Inputs (B, T, ·) already normalised; valid (T,); drop (B, 3) bool for
        [avatar audio, user audio, user motion]; `user_present` (T,) or (B, T) bool
        marks frames where the user's face was seen (None: all). Returns (B, T - first, H),
        the conditions of frames `first` on: the frames before serve only as the
        windows' past, and each stage computes only the frames a later one reads
        (a frame's output does not depend on which other frames are computed).

        A frame without a face takes the user-motion null embedding, the one
        condition dropout trained for "no user motion": a missing face is a
        missing condition, never a zero (neutral-looking) face."""

        def embed(x: torch.Tensor, null: torch.Tensor, dropped: torch.Tensor) -> torch.Tensor:
            return torch.where(dropped[:, None, None], null, x)

        # frames each stage needs: the avatar path's outputs from `first`, the user
        # path's from `mid` (the avatar attention's window), the user audio from `low`
        mid = max(0, first - self.avatar_attn.before)
        low = max(0, mid - self.user_attn.before)
        a = embed(self.avatar_in(avatar_audio[:, first:]), self.null_avatar, drop[:, 0])
        ua = embed(self.user_audio_in(user_audio[:, low:]), self.null_user_audio, drop[:, 1])
        um = embed(self.user_motion_in(user_motion[:, mid:]), self.null_user_motion, drop[:, 2])
        if user_present is not None:  # (T,) for every row, or (B, T) a row each
            seen = (user_present[:, mid:, None] if user_present.dim() == 2
                    else user_present[None, mid:, None])
            um = torch.where(seen, um, self.null_user_motion)
        um = um + self.user_attn(self.norm_u(um), self.norm_ua(ua), valid[low:], mid - low)
        um = um + self.user_mlp(self.norm_um(um))
        c = a + self.avatar_attn(self.norm_a(a), self.norm_u2(um), valid[mid:], first - mid)
        c = c + self.avatar_mlp(self.norm_am(c))
        return self.norm_out(c)


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
        h = modulate(self.norm1(x), shift1, scale1)
        x = x + gate1 * self.attn(h, mask, kv_cache, layer, write_cache)
        x = x + self.cross(self.norm_c(x), cond, cond_valid, cond_start)
        x = x + gate2 * self.mlp(modulate(self.norm2(x), shift2, scale2))
        return x

    def forward_after_refresh(
        self,
        x: torch.Tensor,
        mod: torch.Tensor,
        refresh_rows: int,
        conds: list[tuple[int, torch.Tensor, torch.Tensor, int]],
        kv_cache: KVCache,
        layer: int,
        keep_refresh_rows: bool = True,
        refresh_windows: CondWindows | None = None,
    ) -> tuple[torch.Tensor, CondWindows]:
        """`forward` for R clean rows (the refresh) followed by one block, in one pass;
        `conds` = [(rows, cond, cond_valid, cond_start)] for the two runs of rows.
        `keep_refresh_rows=False` (the last layer): the clean rows only write their
        keys/values, and the block's rows (B, T, C) are returned alone.
        `refresh_windows`: the clean rows' condition windows from the pass that made
        that block (see `LocalCrossAttention.forward_groups`). Returns the rows and
        the block's condition windows, for the next block's pass."""
        B, T, C = x.shape
        m = mod.view(B, T, 6, C) + self.ada_offset
        h = modulate(self.norm1(x), m[:, :, 0], m[:, :, 1])
        y = self.attn.forward_after_refresh(h, refresh_rows, kv_cache, layer, keep_refresh_rows)
        if not keep_refresh_rows:
            x, m, conds, refresh_windows = x[:, refresh_rows:], m[:, refresh_rows:], conds[1:], None
        shift1, scale1, gate1, shift2, scale2, gate2 = m.unbind(dim=2)  # (B, ·, C) each
        x = x + gate1 * y
        cross, windows = self.cross.forward_groups(self.norm_c(x), conds, refresh_windows)
        x = x + cross
        x = x + gate2 * self.mlp(modulate(self.norm2(x), shift2, scale2))
        return x, windows
