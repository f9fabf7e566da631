"""Rotary position embedding (RoFormer, Su et al. 2021) with window-relative positions.

Why window-relative: RoPE scores depend only on the distance between query and
key, so rotating every frame by its index *inside the current attention window*
(0 .. window_frames-1) gives the same attention as absolute positions, but the
angles never grow. A public streaming port of Avatar Forcing overflowed after
~41 s because it kept absolute positions; here a 10-hour session
uses exactly the same angles as a 2-second one. The KV cache therefore stores
keys *unrotated* and rotates them by their window slot at attention time.
"""

from __future__ import annotations

import torch


class Rope(torch.nn.Module):
    """Precomputed cos/sin tables for positions 0 .. max_positions-1."""

    cos: torch.Tensor
    sin: torch.Tensor
    cos_pairs: torch.Tensor
    sin_pairs: torch.Tensor
    inv_freq: torch.Tensor

    def __init__(self, head_dim: int, max_positions: int, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"RoPE needs an even head dim, got {head_dim}")
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
        angles = torch.arange(max_positions, dtype=torch.float64)[:, None] * inv_freq[None, :]
        # (P, hd/2), float32 for the arithmetic; computed in float64 so tables are exact
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)
        self.max_positions = max_positions
        # the same tables per element of x, for `rotate_range`: cos twice, and sin
        # signed as the pair's rotation takes it (-sin for the even, +sin for the odd)
        cos, sin = angles.cos().float(), angles.sin().float()
        self.register_buffer("cos_pairs", cos.repeat_interleave(2, dim=-1), persistent=False)
        self.register_buffer("sin_pairs", torch.stack((-sin, sin), dim=-1).flatten(-2),
                             persistent=False)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Rotate x (B, nh, T, hd) by integer positions (T,) in [0, max_positions)."""
        if positions.numel() and int(positions.max()) >= self.max_positions:
            # Only the uncached full-sequence reference (tests) goes past the window;
            # compute those angles on the fly, in float64 like the table.
            inv_freq = self.inv_freq.double()
            angles = positions.double()[:, None] * inv_freq[None, :]
            cos, sin = angles.cos().float(), angles.sin().float()
        else:
            cos = self.cos[positions]  # (T, hd/2)
            sin = self.sin[positions]
        x1, x2 = x[..., 0::2], x[..., 1::2]  # (B, nh, T, hd/2) each
        out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
        return out.flatten(-2)  # (B, nh, T, hd)

    def rotate_range(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """`forward` for the consecutive positions start .. start + T - 1 (inside the table).

        Why: attention rotates by consecutive window slots only, 16 times
        a generated block; slices of per-element tables and a pair swap take half
        the operations of gathering and re-interleaving. The same numbers bit for
        bit: x1 cos + x2 (-sin) is x1 cos - x2 sin, and x2 cos + x1 sin is
        x1 sin + x2 cos, exactly, in IEEE arithmetic."""
        T = x.shape[-2]
        if start < 0 or start + T > self.max_positions:
            return self.forward(x, torch.arange(start, start + T))
        swapped = x.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)  # (x2, x1) per pair
        return x * self.cos_pairs[start:start + T] + swapped * self.sin_pairs[start:start + T]
