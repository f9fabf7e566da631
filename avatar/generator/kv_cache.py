"""A rolling key/value cache for block-causal streaming (nanochat-style object).

Why rolling and unrotated: the generator attends to at most `window_frames`
frames (the current block plus `cache_frames` past ones), so older keys can be
dropped, which keeps memory constant over a session of any length. Keys are
stored before RoPE; the attention rotates them by their slot in the window, so
positions never grow (see rope.py).
"""

from __future__ import annotations

import torch


class KVCache:
    """Per-layer keys/values of the last `max_frames` *clean* frames.

    Shapes: k, v are (B, nh, T, hd) with T <= max_frames. Only the cache-refresh
    pass (the clean block at t = 1) writes; denoising passes only read, so the
    noisy intermediate states never leak into the history.
    """

    def __init__(self, depth: int, max_frames: int) -> None:
        if depth <= 0 or max_frames < 0:
            raise ValueError(f"bad cache shape: depth={depth}, max_frames={max_frames}")
        self.depth = depth
        self.max_frames = max_frames
        self.k: list[torch.Tensor | None] = [None] * depth
        self.v: list[torch.Tensor | None] = [None] * depth
        self.frames_seen = 0  # total frames ever appended (for diagnostics only)

    def __len__(self) -> int:
        """Frames currently held (the same for every layer)."""
        k = self.k[0]
        return 0 if k is None else int(k.shape[2])

    def reset(self) -> None:
        """Forget everything (a new session)."""
        self.k = [None] * self.depth
        self.v = [None] * self.depth
        self.frames_seen = 0

    def get(self, layer: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        return self.k[layer], self.v[layer]

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """Add a block's keys/values to one layer, dropping frames beyond the window."""
        new_frames = int(k.shape[2])
        old_k, old_v = self.k[layer], self.v[layer]
        if old_k is not None and old_v is not None:
            k = torch.cat([old_k, k], dim=2)
            v = torch.cat([old_v, v], dim=2)
        if k.shape[2] > self.max_frames:
            # .contiguous() copies, so the dropped frames' storage is really freed
            k = k[:, :, k.shape[2] - self.max_frames :].contiguous()
            v = v[:, :, v.shape[2] - self.max_frames :].contiguous()
        self.k[layer], self.v[layer] = k, v
        if layer == self.depth - 1:
            self.frames_seen += new_frames

    def roll_in(self, layer: int, k: torch.Tensor, v: torch.Tensor, frames: int) -> int:
        """`append` for a layer whose new keys/values sit in k, v (B, nh, ·, hd) after
        the cached ones: the layer keeps the last `max_frames` of their first
        `frames`, as views (no copy: the merged pass's key tensor already holds them,
        and at most `frames` + a block of storage stays alive). Returns the frames
        rolled out of the window."""
        dropped = max(0, frames - self.max_frames)
        old = self.k[layer]
        added = frames - (0 if old is None else int(old.shape[2]))
        self.k[layer], self.v[layer] = k[:, :, dropped:frames], v[:, :, dropped:frames]
        if layer == self.depth - 1:
            self.frames_seen += added
        return dropped

    def nbytes(self) -> int:
        """Memory held by the cache tensors (the long-session test watches this)."""
        total = 0
        for t in self.k + self.v:
            if t is not None:
                total += t.element_size() * t.numel()
        return total
