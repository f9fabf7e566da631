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

import functools
import math
from dataclasses import dataclass

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
        q = self.q(x)
        windows = self._windows(kv, kv_valid, start, x.shape[1])
        return self.out(self._attend(q, windows.k, windows.v, windows.masks))

    def forward_groups(self, x: torch.Tensor,
                       groups: list[tuple[int, torch.Tensor, torch.Tensor, int]],
                       reuse: CondWindows | None = None) -> tuple[torch.Tensor, CondWindows]:
        """`forward` for consecutive runs of query rows, each with its own kv sequence:
        `groups` = [(rows, kv, kv_valid, start), ...] in row order. One query and one
        output projection for all rows, and one attention core over every group's
        windows side by side (the generator's merged refresh pass). `reuse`: the first
        group's windows, when a pass over the same kv and rows made them (the merged
        pass's clean rows: the previous block's condition). Returns the output and
        the last group's windows, for such a later pass."""
        q = self.q(x)
        windows = [self._windows(kv, kv_valid, start, rows)
                   for rows, kv, kv_valid, start in groups[1 if reuse is not None else 0:]]
        if reuse is not None:
            if reuse.k.shape[:2] != (x.shape[0], groups[0][0]):
                raise ValueError(f"reused windows {tuple(reuse.k.shape[:2])} do not fit "
                                 f"{x.shape[0]} rows of batch x {groups[0][0]} queries")
            windows.insert(0, reuse)
        if len(windows) == 1:
            k, v, masks = windows[0].k, windows[0].v, windows[0].masks
        else:  # each query row has its own window: the rows' windows concatenate
            k = torch.cat([w.k for w in windows], dim=1)
            v = torch.cat([w.v for w in windows], dim=1)
            masks = _cat_masks([w.masks for w in windows], [rows for rows, *_ in groups])
        return self.out(self._attend(q, k, v, masks)), windows[-1]

    def _windows(self, kv: torch.Tensor, kv_valid: torch.Tensor, start: int, T: int
                 ) -> CondWindows:
        """Each of T query rows' window of keys and values, (B, T, C, S) each, and its
        masks. Only the kv frames some window reaches are projected (a row's
        projection does not depend on the other rows)."""
        Tk = kv.shape[1]
        lo = start - self.before
        length = T + self.span - 1
        first, last = max(0, lo), min(Tk, lo + length)  # the kv frames the windows reach
        k, v = self.kv(kv[:, first:max(first, last)]).chunk(2, dim=-1)  # (B, ·, C) each
        pad_l, pad_r = first - lo, lo + length - max(first, last)
        if pad_l or pad_r:  # windows past either end: zeros there, masked below
            k = F.pad(k, (0, 0, pad_l, pad_r))
            v = F.pad(v, (0, 0, pad_l, pad_r))
        k = k.unfold(1, self.span, 1)  # (B, T, C, S)
        v = v.unfold(1, self.span, 1)
        return CondWindows(k, v, _window_masks(kv_valid, lo, T, self.span))

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                masks: _WindowMasks) -> torch.Tensor:
        """The attention core for projected queries q (B, T, C) over their windows
        k, v (B, T, C, S): (B, T, C) before `out`."""
        B, T, C = q.shape
        nh, hd = self.heads, C // self.heads
        q = q.reshape(B, T, nh, hd)
        k = k.reshape(B, T, nh, hd, self.span)
        v = v.reshape(B, T, nh, hd, self.span)
        # batched (1, hd) @ (hd, S) products: einsum's own bookkeeping costs more here
        scores = (q.unsqueeze(-2) @ k).squeeze(-2) / math.sqrt(hd)  # (B, T, nh, S)
        scores = scores + self.slot_bias
        if masks.invalid is not None:
            scores = scores.masked_fill(masks.invalid, _NEG)
        att = scores.softmax(dim=-1)
        if masks.seen is not None:  # rows whose whole window is masked attend to nothing
            att = att * masks.seen
        return (v @ att.unsqueeze(-1)).reshape(B, T, C)  # (B, T, nh, hd, 1) -> (B, T, C)


@dataclass(frozen=True)
class _WindowMasks:
    """What `LocalCrossAttention` masks for T query rows of span-S windows: `invalid`
    (1, T, 1, S) True where a slot is outside the kv sequence or marked invalid, and
    `seen` (1, T, 1, 1) 0.0 for rows with no valid slot at all; each None when
    nothing is masked (a stream's usual window), so the core skips the operation."""

    invalid: torch.Tensor | None
    seen: torch.Tensor | None


@dataclass(frozen=True)
class CondWindows:
    """One kv sequence's windows for a run of T query rows, as `LocalCrossAttention`
    projects and masks them: keys and values (B, T, C, S) and their masks."""

    k: torch.Tensor
    v: torch.Tensor
    masks: _WindowMasks


