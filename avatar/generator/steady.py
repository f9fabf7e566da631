"""The streaming engine's steady-state block step as one frozen TorchScript graph.

Why: on a CPU this 128-wide model's block step is mostly PyTorch's per-operation
overhead (44 matrix products ~2.3 ms of a 7-8 ms step, ~600 small tensor operations the
rest). Past its first two seconds a session's step always has the same shapes (one
session, the rolling cache full, every condition frame valid, nothing masked), so the
whole of it -- the condition encoder, the merged refresh pass
(`MotionGenerator.rows_after_refresh`), the Euler step, the portrait anchor and the
denormalisation -- is recorded once with `torch.jit.trace` and frozen
(`torch.jit.freeze`: the weights become constants of the graph), and runs as one call.
The operations are the eager step's, in its order: the motion is the eager step's, bit
for bit on the shipped checkpoint (tests/avatar/test_generator_steady.py).

When: `steady_step` traces once per model weights and sampling (in a process: a face
worker at its prime, a laptop's first session at its start), on a synthetic session
stepped eagerly until steady, and checks the graph against the eager step on a few
more blocks before handing it out. An engine then takes the graph only for a block of
exactly those shapes (`SteadyStep.fits`); its first blocks, batched passes
(`streaming.step_windows`), guided rows of another count, NFE above 1 and any other
shape run eager. Tracing lazily in the middle of a session would stall its face, so
nothing here traces on a step.

Off: `AVATAR_TRACED_STEP=0` in the environment, or `traced=False` to
`StreamingGenerator.from_loaded` / `from_checkpoint`. A trace that fails for any
reason (an operator TorchScript lacks, a graph that disagrees with the eager step) is
logged once and the engines stay eager; a traced call that raises is logged once and
the engine goes eager for good.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from avatar.generator.attention import CondWindows, _WindowMasks
from avatar.generator.kv_cache import KVCache
from avatar.generator.model import MotionGenerator
from avatar.generator.sampler import Guidance, PendingRefresh, _combine, anchor_pose

# The engine (streaming.StreamingGenerator) and its blocks (streaming._Block) are typed
# Any here: streaming.py imports this module, which must not import it back.
StreamingGenerator = Any
_Block = Any

_log = logging.getLogger(__name__)

#: set to "0" (or "false", "off", "no") to keep every engine eager
TRACED_STEP_ENV = "AVATAR_TRACED_STEP"
#: blocks a synthetic session is stepped eagerly, at most, to reach the steady state
_MAX_PRIME_BLOCKS = 30
#: blocks the graph is checked against the eager step before it is handed out: the
#: profiling executor's first calls and the optimised ones after them
_CHECK_BLOCKS = 4
#: graphs kept in a process (a few checkpoints or samplings)
_KEEP = 4
#: no masks: a steady block's condition windows are all valid
_NO_MASKS = _WindowMasks(None, None)


def traced_step_enabled() -> bool:
    """The traced steady-state step is on unless `AVATAR_TRACED_STEP` turns it off."""
    value = os.environ.get(TRACED_STEP_ENV, "1").strip().lower()
    return value not in ("0", "false", "off", "no")


@dataclass(frozen=True)
class _Shape:
    """What a block's step must have for the graph: its sampling and every shape."""

    sampling: tuple[int, Guidance | None, float]  # nfe, guidance, anchor
    rows: int  # 1, or 3 guided branches
    window: tuple[int, ...]  # the raw condition window (T, F)
    cond_start: int  # the block's first frame in its window
    cache: int  # frames in the rolling cache
    history: int  # clean frames kept for the anchor
    pending: tuple[tuple[int, ...], tuple[int, ...], int]  # clean, cond shapes; cond_start
    noise: tuple[int, ...]
    reference: tuple[int, ...]


def _shape(engine: StreamingGenerator, block: _Block) -> _Shape | None:
    """The block's `_Shape`, or None where it cannot be steady (nothing pending, or
    windows the last pass did not make)."""
    pending = engine._pending
    if pending is None or pending.windows is None:
        return None
    return _Shape(
        (engine.nfe, engine.guidance, engine.anchor),
        engine._rows,
        tuple(block.avatar_audio.shape),
        block.cond_start,
        len(engine.cache),
        int(engine._history.shape[1]),
        (tuple(pending.clean.shape), tuple(pending.cond.shape), pending.cond_start),
        tuple(block.noise.shape),
        tuple(engine.reference.shape),
    )


def _unmasked(engine: StreamingGenerator, block: _Block) -> bool:
    """Every condition frame of the block and of the pending refresh valid, no window masked."""
    pending = engine._pending
    assert pending is not None and pending.windows is not None
    return (
        bool(block.valid.all())
        and bool(pending.cond_valid.all())
        and all(w.masks.invalid is None and w.masks.seen is None for w in pending.windows)
    )


