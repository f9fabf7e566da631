"""Figure: bench/results/generator_batch.json, B sessions' generator blocks one after another against one batched pass.

Issue 57: a face worker serves several sessions, each with its own
`StreamingGenerator` on the shared weights, each stepping one 5-frame (200 ms)
block at a time. The model is 128 wide, so a block on one CPU thread is mostly
PyTorch's per-operation overhead; `streaming.step_windows` denoises the blocks of
several engines in one pass stacked on the batch dimension, each engine keeping
its own state (KV cache, pending refresh, history, noise generator, portrait).

On the shipped student checkpoint (`DEFAULT_CHECKPOINT`, 1 NFE), one thread, for
B = 1..4 sessions (each its own seed and portrait reference, the conditions a
live session hands `step_window`: a voiced reply's features, a listener's audio
and motion, the camera's face seen 9 frames in 10), two identical sets of B
engines are fed the same windows:

- sequential: `engine.step_window(...)` for each engine in turn (today's path);
- batched: one `step_windows(engines, windows)` call.

After `--warmup` blocks (the KV cache full: every session past its first
seconds), `--blocks` rounds alternate the two (neighbouring timings see the same
load). Keys per B: `sequential_ms` / `batched_ms`, the median thread CPU time of
one round (all B sessions' blocks), `*_ms_per_session`, `batched_over_sequential`
(the cost ratio; 1 - it is the saving), and `max_abs_diff`, the largest
difference between the two sets' motion over every block (the same seeds, so the
same noise: only float rounding of wider matrix products differs). The load
average at the start and end is recorded: the machine is shared.

    .venv/bin/python bench/face/generator_batch.py [--sessions 1 2 3 4] [--blocks 200]

Prints ONE JSON object (the summary) as the last stdout line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread: the cost is per core

import numpy as np
import torch
from tqdm import tqdm

from avatar.audio_features import FPS, SAMPLE_RATE, compute_features
from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, GeneratorCheckpoint, load_generator
from avatar.generator.soak import user_motion
from avatar.generator.streaming import StreamingGenerator, Window, step_windows
from avatar.motion import neutral_frame
from benchkit.face_inputs import reply_tone
from benchkit.load import load_average
from benchkit.paths import RESULTS


def conditions(frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(avatar audio, user audio, user motion) features for `frames` frames."""
    audio = reply_tone(frames / FPS + 1.0, rate=SAMPLE_RATE)  # the features' rate
    avatar = compute_features(audio)[:frames]
    user = compute_features(np.roll(audio, len(audio) // 3) * 0.7)[:frames]
    return avatar, user, user_motion(frames)


def engines(ckpt: GeneratorCheckpoint, sessions: int) -> list[StreamingGenerator]:
    """`sessions` engines, each with its own seed and a portrait turned its own way."""
    out = []
    for index in range(sessions):
        reference = neutral_frame().copy()
        reference[0] += 3.0 * index  # yaw, degrees: each portrait its own reference
        out.append(StreamingGenerator.from_loaded(ckpt, reference, seed=index))
    return out


def windows(block: int, sessions: int, n: int, lookahead: int,
            feats: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[Window]:
    """Each session's window for block `block` (sessions offset in the clip)."""
    avatar, user, motion = feats
    out = []
    for index in range(sessions):
        s = (block * n + 37 * index) % (len(avatar) - n - lookahead)
        rows = slice(s, s + n + lookahead)
        present = (np.arange(s, s + n + lookahead) % 10) != 9  # a face missed at times
        out.append(Window(avatar[rows], user[rows], motion[rows], present))
    return out


def measure(ckpt: GeneratorCheckpoint, sessions: int, warmup: int, blocks: int,
            feats: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict[str, float]:
    """Both ways for B = `sessions`: median CPU ms a round and the largest difference."""
    seq, bat = engines(ckpt, sessions), engines(ckpt, sessions)
    n, lookahead = seq[0].block_frames, seq[0].cfg.lookahead
    seq_ms, bat_ms, worst = [], [], 0.0
    for block in range(warmup + blocks):
        wins = windows(block, sessions, n, lookahead, feats)
        t0 = time.thread_time()
        one_by_one = [e.step_window(w.avatar_audio, w.user_audio, w.user_motion, w.user_present)
                      for e, w in zip(seq, wins, strict=True)]
        t1 = time.thread_time()
        together = step_windows(bat, wins)
        t2 = time.thread_time()
        for a, b in zip(one_by_one, together, strict=True):
            if isinstance(b, Exception):
                raise b
            worst = max(worst, float(np.abs(a - b).max()))
        if block >= warmup:
            seq_ms.append((t1 - t0) * 1000.0)
            bat_ms.append((t2 - t1) * 1000.0)
    s, b = statistics.median(seq_ms), statistics.median(bat_ms)
    return {"sessions": sessions, "sequential_ms": round(s, 3), "batched_ms": round(b, 3),
            "sequential_ms_per_session": round(s / sessions, 3),
            "batched_ms_per_session": round(b / sessions, 3),
            "batched_over_sequential": round(b / s, 3),
            "sequential_ms_p90": round(float(np.percentile(seq_ms, 90)), 3),
            "batched_ms_p90": round(float(np.percentile(bat_ms, 90)), 3),
            "max_abs_diff": worst}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--blocks", type=int, default=200, help="timed rounds per B")
    parser.add_argument("--warmup", type=int, default=12,
                        help="rounds before timing (9 fill the 45-frame cache)")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ckpt = load_generator(DEFAULT_CHECKPOINT)
    feats = conditions(2000)
    load_start = load_average()
    rows = [measure(ckpt, b, args.warmup, args.blocks, feats)
            for b in tqdm(args.sessions, desc="generator_batch", unit="B")]
    for row in rows:
        tqdm.write(json.dumps(row))
    summary = {
        "checkpoint": DEFAULT_CHECKPOINT.name, "nfe": ckpt.nfe,
        "guidance": ckpt.guidance is not None, "threads": 1,
        "block_frames": ckpt.model.cfg.block_frames, "blocks": args.blocks,
        "by_sessions": rows,
        "max_abs_diff": max(r["max_abs_diff"] for r in rows),
        "load_average_start": load_start, "load_average_end": load_average(),
        "cpus": os.cpu_count()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"generator_batch{'_' + args.tag if args.tag else ''}.json"
    (RESULTS / name).write_text(json.dumps(
        {"definitions": (__doc__ or "").strip(), **summary}, indent=2) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
