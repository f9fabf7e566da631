"""Causal jitter filtering of generated motion: a per-dimension One-Euro filter.

Why: the shipped generator's output shakes frame to frame (generated head pose
moves ~1.1 deg a frame against ~0.2 deg in real motion; 14 % of its yaw energy
sits above 3 Hz against 0.8 % in real tracks, docs/RESULTS.md), and this comes
from the teacher, so distillation cannot remove it. A live avatar cannot look
ahead, so the filter is causal. The One-Euro filter (Casiez, Roussel & Vogel,
CHI 2012) lowers its cut-off when a signal moves slowly (kills jitter at rest)
and raises it when the signal moves fast (a nod or a jaw opening on a syllable
passes with little lag), which a fixed exponential smoother cannot do at once.

Each motion column gets its own filter state; the cut-offs differ by group:
head rotation is smoothed hardest, expression least, so lip sync survives.

While the avatar speaks, the articulation columns (the jaw and the lips' speech
shapes, SPEECH_COLUMNS) open their cut-off further (SPEECH): the expression
filter's lag and damping took a measurable part of the jaw's correlation with the
voice (docs/GENERATOR.md, "Lip sync from the generator to the wire"), and a mouth
in speech moves fast anyway, so what the filter takes out there is mostly
articulation, not jitter. Listening frames are filtered exactly as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avatar.motion import MOTION_DIM, POSE_COLUMNS, column_index


@dataclass(frozen=True)
class OneEuroParams:
    """Cut-off at rest (Hz) and how fast it opens with speed (per unit/s)."""

    min_cutoff: float
    beta: float
    derivative_cutoff: float = 1.0


#: Tuned on the validation split (docs/RESULTS.md, "Causal jitter filter").
ROTATION = OneEuroParams(min_cutoff=0.6, beta=0.1)  # degrees
POSITION = OneEuroParams(min_cutoff=0.6, beta=0.5)  # tx, ty, scale (image fractions)
EXPRESSION = OneEuroParams(min_cutoff=2.0, beta=4.0)  # blendshapes in [0, 1]
#: the articulation columns while the avatar speaks: lighter, so the jaw keeps the
#: voice's beat while some frame-to-frame travel is still taken out (docs/GENERATOR.md)
SPEECH = OneEuroParams(min_cutoff=4.0, beta=16.0)
#: what speaking moves: the jaw and the lips' speech shapes (not smiles, frowns, dimples)
SPEECH_COLUMNS: tuple[str, ...] = (
    "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthLowerDownLeft",
    "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthPressLeft", "mouthPressRight")


def _alpha(cutoff: np.ndarray, fps: float) -> np.ndarray:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau * fps)


class MotionFilter:
    """Streaming One-Euro filter over (n, MOTION_DIM) motion blocks.

    `__call__(block, speaking)` returns the filtered block; state carries across
    calls so a stream filtered block by block equals the whole track filtered at
    once. `reset()` starts a new session.
    """

    def __init__(self, fps: float = 25.0, rotation: OneEuroParams = ROTATION,
                 position: OneEuroParams = POSITION,
                 expression: OneEuroParams = EXPRESSION,
                 speech: OneEuroParams = SPEECH) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = float(fps)
        groups = [rotation] * 3 + [position] * (len(POSE_COLUMNS) - 3)
        groups += [expression] * (MOTION_DIM - len(POSE_COLUMNS))
        speaking = list(groups)
        for name in SPEECH_COLUMNS:
            speaking[column_index(name)] = speech
        #: (listening, speaking) parameters per column
        self._min_cutoff = tuple(np.array([g.min_cutoff for g in gs]) for gs in (groups, speaking))
        self._beta = tuple(np.array([g.beta for g in gs]) for gs in (groups, speaking))
        self._d_alpha = tuple(_alpha(np.array([g.derivative_cutoff for g in gs]), self.fps)
                              for gs in (groups, speaking))
        self.reset()

    def reset(self) -> None:
        """Forget the previous session's state."""
        self._x: np.ndarray | None = None
        self._dx = np.zeros(MOTION_DIM)

    def __call__(self, block: np.ndarray, speaking: np.ndarray | None = None) -> np.ndarray:
        """Filter (n, MOTION_DIM) frames in time order; returns float32 of the same shape.

        `speaking` (n,) bool: frames where the avatar speaks (its articulation columns
        get SPEECH's lighter filter); None: all listening."""
        frames = np.asarray(block, dtype=np.float64)
        if frames.ndim != 2 or frames.shape[1] != MOTION_DIM:
            raise ValueError(f"motion block must be (n, {MOTION_DIM}), got {frames.shape}")
        talk = np.zeros(len(frames), bool) if speaking is None else np.asarray(speaking, bool)
        if talk.shape != (len(frames),):
            raise ValueError(f"speaking must be ({len(frames)},) for {len(frames)} frames, "
                             f"got {talk.shape}")
        out = np.empty_like(frames)
        for i, x in enumerate(frames):
            if self._x is None:
                self._x = x.copy()
            else:
                mode = int(talk[i])
                dx = (x - self._x) * self.fps
                self._dx = self._dx + self._d_alpha[mode] * (dx - self._dx)
                cutoff = self._min_cutoff[mode] + self._beta[mode] * np.abs(self._dx)
                self._x = self._x + _alpha(cutoff, self.fps) * (x - self._x)
            out[i] = self._x
        return out.astype(np.float32)
