"""A long-session soak run of the streaming engine, shared by the test and the bench.

Why it exists: streaming ports of Avatar Forcing broke after ~41 s (RoPE
overflow) and drifted over minutes; a 10-minute (15,000-frame) run through the
real engine checks memory, cache and condition-buffer bounds and pose drift.
"""

from __future__ import annotations

import numpy as np

from avatar.audio_features import FPS
from avatar.generator.streaming import StreamingGenerator
from avatar.motion import MOTION_DIM, POSE_SLICE, neutral_frame
from avatar.procfs import rss_bytes


def user_motion(frames: int, seed: int = 0) -> np.ndarray:
    """A listener's motion: neutral face with slow nods and sway (degrees)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / FPS
    m = np.tile(neutral_frame(), (frames, 1))
    m[:, 1] = 3.0 * np.sin(2 * np.pi * 0.4 * t) * (np.sin(2 * np.pi * 0.05 * t) > 0)
    m[:, 0] = 4.0 * np.sin(2 * np.pi * 0.07 * t)
    m[:, 6:] = np.clip(rng.normal(0.05, 0.02, (frames, MOTION_DIM - 6)), 0, 1)
    return m.astype(np.float32)


def rss_mb() -> float:
    """Current resident memory (Linux /proc), MiB."""
    return rss_bytes() / 2**20


def long_session(engine: StreamingGenerator, a: np.ndarray, ua: np.ndarray, um: np.ndarray,
                 frames: int = 15000) -> dict[str, float]:
    """10 minutes through one engine: memory, cache, buffer and pose drift."""
    n = engine.block_frames
    out, rss, cache_max, buf_max = [], [], 0, 0
    for k in range(frames // n):
        s = (k * n) % (len(a) - n)
        out.append(engine.step(a[s:s + n], ua[s:s + n], um[s:s + n]))
        cache_max = max(cache_max, len(engine.cache))
        buf_max = max(buf_max, engine.buffered_frames())
        if k % 250 == 0:
            rss.append(rss_mb())
    motion = np.concatenate(out)
    ref = engine.reference[0].numpy()
    minute = int(60 * FPS)
    first, last = motion[:2 * minute, POSE_SLICE], motion[-2 * minute:, POSE_SLICE]
    return {
        "long_frames": float(len(motion)),
        "long_finite": float(np.isfinite(motion).all()),
        "long_rss_growth_mb": float(rss[-1] - rss[1]),
        "long_cache_frames_max": float(cache_max),
        "long_buffer_frames_max": float(buf_max),
        "long_pose_offset_first2min_deg": float(np.abs(first[:, :3].mean(0) - ref[:3]).max()),
        "long_pose_offset_last2min_deg": float(np.abs(last[:, :3].mean(0) - ref[:3]).max()),
        "long_pose_std_ratio_last_vs_first": float(last[:, :3].std() / max(first[:, :3].std(),
                                                                            1e-6)),
    }
