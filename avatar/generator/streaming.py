"""The stateful streaming engine: raw conditions in, absolute motion blocks out.

Kept apart from the model (nanochat's Engine): it owns the rolling KV cache, the
condition buffer, the noise generator and the block clock; the model stays a pure
function. Memory is bounded: the cache holds `cache_frames` frames and the
condition buffer a few blocks, whatever the session length.

Timing. A motion frame may look `lookahead` frames (80 ms) into the future
conditions, so the output runs `latency_frames = lookahead` frames behind the
input: the block returned by the k-th call of `step` (block-sized calls) covers
input frames [k*n - L, (k+1)*n - L). The caller delays the avatar's audio by
`latency_frames` to stay in sync (the first call's first L frames are pre-roll
generated from silence). Reaction latency = block + look-ahead + compute.

Live sessions use `step_window` instead: the caller hands the whole window of
one block plus its look-ahead each time, and the look-ahead rows stay
provisional until their own block is generated. The avatar's reply audio can
then start at the very next block (TTS audio placed into frames the previous
block only peeked at), instead of waiting `latency_frames` behind the input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, GeneratorCheckpoint, load_generator
from avatar.generator.kv_cache import KVCache
from avatar.generator.model import MotionGenerator
from avatar.generator.sampler import (
    DEFAULT_ANCHOR,
    Guidance,
    PendingRefresh,
    branch_drop,
    denoise_block_deferred,
)
from avatar.motion import MOTION_DIM
from avatar.user_baseline import UserBaseline


class StreamingGenerator:
    """Block-by-block Avatar Forcing inference for one session.

    `step(avatar_audio, user_audio, user_motion)` takes n frames of each raw
    condition (features from `avatar.audio_features`, user motion in the 58-column
    space of `avatar.motion`) and returns the newly completed motion frames,
    (n, 58) absolute motion when n is a multiple of `block_frames`.
    """

    def __init__(
        self,
        model: MotionGenerator,
        reference: np.ndarray,
        *,
        nfe: int,
        guidance: Guidance | None = None,
        seed: int = 0,
        use_user_motion: bool = True,
        anchor: float = DEFAULT_ANCHOR,
    ) -> None:
        self.model = model.eval()
        self.cfg = model.cfg
        self.nfe = nfe
        self.guidance = guidance
        self.seed = seed
        self.use_user_motion = use_user_motion  # False: the "w/o user motion" ablation
        self.anchor = anchor  # portrait anchor strength (sampler.anchor_pose)
        self.block_frames = self.cfg.block_frames
        self.latency_frames = self.cfg.lookahead
        self.reset(reference)

    @classmethod
    def from_checkpoint(
        cls, reference: np.ndarray, path: str | Path | None = None, *, seed: int = 0,
        threads: int | None = 1,
    ) -> StreamingGenerator:
        """The engine on a shipped checkpoint, sampled as it was trained to be
        (NFE and guidance from its metadata). Default: the 1-NFE student, the
        CPU fast path. `threads` pins torch (one core is plenty: ~8 ms a block)."""
        if threads is not None:
            torch.set_num_threads(threads)
        ckpt = load_generator(path or DEFAULT_CHECKPOINT)
        return cls.from_loaded(ckpt, reference, seed=seed)

    @classmethod
    def from_loaded(cls, ckpt: GeneratorCheckpoint, reference: np.ndarray, *,
                    seed: int = 0) -> StreamingGenerator:
        """An engine on an already loaded checkpoint: sessions of one server share
        the model weights (inference only) and each keeps its own cache."""
        return cls(ckpt.model, reference, nfe=ckpt.nfe, guidance=ckpt.guidance, seed=seed)

    # ----------------------------------------------------------------- lifecycle
    def reset(self, reference: np.ndarray | None = None, seed: int | None = None) -> None:
        """Start a new session (optionally with a new portrait reference / seed)."""
        if reference is not None:
            ref = np.asarray(reference, dtype=np.float32)
            if ref.shape != (MOTION_DIM,):
                raise ValueError(f"reference motion must be ({MOTION_DIM},), got {ref.shape}")
            self.reference = torch.from_numpy(ref.copy())[None, :]  # (1, M)
        if seed is not None:
            self.seed = seed
        self.noise_gen = torch.Generator().manual_seed(self.seed)
        rows = 1 if self.guidance is None else 3
        self.drop = branch_drop(1, self.guidance)  # (rows, 3)
        if not self.use_user_motion:
            self.drop[:, 2] = True
        self.cache = KVCache(self.cfg.depth, self.cfg.cache_frames)
        # the last block's cache refresh, run inside the next block's first pass
        # (sampler.denoise_block_deferred): one model pass a block, not two
        self._pending: PendingRefresh | None = None
        self._history = torch.zeros(1, 0, MOTION_DIM)  # clean normalised frames in the cache
        # condition buffer in model frame indices; L pre-roll frames before the start
        L, F = self.cfg.lookahead, self.cfg.audio_dim
        self._a = torch.zeros(L, F)
        self._ua = torch.zeros(L, F)
        self._um = torch.zeros(L, MOTION_DIM)
        self._valid = torch.zeros(L, dtype=torch.bool)
        self._present = torch.ones(L, dtype=torch.bool)  # user face seen at this frame
        self._buf_start = 0  # model index of buffer row 0
        self._next = 0  # model index of the next frame to generate
        self._rows = rows
        self.frames_out = 0
        # models trained on baseline-relative user motion read it that way live too
        self._user_baseline = UserBaseline() if self.cfg.user_relative else None

    # ---------------------------------------------------------------------- step
    @torch.inference_mode()  # cheaper than no_grad: no version counters
    def step(
        self,
        avatar_audio: np.ndarray,
        user_audio: np.ndarray,
        user_motion: np.ndarray,
        noise: torch.Tensor | None = None,
    ) -> np.ndarray:
        """Push n frames of conditions; return (k * block_frames, 58) new motion.

        `noise` (k, block_frames, 58), optional, replaces the engine's own noise
        draws (tests compare against the uncached sampler with the same noise).
        """
        a = self._check(avatar_audio, self.cfg.audio_dim, "avatar_audio")
        ua = self._check(user_audio, self.cfg.audio_dim, "user_audio")
        um = self._check(self._user_input(user_motion), MOTION_DIM, "user_motion")
        if not (len(a) == len(ua) == len(um)):
            raise ValueError(
                f"condition lengths differ: {len(a)} avatar audio, {len(ua)} user audio, "
                f"{len(um)} user motion frames"
            )
        self._a = torch.cat([self._a, a])
        self._ua = torch.cat([self._ua, ua])
        self._um = torch.cat([self._um, um])
        self._valid = torch.cat([self._valid, torch.ones(len(a), dtype=torch.bool)])
        self._present = torch.cat([self._present, torch.ones(len(a), dtype=torch.bool)])
        blocks: list[torch.Tensor] = []
        n, L = self.block_frames, self.cfg.lookahead
        while self._next + n + L <= self._buf_start + len(self._a):
            block_noise = None if noise is None else noise[len(blocks)][None]
            blocks.append(self._generate_block(block_noise))
        if not blocks:
            return np.zeros((0, MOTION_DIM), dtype=np.float32)
        out = torch.cat(blocks, dim=1)[0]
        self.frames_out += len(out)
        return out.numpy().astype(np.float32)

    def _generate_block(self, noise: torch.Tensor | None) -> torch.Tensor:
        """Denoise the block at model frames [next, next + n); returns (1, n, 58)."""
        cfg = self.cfg
        n, L, P = cfg.block_frames, cfg.lookahead, cfg.cond_past
        s = self._next
        # raw conditions the encoder needs: its own past window before the cond window
        lo = max(self._buf_start, s - P - 2 * cfg.encoder_past)  # two stacked windows
        i0, i1 = lo - self._buf_start, s + n + L - self._buf_start
        rows = self._rows

        def rep(x: torch.Tensor) -> torch.Tensor:
            return x[i0:i1][None].expand(rows, -1, -1)

        cond = self.model.encode(rep(self._a), rep(self._ua), rep(self._um),
                                 self._valid[i0:i1], self.drop, self._present[i0:i1])
        cond_valid = self._valid[i0:i1]
        if noise is None:
            noise = torch.randn((1, n, MOTION_DIM), generator=self.noise_gen)
        z, self._pending = denoise_block_deferred(
            self.model, noise, cond, self.reference, self.cache, self.nfe, self.guidance,
            self._pending, cond_valid, cond_start=s - lo, history=self._history,
            anchor=self.anchor)
        self._history = torch.cat([self._history, z], dim=1)[:, -cfg.cache_frames:]
        self._next = s + n
        # keep only what the next block's windows can reach
        keep_from = max(self._buf_start, self._next - P - 2 * cfg.encoder_past)
        cut = keep_from - self._buf_start
        self._a, self._ua, self._um = self._a[cut:], self._ua[cut:], self._um[cut:]
        self._valid, self._present = self._valid[cut:], self._present[cut:]
        self._buf_start = keep_from
        return self.model.denormalize(z, self.reference)

    @torch.inference_mode()
    def step_window(
        self,
        avatar_audio: np.ndarray,
        user_audio: np.ndarray,
        user_motion: np.ndarray,
        user_present: np.ndarray | None = None,
    ) -> np.ndarray:
        """Generate the next block from its window; returns (block_frames, 58).

        Each argument holds the `block_frames + lookahead` frames starting at the
        next frame to generate. Rows before the block's end are committed; the
        look-ahead rows are only peeked at and are given again (possibly changed:
        reply audio that arrived meanwhile) with the next window. `user_present`
        (frames,) bool marks frames where the user's face was seen.
        """
        n, L = self.block_frames, self.cfg.lookahead
        a = self._check(avatar_audio, self.cfg.audio_dim, "avatar_audio")
        ua = self._check(user_audio, self.cfg.audio_dim, "user_audio")
        um = self._check(self._user_input(user_motion, user_present, commit=n),
                         MOTION_DIM, "user_motion")
        if not (len(a) == len(ua) == len(um) == n + L):
            raise ValueError(
                f"a window is {n + L} frames of each condition, got {len(a)} avatar audio, "
                f"{len(ua)} user audio, {len(um)} user motion frames"
            )
        present = (torch.ones(n + L, dtype=torch.bool) if user_present is None
                   else torch.from_numpy(np.asarray(user_present, dtype=bool).copy()))
        if present.shape != (n + L,):
            raise ValueError(f"user_present must be ({n + L},), got {tuple(present.shape)}")
        keep = self._next - self._buf_start  # committed rows; the rest was look-ahead
        self._a = torch.cat([self._a[:keep], a])
        self._ua = torch.cat([self._ua[:keep], ua])
        self._um = torch.cat([self._um[:keep], um])
        self._valid = torch.cat([self._valid[:keep], torch.ones(n + L, dtype=torch.bool)])
        self._present = torch.cat([self._present[:keep], present])
        out = self._generate_block(None)[0]
        self.frames_out += n
        return out.numpy().astype(np.float32)

    def _user_input(self, user_motion: np.ndarray, present: np.ndarray | None = None,
                    commit: int | None = None) -> np.ndarray:
        """User motion as the model reads it: absolute, or relative to the user's
        running baseline (GeneratorConfig.user_relative). Only the first `commit`
        rows (None: all) advance the baseline; the rest are look-ahead rows that
        will be given again."""
        if self._user_baseline is None:
            return user_motion
        # validate before the baseline sees it: a NaN frame would poison it for good
        motion = self._check(user_motion, MOTION_DIM, "user_motion").numpy()
        mask = None if present is None else np.asarray(present, dtype=bool)
        k = len(motion) if commit is None else commit
        head = self._user_baseline.apply(motion[:k], None if mask is None else mask[:k])
        tail = self._user_baseline.peek(motion[k:], None if mask is None else mask[k:])
        return np.concatenate([head, tail])

    @staticmethod
    def _check(x: np.ndarray, dim: int, name: str) -> torch.Tensor:
        arr = np.asarray(x, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != dim:
            raise ValueError(f"{name} must be (frames, {dim}), got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or inf")
        return torch.from_numpy(arr.copy())

    def buffered_frames(self) -> int:
        """Condition frames held (bounded; the long-session test checks it)."""
        return len(self._a)
