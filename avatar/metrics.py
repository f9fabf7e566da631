"""Evaluation metrics for generated avatar motion (the Avatar Forcing paper's metrics).

Notation: x = user motion, y = real avatar motion, y_hat = generated avatar motion,
each (frames, 58) in the MotionTrack column order; "pose" = the 6 pose columns,
"exp" = the 52 blendshapes.

- rPCC (reactiveness): |PCC(y, x) - PCC(y_hat, x)| with every frame and column of
  each signal flattened into one vector before correlating (as the reference code
  does). Lower is better: the generated motion relates to the user as the real one
  does. Reported on pose and on expression separately.
- SID (diversity): k-means (k=40 exp, k=20 pose) fitted on REAL frames; generated
  frames are assigned to the nearest centre; the entropy (bits) of that cluster
  histogram. Higher = richer, at most log2(k). Columns are standardised by the
  real frames' std first, so degrees and fractions weigh alike (k-means has no
  notion of units).
- Var: variance over time of the generated parameters, averaged over columns.
- FD: Frechet distance between the Gaussian fits of generated and real frames.
- Lip sync (no SyncNet here): Pearson correlation between the avatar's jawOpen
  and its audio energy envelope, scanned over lags; reports the peak correlation
  and the lag in ms at which it peaks (positive: the mouth moves AFTER the audio;
  ~0 ms is right). Sub-frame lag by parabolic interpolation around the peak.
All functions are numpy/scipy, deterministic (seeded k-means), and raise
ValueError on shape mismatches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.cluster.vq import kmeans2

from avatar.audio_features import FPS, SAMPLES_PER_FRAME
from avatar.motion import EXPRESSION_SLICE, MOTION_DIM, POSE_SLICE, column_index

SID_K_EXP = 40
SID_K_POSE = 20
_PARTS = {"pose": POSE_SLICE, "exp": EXPRESSION_SLICE}


def _as_frames(name: str, a: np.ndarray, dims: int | None = None) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or len(a) < 2:
        raise ValueError(f"{name} must be (frames >= 2, dims), got shape {a.shape}")
    if dims is not None and a.shape[1] != dims:
        raise ValueError(f"{name} must have {dims} columns, got {a.shape[1]}")
    return a


def pcc(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally shaped arrays, flattened (0 if one is constant)."""
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"pcc needs equal sizes, got {a.size} and {b.size}")
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def rpcc(user: np.ndarray, real: np.ndarray, generated: np.ndarray) -> float:
    """|PCC(real, user) - PCC(generated, user)| over flattened frames x columns."""
    user, real = _as_frames("user", user), _as_frames("real", real)
    generated = _as_frames("generated", generated)
    if not user.shape == real.shape == generated.shape:
        raise ValueError(f"shapes differ: user {user.shape}, real {real.shape}, "
                         f"generated {generated.shape}")
    return abs(pcc(real, user) - pcc(generated, user))


def _standardiser(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = real.mean(axis=0), real.std(axis=0)
    return mean, np.where(std > 1e-8, std, 1.0)


@dataclass
class SidModel:
    """k-means centres fitted on real frames (standardised), reusable across runs."""

    mean: np.ndarray
    std: np.ndarray
    centres: np.ndarray  # (k, dims)

    @classmethod
    def fit(cls, real: np.ndarray, k: int, seed: int = 0) -> SidModel:
        """Fit k centres on real frames; k is capped by the number of distinct frames."""
        real = _as_frames("real", real)
        mean, std = _standardiser(real)
        z = (real - mean) / std
        k_eff = min(k, len(np.unique(z.round(6), axis=0)))
        rng = np.random.default_rng(seed)
        centres, _ = kmeans2(z, k_eff, minit="++", seed=rng, iter=30)
        return cls(mean, std, centres)

    def assign(self, frames: np.ndarray) -> np.ndarray:
        z = (_as_frames("generated", frames, self.centres.shape[1]) - self.mean) / self.std
        d2 = ((z[:, None, :] - self.centres[None, :, :]) ** 2).sum(axis=2)
        return np.argmin(d2, axis=1)

    def entropy_bits(self, frames: np.ndarray) -> float:
        """Entropy in bits of the cluster histogram of `frames`."""
        counts = np.bincount(self.assign(frames), minlength=len(self.centres)).astype(np.float64)
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log2(p)).sum())


def sid(real: np.ndarray, generated: np.ndarray, k: int, seed: int = 0) -> float:
    """SID in bits: k-means on real frames, entropy of the generated frames' clusters."""
    return SidModel.fit(real, k, seed).entropy_bits(generated)


def variance(generated: np.ndarray) -> float:
    """Variance over time of each column, averaged over columns."""
    return float(_as_frames("generated", generated).var(axis=0).mean())