class _SteadyPass(nn.Module):
    """`StreamingGenerator._denoise` at one steady shape, as a function of tensors only
    (what `torch.jit.trace` records): the raw condition window, the noise, the portrait,
    the modulations, the pending refresh, the history and the cache in; the motion, the
    block, its condition, the rolled cache and its condition windows out."""

    def __init__(self, model: MotionGenerator, shape: _Shape) -> None:
        super().__init__()
        self.model = model
        self.shape = shape
        cfg = model.cfg
        self.first = max(0, shape.cond_start - cfg.cond_past)  # as `_cond_window`
        # constants of the graph, not inputs: a steady window is valid throughout
        self.valid = torch.ones(shape.window[0], dtype=torch.bool)
        self.cond_valid = torch.ones(shape.window[0] - self.first, dtype=torch.bool)

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        (
            avatar_audio,
            user_audio,
            user_motion,
            present,
            drop,
            noise,
            reference,
            mod,
            out_mod,
            clean,
            clean_cond,
            history,
            *state,
        ) = tensors
        model, shape, depth = self.model, self.shape, self.model.cfg.depth
        nfe, guidance, anchor = shape.sampling
        rows = shape.rows

        def rep(x: torch.Tensor) -> torch.Tensor:
            return x[None].expand(rows, -1, -1)

        cond = model.encode(
            rep(avatar_audio),
            rep(user_audio),
            rep(user_motion),
            self.valid,
            drop,
            present,
            self.first,
        )
        cache = KVCache(depth, model.cfg.cache_frames)
        cache.k, cache.v = list(state[:depth]), list(state[depth : 2 * depth])
        windows = [
            CondWindows(k, v, _NO_MASKS)
            for k, v in zip(state[2 * depth : 3 * depth], state[3 * depth :], strict=True)
        ]
        cond_start = shape.cond_start - self.first
        # sampler.velocity_after_refresh, then denoise_block_deferred's one Euler step
        v, made = model.rows_after_refresh(
            clean.repeat(rows, 1, 1),
            (clean_cond, self.cond_valid, shape.pending[2]),
            noise.repeat(rows, 1, 1),
            cond,
            self.cond_valid,
            cond_start,
            cache,
            (mod, out_mod),
            windows,
        )
        z = noise + (1.0 / nfe) * _combine(v, 1, guidance)
        z = anchor_pose(z, history, anchor)
        motion = model.denormalize(z, reference)
        return (
            motion,
            z,
            cond,
            *[k for k in cache.k if k is not None],
            *[v for v in cache.v if v is not None],
            *[w.k for w in made],
            *[w.v for w in made],
        )


class SteadyStep:
    """A traced steady-state step: `fits(engine, block)` says whether a block may take
    it, `step(engine, block)` denoises the block and takes it, as `_denoise` does."""

    def __init__(
        self, graph: Callable[..., tuple[torch.Tensor, ...]], shape: _Shape, first: int, depth: int
    ) -> None:
        self._graph = graph
        self.shape = shape
        self._first = first
        self._depth = depth
        self._cond_valid = torch.ones(shape.window[0] - first, dtype=torch.bool)
        self.failed = False  # a traced call raised: every engine goes eager

    def fits(self, engine: StreamingGenerator, block: _Block) -> bool:
        """The block's step has exactly the traced shapes and nothing masked."""
        return not self.failed and _shape(engine, block) == self.shape and _unmasked(engine, block)

    def step(self, engine: StreamingGenerator, block: _Block) -> torch.Tensor:
        """Denoise `block` (which `fits`) and take it; returns its motion (1, n, 58)."""
        out = self._graph(*_inputs(engine, block))
        self.take(engine, out)
        engine.traced_blocks += 1
        return out[0]

    def fail(self, error: Exception) -> None:
        """A traced call raised: logged once, and every engine steps eagerly from now on."""
        if not self.failed:
            self.failed = True
            _log.warning(
                "the traced generator step failed (%s: %s): the generator runs eager",
                type(error).__name__,
                error,
            )

    def take(self, engine: StreamingGenerator, out: tuple[torch.Tensor, ...]) -> None:
        """Commit the graph's outputs to the engine (nothing before: a raise leaves it)."""
        d, cfg = self._depth, engine.cfg
        motion, z, cond, state = out[0], out[1], out[2], out[3:]
        engine.cache.k = list(state[:d])
        engine.cache.v = list(state[d : 2 * d])
        engine.cache.frames_seen += cfg.block_frames
        windows = tuple(
            CondWindows(k, v, _NO_MASKS)
            for k, v in zip(state[2 * d : 3 * d], state[3 * d :], strict=True)
        )
        engine._commit_block(
            z,
            PendingRefresh(z, cond, self._cond_valid, self.shape.cond_start - self._first, windows),
        )
        del motion


def _inputs(engine: StreamingGenerator, block: _Block) -> tuple[torch.Tensor, ...]:
    """The graph's arguments (`_SteadyPass.forward`) for `block` of `engine`."""
    pending = engine._pending
    assert pending is not None and pending.windows is not None
    mod, out_mod = engine._steady_modulation()
    cached = [t for t in engine.cache.k + engine.cache.v if t is not None]  # a steady cache: all
    return (
        block.avatar_audio,
        block.user_audio,
        block.user_motion,
        block.present,
        engine.drop,
        block.noise,
        engine.reference,
        mod,
        out_mod,
        pending.clean,
        pending.cond,
        engine._history,
        *cached,
        *[w.k for w in pending.windows],
        *[w.v for w in pending.windows],
    )


