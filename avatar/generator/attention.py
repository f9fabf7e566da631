"""The generator's two attentions: condition windows and block-causal self-attention.

- `LocalCrossAttention`: every query frame attends to a fixed window of condition
  frames around it (the paper's sliding-window alignment of condition to motion).
- `SelfAttention`: block-causal attention over a rolling window, RoPE with
  window-relative positions, optional `KVCache` (streaming).
- `block_causal_mask`: the mask of a whole sequence (no cache) for `SelfAttention`.

Apart from the transformer blocks (blocks.py) so each stays readable; their
parameter names are the checkpoint's state-dict keys and must not change.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from avatar.generator.config import GeneratorConfig
from avatar.generator.kv_cache import KVCache
from avatar.generator.rope import Rope

_NEG = -1e9  # mask value: finite so fully masked rows do not produce NaN


def block_causal_mask(n_frames: int, block_frames: int, window_blocks: int) -> torch.Tensor:
    """(T, T) bool, True = may attend: keys in the query's block or the previous
    `window_blocks - 1` blocks (block-causal with a rolling window)."""
    block = torch.arange(n_frames) // block_frames
    diff = block[:, None] - block[None, :]  # query block - key block
    return (diff >= 0) & (diff < window_blocks)


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
