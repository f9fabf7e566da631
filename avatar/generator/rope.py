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