def _window_masks(kv_valid: torch.Tensor, lo: int, T: int, span: int) -> _WindowMasks:
    """The masks of T windows of `span` slots starting at kv index `lo` (memoised: a
    stream asks for the same few again and again)."""
    valid = kv_valid.to(torch.bool)
    return _window_masks_of(valid.numpy().tobytes() if valid.device.type == "cpu"
                            else bytes(valid.cpu().numpy()), lo, T, span)


@functools.lru_cache(maxsize=256)
def _window_masks_of(valid_bytes: bytes, lo: int, T: int, span: int) -> _WindowMasks:
    with torch.inference_mode(False):  # kept for training too: no inference tensors
        return _build_window_masks(valid_bytes, lo, T, span)


def _build_window_masks(valid_bytes: bytes, lo: int, T: int, span: int) -> _WindowMasks:
    valid = torch.frombuffer(bytearray(valid_bytes), dtype=torch.bool)
    length = T + span - 1
    first, last = max(0, lo), min(len(valid), lo + length)
    window = torch.zeros(length, dtype=torch.bool)
    if last > first:
        window[first - lo:last - lo] = valid[first:last]
    slots = window.unfold(0, span, 1)  # (T, S)
    if bool(slots.all()):
        return _WindowMasks(None, None)
    any_valid = slots.any(dim=-1)
    seen = None if bool(any_valid.all()) else any_valid.float()[None, :, None, None]
    return _WindowMasks((~slots)[None, :, None, :].contiguous(), seen)


def _cat_masks(masks: list[_WindowMasks], rows: list[int]) -> _WindowMasks:
    """Several groups' masks as one, their rows side by side (None: nothing masked)."""
    spans = [m.invalid.shape[-1] for m in masks if m.invalid is not None]
    invalid = None if not spans else torch.cat(
        [m.invalid if m.invalid is not None else torch.zeros(1, n, 1, spans[0], dtype=torch.bool)
         for m, n in zip(masks, rows, strict=True)], dim=1)
    seen = None if all(m.seen is None for m in masks) else torch.cat(
        [m.seen if m.seen is not None else torch.ones(1, n, 1, 1)
         for m, n in zip(masks, rows, strict=True)], dim=1)
    return _WindowMasks(invalid, seen)


@functools.lru_cache(maxsize=64)
def _merged_mask(past: int, refresh: int, block: int, dropped: int, first: int) -> torch.Tensor:
    """(rows, past + refresh + block) bool, True = may attend, for the merged pass's
    rows from `first` on: a clean row sees the cache and the clean rows; a block row
    sees what the cache holds after the clean rows went in (the oldest `dropped`
    frames rolled out), the clean rows and its block."""
    with torch.inference_mode(False):  # kept across modes: no inference tensor
        keys = torch.arange(past + refresh + block)
        rows = torch.arange(first, refresh + block)[:, None]
        return torch.where(rows < refresh, keys < past + refresh, keys >= dropped)


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
                              layer: int, keep_refresh_rows: bool = True) -> torch.Tensor:
        """x (B, R + T, C): R clean rows of the previous block, then one block.

        The clean rows attend as the refresh pass does (the cache, then themselves)
        and their keys/values are written; the block's rows then attend as a
        denoising pass does, to the cache with the clean rows in it (its oldest
        frames rolled out). One qkv projection, one attention and one output
        projection for both (see MotionGenerator.forward_after_refresh): every row
        attends over [cache, clean rows, block] with a mask, keys rotated once.
        RoPE scores depend only on the distance between query and key, so the
        block's rows, at slots `dropped` further on than their own pass put them,
        score the same up to float rounding. `keep_refresh_rows=False` returns the
        block's rows only (B, T, C): the last layer's clean rows are needed for
        their keys and values, not their output."""
        B, N, C = x.shape
        nh, hd = self.heads, C // self.heads
        R = refresh_rows
        q, k, v = self.qkv(x).view(B, N, 3, nh, hd).permute(2, 0, 3, 1, 4)  # 3 x (B, nh, N, hd)
        past_k, past_v = kv_cache.get(layer)
        P = 0 if past_k is None else int(past_k.shape[2])
        keys = k if past_k is None else torch.cat([past_k, k], dim=2)  # (B, nh, P + N, hd)
        values = v if past_v is None else torch.cat([past_v, v], dim=2)
        dropped = kv_cache.roll_in(layer, keys, values, P + R)  # unrotated, as `append`
        first = 0 if keep_refresh_rows else R
        q = self.rope.rotate_range(q[:, :, first:], P + first)
        keys = self.rope.rotate_range(keys, 0)
        mask = _merged_mask(P, R, N - R, dropped, first)
        y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)  # (B, nh, ·, hd)
        return self.out(y.transpose(1, 2).reshape(B, N - first, C))

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
