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

Several sessions at once: `step_windows(engines, windows)` is `step_window` for
each engine, their blocks denoised in one pass stacked on the batch dimension
(each engine keeps its own cache, history and noise); a face worker's sessions
use it through avatar/live/step_batcher.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
from avatar.generator.steady import steady_step, traced_step_enabled
from avatar.motion import MOTION_DIM
from avatar.user_baseline import UserBaseline


@dataclass(frozen=True)
class Window:
    """One `step_window` call's arguments (for `step_windows`)."""

    avatar_audio: np.ndarray
    user_audio: np.ndarray
    user_motion: np.ndarray
    user_present: np.ndarray | None = None


@dataclass(frozen=True)
class _Block:
    """What one block's denoising reads of an engine: its raw condition window
    (T, ·) starting `cond_start` frames before the block, and its noise (1, n, M)."""

    avatar_audio: torch.Tensor
    user_audio: torch.Tensor
    user_motion: torch.Tensor
    valid: torch.Tensor  # (T,) the frames that exist
    present: torch.Tensor  # (T,) the user's face seen
    cond_start: int
    noise: torch.Tensor


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
        traced: bool = False,
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
        # the steady-state block step as one traced graph (steady.py), traced here
        # once a process, never on a step
        self._steady = steady_step(self) if traced else None

    @classmethod
    def from_checkpoint(
        cls, reference: np.ndarray, path: str | Path | None = None, *, seed: int = 0,
        threads: int | None = 1, traced: bool | None = None,
    ) -> StreamingGenerator:
        """The engine on a shipped checkpoint, sampled as it was trained to be
        (NFE and guidance from its metadata). Default: the 1-NFE student, the
        CPU fast path. `threads` pins torch (one core is plenty: ~6 ms a block here).
        `traced`: see `from_loaded`."""
        if threads is not None:
            torch.set_num_threads(threads)
        ckpt = load_generator(path or DEFAULT_CHECKPOINT)
        return cls.from_loaded(ckpt, reference, seed=seed, traced=traced)

    @classmethod
    def from_loaded(cls, ckpt: GeneratorCheckpoint, reference: np.ndarray, *,
                    seed: int = 0, traced: bool | None = None) -> StreamingGenerator:
        """An engine on an already loaded checkpoint: sessions of one server share
        the model weights (inference only) and each keeps its own cache.
        `traced`: its steady-state steps run as one traced graph (steady.py; the same
        motion); None: unless `AVATAR_TRACED_STEP=0`. The first engine of a process
        traces it (a fraction of a second of a core)."""
        if traced is None:
            traced = traced_step_enabled()
        return cls(ckpt.model, reference, nfe=ckpt.nfe, guidance=ckpt.guidance, seed=seed,
                   traced=traced)

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
        self._steady_mod: tuple[torch.Tensor, torch.Tensor] | None = None
        self.frames_out = 0
        self.traced_blocks = 0  # blocks the traced steady step made (steady.py)
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
        return self._denoise(self._next_block(noise))

    def _denoise(self, block: _Block) -> torch.Tensor:
        """Denoise `block` (`_next_block`) and take it; returns (1, n, 58). A steady
        block takes the traced step where the engine has one (steady.py)."""
        steady = self._steady
        if steady is not None and steady.fits(self, block):
            try:
                return steady.step(self, block)
            except Exception as error:  # nothing was taken: eager from here on
                steady.fail(error)
        rows = self._rows

        def rep(x: torch.Tensor) -> torch.Tensor:
            return x[None].expand(rows, -1, -1)

        first, valid, cond_start = self._cond_window(block)
        cond = self.model.encode(rep(block.avatar_audio), rep(block.user_audio),
                                 rep(block.user_motion), block.valid, self.drop, block.present,
                                 first)
        z, pending = denoise_block_deferred(
            self.model, block.noise, cond, self.reference, self.cache, self.nfe, self.guidance,
            self._pending, valid, cond_start=cond_start, history=self._history,
            anchor=self.anchor)
        self._commit_block(z, pending)
        return self.model.denormalize(z, self.reference)

    def _steady_modulation(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The merged pass's modulations for this engine's portrait at steady state
        (a clean block at t = 1, the block at t = 0), as `velocity_after_refresh` asks
        the model for them; once a session."""
        if self._steady_mod is None:
            rows, n = self._rows, self.block_frames
            times = torch.cat([torch.ones(rows, n), torch.full((rows, n), 0.0)], dim=1)
            self._steady_mod = self.model._modulation(times, self.reference.repeat(rows, 1))
        return self._steady_mod

    def _cond_window(self, block: _Block) -> tuple[int, torch.Tensor, int]:
        """Where the block's encoded conditions start in its raw window (`first`: the
        rows before are only the encoder's past), their valid frames and the
        block's first frame among them."""
        first = max(0, block.cond_start - self.cfg.cond_past)
        return first, block.valid[first:], block.cond_start - first

    def _next_block(self, noise: torch.Tensor | None) -> _Block:
        """The next block's raw condition window and noise (drawn here when not given)."""
        cfg = self.cfg
        n, L, P = cfg.block_frames, cfg.lookahead, cfg.cond_past
        s = self._next
        # raw conditions the encoder needs: its own past window before the cond window
        lo = max(self._buf_start, s - P - 2 * cfg.encoder_past)  # two stacked windows
        i0, i1 = lo - self._buf_start, s + n + L - self._buf_start
        if noise is None:
            noise = torch.randn((1, n, MOTION_DIM), generator=self.noise_gen)
        return _Block(self._a[i0:i1], self._ua[i0:i1], self._um[i0:i1], self._valid[i0:i1],
                      self._present[i0:i1], s - lo, noise)

    def _batch_key(self, block: _Block) -> tuple[object, ...]:
        """What must be equal for engines' blocks to be denoised together (`step_windows`):
        the model and its sampling, and the lengths of every window and cache."""
        pending = self._pending
        return (id(self.model), self.nfe, self.guidance, self.anchor, self._rows,
                block.cond_start, block.valid.numpy().tobytes(), len(self.cache),
                self._history.shape[1],
                None if pending is None else (pending.clean.shape[1], pending.cond_start,
                                              pending.cond_valid.numpy().tobytes()))

    def _commit_block(self, z: torch.Tensor, pending: PendingRefresh) -> None:
        """Take the denoised block z (1, n, M), normalised, as generated: its refresh
        is pending, it joins the history and the clock moves on one block."""
        cfg = self.cfg
        self._pending = pending
        self._history = torch.cat([self._history, z], dim=1)[:, -cfg.cache_frames:]
        self._next += cfg.block_frames
        # keep only what the next block's windows can reach
        keep_from = max(self._buf_start, self._next - cfg.cond_past - 2 * cfg.encoder_past)
        cut = keep_from - self._buf_start
        self._a, self._ua, self._um = self._a[cut:], self._ua[cut:], self._um[cut:]
        self._valid, self._present = self._valid[cut:], self._present[cut:]
        self._buf_start = keep_from

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
        self._push_window(avatar_audio, user_audio, user_motion, user_present)
        out = self._generate_block(None)[0]
        self.frames_out += self.block_frames
        return out.numpy().astype(np.float32)

    def _push_window(self, avatar_audio: np.ndarray, user_audio: np.ndarray,
                     user_motion: np.ndarray, user_present: np.ndarray | None) -> None:
        """Check a window (see `step_window`) and put it in the condition buffer."""
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


@torch.inference_mode()
def step_windows(engines: Sequence[StreamingGenerator], windows: Sequence[Window]
                 ) -> list[np.ndarray | Exception]:
    """`engine.step_window(*window)` for each engine, in as few model passes as can be.

    Engines whose next blocks have the same shape (one model and sampling, equal
    cache and condition-window lengths: every session past its first two seconds)
    are denoised together, stacked on the batch dimension; each keeps its own state
    (KV cache, pending refresh, history, noise generator, portrait reference). Each
    result is the engine's block (block_frames, 58), or the exception its own
    window or block raised: the others go on.

    Why: on a CPU a block of this 128-wide model is mostly PyTorch's per-operation
    overhead, so several sessions' blocks in one pass cost little more than one
    (docs/FLEET.md). Results equal the engines stepped one by one up
    to float rounding of the wider matrix products; an engine alone of its shape
    takes `step_window`'s own path.
    """
    if len(engines) != len(windows):
        raise ValueError(f"{len(engines)} engines, {len(windows)} windows")
    if len({id(engine) for engine in engines}) != len(engines):
        raise ValueError("an engine is stepped twice in one call")
    results: list[np.ndarray | Exception | None] = [None] * len(engines)
    groups: dict[tuple[object, ...], list[tuple[int, _Block]]] = {}
    for index, (engine, window) in enumerate(zip(engines, windows, strict=True)):
        try:
            engine._push_window(window.avatar_audio, window.user_audio, window.user_motion,
                                window.user_present)
            block = engine._next_block(None)
        except Exception as error:  # this engine's input: only its own result
            results[index] = error
            continue
        groups.setdefault(engine._batch_key(block), []).append((index, block))
    for members in groups.values():
        together: list[torch.Tensor] | None = None
        if len(members) > 1:
            try:
                together = _denoise_together([engines[i] for i, _ in members],
                                             [block for _, block in members])
            except Exception:  # nothing was taken: each alone says whose block fails
                together = None
        for k, (index, block) in enumerate(members):
            engine = engines[index]
            try:
                out = engine._denoise(block) if together is None else together[k]
            except Exception as error:
                results[index] = error
                continue
            engine.frames_out += engine.block_frames
            results[index] = out[0].numpy().astype(np.float32)
    return [r if r is not None else RuntimeError("no result") for r in results]


def _denoise_together(engines: list[StreamingGenerator], blocks: list[_Block]
                      ) -> list[torch.Tensor]:
    """`engine._denoise(block)` for engines of one `_batch_key`, in one batched pass;
    returns each engine's (1, n, 58). Engines are changed only once the pass is done."""
    first, B = engines[0], len(engines)
    model, rows, cfg = first.model, first._rows, first.cfg

    def stacked(xs: list[torch.Tensor]) -> torch.Tensor:
        """(T, ·) per engine -> (rows * B, T, ·), branch-major (`sampler.branch_drop`)."""
        return torch.stack(xs).repeat(rows, 1, 1)

    drop = _branch_major([engine.drop for engine in engines])
    present = torch.stack([b.present for b in blocks]).repeat(rows, 1)  # (rows * B, T)
    cond_first, valid, cond_start = first._cond_window(blocks[0])
    cond = model.encode(stacked([b.avatar_audio for b in blocks]),
                        stacked([b.user_audio for b in blocks]),
                        stacked([b.user_motion for b in blocks]),
                        blocks[0].valid, drop, present, cond_first)  # (rows * B, ·, H)
    cache = KVCache(cfg.depth, cfg.cache_frames)
    for layer in range(cfg.depth):
        keys = [engine.cache.k[layer] for engine in engines]
        values = [engine.cache.v[layer] for engine in engines]
        if all(k is not None for k in keys) and all(v is not None for v in values):
            cache.k[layer] = _branch_major(keys)  # type: ignore[arg-type]
            cache.v[layer] = _branch_major(values)  # type: ignore[arg-type]
    pendings = [engine._pending for engine in engines]
    pending = None
    if pendings[0] is not None:
        done = [p for p in pendings if p is not None]
        pending = PendingRefresh(torch.cat([p.clean for p in done]),
                                 _branch_major([p.cond for p in done]),
                                 done[0].cond_valid, done[0].cond_start)
    reference = torch.cat([engine.reference for engine in engines])  # (B, M)
    z, _ = denoise_block_deferred(
        model, torch.cat([b.noise for b in blocks]), cond, reference, cache, first.nfe,
        first.guidance, pending, valid, cond_start=cond_start,
        history=torch.cat([engine._history for engine in engines]), anchor=first.anchor)
    motion = model.denormalize(z, reference)  # (B, n, M)
    for i, engine in enumerate(engines):
        for layer in range(cfg.depth):
            k, v = cache.k[layer], cache.v[layer]
            if k is not None and v is not None:
                engine.cache.k[layer] = _batch_row(k, B, i)
                engine.cache.v[layer] = _batch_row(v, B, i)
        engine.cache.frames_seen += cache.frames_seen
        engine._commit_block(z[i:i + 1], PendingRefresh(
            z[i:i + 1], _batch_row(cond, B, i), valid, cond_start))
    return [motion[i:i + 1] for i in range(B)]


def _branch_major(parts: list[torch.Tensor]) -> torch.Tensor:
    """B engines' (rows, ...) tensors as one (rows * B, ...), branch-major."""
    return torch.stack(parts, dim=1).flatten(0, 1)


def _batch_row(x: torch.Tensor, batch: int, index: int) -> torch.Tensor:
    """Engine `index`'s (rows, ...) of a branch-major (rows * batch, ...) tensor."""
    return x.unflatten(0, (-1, batch))[:, index]