# ---------------------------------------------------------------- tracing, once a process
_GRAPHS: OrderedDict[tuple[object, ...], SteadyStep | None] = OrderedDict()
_LOCK = threading.Lock()
_KEYS: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[int, ...], tuple[object, ...]]]
_KEYS = weakref.WeakKeyDictionary()


def steady_step(engine: StreamingGenerator) -> SteadyStep | None:
    """The traced step for `engine`'s model and sampling, traced on first use in this
    process (seconds of a core at most: a worker's prime, a first session's start);
    None where it cannot be had (NFE above 1, or the trace failed: logged once)."""
    if engine.nfe != 1:
        return None  # the later Euler steps read the modulation's memo: eager
    try:
        key = _weights_key(engine.model) + (engine.guidance, engine.anchor, engine._rows)
    except Exception as error:  # weights made under inference mode, ...: eager
        _log.warning("traced generator step unavailable (%s): the generator runs eager", error)
        return None
    with _LOCK:
        if key in _GRAPHS:
            _GRAPHS.move_to_end(key)
            return _GRAPHS[key]
        try:
            found: SteadyStep | None = _trace(engine)
        except Exception as error:
            _log.warning(
                "traced generator step unavailable (%s: %s): the generator runs eager",
                type(error).__name__,
                error,
            )
            found = None
        _GRAPHS[key] = found
        while len(_GRAPHS) > _KEEP:
            _GRAPHS.popitem(last=False)
        return found


def _weights_key(model: MotionGenerator) -> tuple[object, ...]:
    """The model by what the frozen graph holds: its config and a digest of its weights
    and buffers (two loads of one checkpoint share a graph). Kept per model object
    while its weights' version counters stand still (a digest is ~10 ms)."""
    tensors = list(model.state_dict(keep_vars=True).items())
    versions = tuple(t._version for _, t in tensors)  # raises for inference-mode weights
    known = _KEYS.get(model)
    if known is not None and known[0] == versions:
        return known[1]
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in tensors:
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    key = (repr(model.cfg), digest.hexdigest())
    _KEYS[model] = (versions, key)
    return key


def _synthetic_windows(
    engine: StreamingGenerator, blocks: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`step_window` arguments of a speaking session with a user sitting near the portrait."""
    cfg = engine.cfg
    n, L = cfg.block_frames, cfg.lookahead
    rng = np.random.default_rng(0)
    frames = blocks * n + L
    avatar = rng.standard_normal((frames, cfg.audio_dim)).astype(np.float32)
    user_audio = (0.3 * rng.standard_normal((frames, cfg.audio_dim))).astype(np.float32)
    reference = engine.reference[0].numpy()
    user_motion = (reference + 0.02 * rng.standard_normal((frames, reference.shape[0]))).astype(
        np.float32
    )
    return [
        (
            avatar[k * n : k * n + n + L],
            user_audio[k * n : k * n + n + L],
            user_motion[k * n : k * n + n + L],
        )
        for k in range(blocks)
    ]


def _trace(engine: StreamingGenerator) -> SteadyStep:
    """Trace, freeze and check the steady step on a synthetic session of `engine`'s kind."""
    model = engine.model
    probe = type(engine)(  # the engine's class: streaming.py imports this module
        model,
        model.ref_mean.detach().numpy(),
        nfe=engine.nfe,
        guidance=engine.guidance,
        anchor=engine.anchor,
        traced=False,
    )
    windows = iter(_synthetic_windows(probe, _MAX_PRIME_BLOCKS + _CHECK_BLOCKS + 1))
    with torch.inference_mode():
        for _ in range(_MAX_PRIME_BLOCKS):  # eager until a block is steady
            probe._push_window(*next(windows), None)
            block = probe._next_block(None)
            shape = _shape(probe, block)
            full = probe.cfg.cache_frames
            if (
                shape is not None
                and shape.cache == shape.history == full
                and _unmasked(probe, block)
            ):
                break
            probe._denoise(block)  # takes the block
        else:
            raise RuntimeError(f"no steady block in {_MAX_PRIME_BLOCKS}")
    steady_pass = _SteadyPass(model, shape).eval()
    with torch.inference_mode():
        args = _inputs(probe, block)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript's deprecation, the tracer's notes
        traced = torch.jit.trace(steady_pass, args, check_trace=False)
        graph: Any = torch.jit.freeze(traced)
    step = SteadyStep(graph, shape, steady_pass.first, model.cfg.depth)
    with torch.inference_mode():
        for _ in range(_CHECK_BLOCKS):  # the graph against the eager step, block by block
            out = graph(*_inputs(probe, block))
            eager = probe._denoise(block)  # takes the block, eagerly
            if not torch.equal(out[0], eager):
                gap = float((out[0] - eager).abs().max())
                raise RuntimeError(f"the traced step differs from the eager one by {gap:.2e}")
            probe._push_window(*next(windows), None)
            block = probe._next_block(None)
            if not step.fits(probe, block):
                raise RuntimeError("a steady block's next block is not steady")
    return step
