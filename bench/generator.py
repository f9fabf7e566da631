"""Benchmark the streaming motion generator on one CPU core; prints ONE JSON object.

    python bench/generator.py [--checkpoints avatar/checkpoints] [--blocks 150]
                              [--threads 1] [--long]

Measures, per 5-frame (200 ms) block through the real `StreamingGenerator.step`:
the shipped student (the CPU fast path, 1 NFE, no guidance branches) and the
teacher as the paper samples it (10 NFE Euler, 3 CFG branches) and with 2 NFE.
Conditions are real speech features (piper voice, bundled) for the avatar and
the user; compute does not depend on content, but this keeps the path honest.

Keys: block_frames, block_ms_p50/p95 (student), realtime_factor = block duration
/ p50 compute (>= 4 means <= 25% of one core), reaction_latency_ms = block +
look-ahead + p50 compute (paper: 500 ms on an H100; goal <= 300 ms), params_m,
teacher_* for the teacher variants, load_avg (the machine is shared: numbers are
medians, compare variants within one run). `--long` also runs a 10-minute
(15,000-frame) session and reports memory growth, cache size and pose drift.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np
import torch

from avatar.audio_features import FPS, compute_features
from avatar.generator.checkpoint import load_generator
from avatar.generator.sampler import Guidance
from avatar.generator.streaming import StreamingGenerator
from avatar.motion import MOTION_DIM, POSE_SLICE, neutral_frame


def speech_features(seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """(avatar, user) features: a piper sentence looped with pauses, the user's
    channel offset so that the two take turns."""
    from avatar.corpus.speech import SpeechSynth, Voice

    utt = SpeechSynth().say(
        "Thanks for waiting. Your order shipped this morning and should arrive on Tuesday.",
        Voice(id="piper:joe", engine="piper"))
    pause = np.zeros(int(1.5 * 16000), np.float32)
    unit = np.concatenate([utt.audio.astype(np.float32), pause])
    reps = int(np.ceil(seconds * 16000 / len(unit))) + 1
    loop = np.tile(unit, reps)
    n = int(seconds * 16000)
    avatar = compute_features(loop[:n])
    user = compute_features(np.roll(loop, len(unit) // 2)[:n] * 0.7)
    return avatar, user


def user_motion(frames: int, seed: int = 0) -> np.ndarray:
    """A listener's motion: neutral face with slow nods and sway (degrees)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / FPS
    m = np.tile(neutral_frame(), (frames, 1))
    m[:, 1] = 3.0 * np.sin(2 * np.pi * 0.4 * t) * (np.sin(2 * np.pi * 0.05 * t) > 0)
    m[:, 0] = 4.0 * np.sin(2 * np.pi * 0.07 * t)
    m[:, 6:] = np.clip(rng.normal(0.05, 0.02, (frames, MOTION_DIM - 6)), 0, 1)
    return m.astype(np.float32)


def time_blocks(engine: StreamingGenerator, a: np.ndarray, ua: np.ndarray, um: np.ndarray,
                blocks: int, warmup: int = 10) -> list[float]:
    """Per-block wall time (ms) of `engine.step`, after warm-up blocks."""
    n = engine.block_frames
    times = []
    for k in range(blocks + warmup):
        s = (k * n) % (len(a) - n)
        t0 = time.perf_counter()
        engine.step(a[s:s + n], ua[s:s + n], um[s:s + n])
        if k >= warmup:
            times.append(1000.0 * (time.perf_counter() - t0))
    return times


def rss_mb() -> float:
    """Current resident memory (Linux /proc), MiB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoints", default="avatar/checkpoints")
    parser.add_argument("--blocks", type=int, default=150)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--long", action="store_true", help="also run a 15,000-frame session")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ckpt_dir = Path(args.checkpoints)
    student = load_generator(ckpt_dir / "generator_student.safetensors")
    teacher = load_generator(ckpt_dir / "generator.safetensors")
    cfg = student.model.cfg
    a, ua = speech_features(40.0)
    um = user_motion(len(a))
    ref = neutral_frame()
    result: dict[str, float | int | str] = {"threads": args.threads,
                                           "load_avg_1min": os.getloadavg()[0]}
    engine = StreamingGenerator(student.model, ref, nfe=student.nfe, guidance=None)
    times = time_blocks(engine, a, ua, um, args.blocks)
    block_ms = 1000.0 * cfg.block_frames / FPS
    p50 = float(np.median(times))
    result.update({
        "block_frames": cfg.block_frames,
        "lookahead_frames": cfg.lookahead,
        "nfe": student.nfe,
        "block_ms_p50": round(p50, 2),
        "block_ms_p95": round(float(np.percentile(times, 95)), 2),
        "realtime_factor": round(block_ms / p50, 1),
        "compute_share_of_realtime": round(p50 / block_ms, 3),
        "reaction_latency_ms": round(block_ms + 1000.0 * cfg.lookahead / FPS + p50, 1),
        "params_m": round(student.model.num_params() / 1e6, 3),
    })
    for name, nfe in (("teacher_nfe10_cfg", 10), ("teacher_nfe2_cfg", 2)):
        eng = StreamingGenerator(teacher.model, ref, nfe=nfe, guidance=Guidance())
        t = time_blocks(eng, a, ua, um, max(30, args.blocks // 3))
        result[f"{name}_block_ms_p50"] = round(float(np.median(t)), 2)
        result[f"{name}_realtime_factor"] = round(block_ms / float(np.median(t)), 2)
    if args.long:
        engine.reset(ref)
        result.update(long_session(engine, a, ua, um))
    result["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
