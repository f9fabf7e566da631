"""The Avatar Forcing motion generator: dual motion encoder + causal DFoT transformer.

Paper: Ki et al., "Avatar Forcing" (arXiv 2601.00664), Sec. 3; sizes scaled to a
CPU (config.py). One token per motion frame (25 fps). Pieces, smallest first:

- attention.py: `LocalCrossAttention` (condition windows) and the block-causal
  `SelfAttention` with its optional `KVCache` (streaming).
- blocks.py: the `DualMotionEncoder` and the adaLN-modulated `DFoTBlock`.
- here, `MotionGenerator`: predicts the flow-matching velocity of normalised
  motion relative to the portrait's reference motion, with the one shared adaLN
  modulation of (time, reference) every block offsets.

The model knows nothing about sampling or streaming: `forward(x, t, cond, ...,
kv_cache=None)` is a pure function of its inputs; sampler.py and streaming.py
drive it.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from avatar.generator.attention import CondWindows, block_causal_mask
from avatar.generator.blocks import DFoTBlock, DualMotionEncoder, Mlp, modulate
from avatar.generator.config import GeneratorConfig
from avatar.generator.kv_cache import KVCache
from avatar.generator.rope import Rope
from avatar.motion import MOTION_COLUMNS

# Camera-framing columns of the USER's webcam motion carry where the user sits,
# not what they do; the encoder ignores them (avatar/motion.py docstring).
_USER_IGNORED = ("tx", "ty", "scale")
#: modulations kept per model at inference (a few flow times x the portraits in use)
_MODULATION_MEMO = 16
#: each model's memo of modulations (MotionGenerator._modulation), outside the module
#: so that copies and pickles of a model never carry another's; sessions of one
#: server share a model from several threads
_MEMOS: weakref.WeakKeyDictionary[nn.Module, OrderedDict[tuple, tuple[torch.Tensor, torch.Tensor]]]
_MEMOS = weakref.WeakKeyDictionary()
_MEMO_LOCK = threading.Lock()


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
        # slots of a whole window plus the block the merged refresh pass adds to it
        self.rope = Rope(H // cfg.heads, cfg.window_frames + cfg.block_frames, cfg.rope_base)
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
        first: int = 0,
    ) -> torch.Tensor:
        """Raw per-frame conditions (B, T, ·) -> encoded condition (B, T - first, H).

        `valid` (T,) marks frames that exist (False: before the session start);
        `drop` (B, 3) bool drops [avatar audio, user audio, user motion];
        `user_present` (T,) bool marks frames where the user's face was seen, or
        (B, T) a row each (several sessions in one batch: streaming.step_windows).
        `first`: the frames before it are read as the past of later frames only
        (the streaming engine's window), their own conditions are not computed.
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
        if not 0 <= first < T:
            raise ValueError(f"first condition frame {first} outside the {T} frames")
        return self.encoder(avatar_audio, user_audio, um, valid, drop, user_present, first)

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
        return self.x_out(modulate(self.norm_out(h), shift, scale))

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
        clean_windows: Sequence[CondWindows] | None = None,
    ) -> tuple[torch.Tensor, list[CondWindows]]:
        """The previous block's cache refresh and this block's first velocity, in ONE pass.

        Equivalent to `forward(clean, ones, *clean_cond..., write_cache=True)` (the
        refresh of the previous, clean block (B, R, M) with its own condition
        window `clean_cond` = (cond, cond_valid, cond_start)) followed by
        `forward(x, t, cond, ...)` on the cache it wrote: the clean rows never see
        the block's, the block's see the cache with the clean rows in it. Returns
        the block's velocity (B, T, M) and its condition windows, a layer each: the
        next block's pass, whose clean rows are this block's, takes them as
        `clean_windows` instead of projecting the same condition again.

        Why: the model is small (hidden 128) and a pass over 5 rows
        costs nearly what a pass over 10 does (each weight matrix is read once
        either way, and PyTorch's per-operation overhead is paid once): streaming
        ran two passes a block, the refresh and the 1-NFE step; merged it runs one.
        Results equal the two passes' up to float rounding of the wider matrix
        products (tests/avatar/test_generator.py).
        """
        B, R, _ = clean.shape
        times = torch.cat([torch.ones(B, R), t], dim=1)
        return self.rows_after_refresh(clean, clean_cond, x, cond, cond_valid, cond_start,
                                       kv_cache, self._modulation(times, reference),
                                       clean_windows)

    def rows_after_refresh(
        self,
        clean: torch.Tensor,
        clean_cond: tuple[torch.Tensor, torch.Tensor, int],
        x: torch.Tensor,
        cond: torch.Tensor,
        cond_valid: torch.Tensor,
        cond_start: int,
        kv_cache: KVCache,
        modulation: tuple[torch.Tensor, torch.Tensor],
        clean_windows: Sequence[CondWindows] | None = None,
    ) -> tuple[torch.Tensor, list[CondWindows]]:
        """`forward_after_refresh` given the modulations (`_modulation` of the rows'
        times and the reference): a function of tensors only, which the traced
        steady-state step (steady.py) records without the modulation's memo."""
        R, T = clean.shape[1], x.shape[1]
        if R > self.cfg.block_frames or T > self.cfg.block_frames:
            raise ValueError(f"merged pass takes one clean and one noisy block, got {R} + {T}")
        rows = torch.cat([clean, x], dim=1)
        mod, out_mod = modulation
        h = self.x_in(rows)
        conds = [(R, *clean_cond), (T, cond, cond_valid, cond_start)]
        last = len(self.blocks) - 1
        windows: list[CondWindows] = []
        for layer, block in enumerate(self.blocks):
            assert isinstance(block, DFoTBlock)  # for the type checker: a ModuleList item
            # the last layer's clean rows only write their keys/values: h is (B, T, H) after it
            h, made = block.forward_after_refresh(
                h, mod, R, conds, kv_cache, layer, keep_refresh_rows=layer != last,
                refresh_windows=None if clean_windows is None else clean_windows[layer])
            windows.append(made)
        shift, scale = out_mod[:, R:].chunk(2, dim=-1)
        return self.x_out(modulate(self.norm_out(h), shift, scale)), windows

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
