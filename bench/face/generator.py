"""Figure: the streaming motion generator's speed on one core (JSON on stdout, docs/RESULTS.md).

Benchmark the streaming motion generator on one CPU core; prints ONE JSON object.

    python bench/face/generator.py [--checkpoints avatar/checkpoints] [--blocks 150]
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

Runs: ~1 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": 7.8 ms per 200 ms block (3.9 % of a core), reaction latency 288 ms
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
from avatar.generator.soak import long_session, user_motion
from avatar.generator.streaming import StreamingGenerator
from avatar.motion import neutral_frame


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