def frechet_distance(real: np.ndarray, generated: np.ndarray) -> float:
    """||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^1/2) between Gaussian fits."""
    real = _as_frames("real", real)
    generated = _as_frames("generated", generated, real.shape[1])
    mu_r, mu_g = real.mean(axis=0), generated.mean(axis=0)
    s_r = np.atleast_2d(np.cov(real, rowvar=False))
    s_g = np.atleast_2d(np.cov(generated, rowvar=False))
    covmean = linalg.sqrtm(s_r @ s_g)
    if not np.isfinite(covmean).all():  # near-singular products: regularise, as usual for FD
        eps = np.eye(len(s_r)) * 1e-6
        covmean = linalg.sqrtm((s_r + eps) @ (s_g + eps))
    covmean = np.real(covmean)
    fd = float(((mu_r - mu_g) ** 2).sum() + np.trace(s_r + s_g - 2.0 * covmean))
    return max(fd, 0.0)


def audio_envelope(pcm: np.ndarray) -> np.ndarray:
    """Per-frame (25 fps) RMS envelope of 16 kHz audio, cube-root compressed.

    Why the cube root: loudness perception and jaw opening both grow sub-linearly
    with power; it keeps loud vowels from dominating the correlation.
    """
    pcm = np.asarray(pcm, dtype=np.float64)
    if pcm.ndim != 1:
        raise ValueError(f"pcm must be mono 1-D, got shape {pcm.shape}")
    n = len(pcm) // SAMPLES_PER_FRAME
    frames = pcm[: n * SAMPLES_PER_FRAME].reshape(n, SAMPLES_PER_FRAME)
    return np.sqrt((frames**2).mean(axis=1)) ** (2.0 / 3.0)


@dataclass
class LipSync:
    """Peak jaw/energy correlation and where it peaks."""

    correlation: float  # peak Pearson r over the scanned lags
    lag_ms: float  # > 0: mouth after audio
    correlation_at_zero: float


def lip_sync(jaw_open: np.ndarray, envelope: np.ndarray, max_lag_ms: float = 400.0,
             fps: float = FPS) -> LipSync:
    """Correlate jawOpen with the audio envelope over lags of +-max_lag_ms."""
    jaw = np.asarray(jaw_open, dtype=np.float64).ravel()
    env = np.asarray(envelope, dtype=np.float64).ravel()
    n = min(len(jaw), len(env))
    max_lag = int(round(max_lag_ms / 1000.0 * fps))
    if n < 2 * max_lag + 10:
        raise ValueError(f"need at least {2 * max_lag + 10} frames for lip sync, got {n}")
    jaw, env = jaw[:n], env[:n]
    lags = np.arange(-max_lag, max_lag + 1)
    corr = np.array([
        pcc(jaw[lag:], env[: n - lag]) if lag >= 0 else pcc(jaw[: n + lag], env[-lag:])
        for lag in lags
    ])
    i = int(np.argmax(corr))
    offset = 0.0
    if 0 < i < len(lags) - 1:  # parabolic peak interpolation for sub-frame lag
        c0, c1, c2 = corr[i - 1], corr[i], corr[i + 1]
        denom = c0 - 2 * c1 + c2
        if denom < 0:
            offset = float(np.clip(0.5 * (c0 - c2) / denom, -0.5, 0.5))
    return LipSync(float(corr[i]), float((lags[i] + offset) * 1000.0 / fps),
                   float(corr[max_lag]))


def evaluate(user: np.ndarray, real: np.ndarray, generated: np.ndarray,
             avatar_pcm: np.ndarray | None = None, seed: int = 0) -> dict[str, float]:
    """All metrics for one aligned (user, real, generated) set of frames.

    For a test set, concatenate the dialogues' frames first (SID and FD are
    distribution measures and need many frames).
    """
    for name, a in (("user", user), ("real", real), ("generated", generated)):
        _as_frames(name, a, MOTION_DIM)
    out: dict[str, float] = {}
    for part, sl in _PARTS.items():
        out[f"rpcc_{part}"] = rpcc(user[:, sl], real[:, sl], generated[:, sl])
        k = SID_K_POSE if part == "pose" else SID_K_EXP
        out[f"sid_{part}"] = sid(real[:, sl], generated[:, sl], k, seed)
        out[f"sid_{part}_real"] = sid(real[:, sl], real[:, sl], k, seed)
        out[f"var_{part}"] = variance(generated[:, sl])
        out[f"var_{part}_real"] = variance(real[:, sl])
        out[f"fd_{part}"] = frechet_distance(real[:, sl], generated[:, sl])
    if avatar_pcm is not None:
        env = audio_envelope(avatar_pcm)
        ls = lip_sync(generated[:, column_index("jawOpen")], env)
        out["lipsync_corr"], out["lipsync_lag_ms"] = ls.correlation, ls.lag_ms
        out["lipsync_corr_at_0"] = ls.correlation_at_zero
        real_ls = lip_sync(real[:, column_index("jawOpen")], env)
        out["lipsync_corr_real"], out["lipsync_lag_ms_real"] = real_ls.correlation, real_ls.lag_ms
    return out
