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
    """Precomputed rotations for positions 0 .. max_positions-1.

    Each pair (x[2i], x[2i+1]) of a head's features is read as one complex number
    and multiplied by e^{i angle}: x1 cos - x2 sin, x1 sin + x2 cos (the paper's
    rotation). One complex multiply is one operation where the pairwise form
    took eight (gather or slice, swap, two products, a sum); on this model's
    tiny tensors operations, not arithmetic, are the cost.
    """

    turns: torch.Tensor
    inv_freq: torch.Tensor

    def __init__(self, head_dim: int, max_positions: int, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"RoPE needs an even head dim, got {head_dim}")
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
        angles = torch.arange(max_positions, dtype=torch.float64)[:, None] * inv_freq[None, :]
        # angles in float64, so the rotations, rounded to float32 once, are exact
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("turns", _turns(angles), persistent=False)  # (P, hd/2) complex64
        self.max_positions = max_positions

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Rotate x (B, nh, T, hd) by integer positions (T,) in [0, max_positions)."""
        if positions.numel() and int(positions.max()) >= self.max_positions:
            # Only the uncached full-sequence reference (tests) goes past the window;
            # compute those angles on the fly, in float64 like the table.
            angles = positions.double()[:, None] * self.inv_freq.double()[None, :]
            return _rotate(x, _turns(angles))
        return _rotate(x, self.turns[positions])

    def rotate_range(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """`forward` for the consecutive positions start .. start + T - 1: a slice of
        the table instead of a gather (attention rotates by consecutive window slots
        only, 8 times a generated block). The same numbers bit for bit."""
        T = x.shape[-2]
        if start < 0 or start + T > self.max_positions:
            return self.forward(x, torch.arange(start, start + T))
        return _rotate(x, self.turns[start:start + T])


def _turns(angles: torch.Tensor) -> torch.Tensor:
    """e^{i angle} as complex64 from float64 angles: cos and sin rounded to float32
    once, as the float tables are."""
    return torch.complex(angles.cos().float(), angles.sin().float())


def _rotate(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """x (..., T, hd) with each feature pair rotated by turns (T, hd/2), complex."""
    pairs = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2))  # (..., T, hd/2)
    return torch.view_as_real(pairs * turns).flatten(-2)  # (..., T, hd)
