"""Figure: user guidance w_u against validation reactivity (JSON on stdout).

Tune user guidance w_u on VALIDATION reactivity; prints ONE JSON object.

    python bench/training/tune_guidance.py --checkpoint runs/generator_rf/dpo/final.safetensors
                                  [--corpus data/corpus_rf] [--wu 1 2 3]

The teacher (10 Euler steps, w_a = 2) runs over the corpus's validation split
(unseen voices and seeds; partners with real faces from the training pool) for
each w_u: smile_r and the smile-pulse response (avatar/reactivity.py) against
lip sync r (jawOpen vs the avatar's speech), which strong guidance can cost.
The held-out real clips are never used here (bench/training/reactivity.py measures them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from avatar.evaluate import load_sessions
from avatar.generator.sampler import Guidance
from avatar.metrics import audio_envelope, lip_sync
from avatar.motion import column_index
from avatar.reactivity import measure, smile_pulse_response
from avatar.reactivity_eval import generator_variant, listening_from_corpus
from benchkit.paths import ROOT


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "corpus_rf")
    parser.add_argument("--wu", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    parser.add_argument("--wa", type=float, default=2.0)
    parser.add_argument("--dialogues", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=40.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    corpus_sessions = load_sessions(args.corpus, "val", args.seconds, args.dialogues)
    sessions = [listening_from_corpus(s) for s in corpus_sessions]
    pcms = [s.avatar_pcm for s in corpus_sessions]
    rows = {}
    started = time.monotonic()
    for wu in args.wu:
        variant = generator_variant(args.checkpoint, nfe=10, guidance=Guidance(args.wa, wu))
        per, lips = [], []
        for session, pcm in zip(sessions, pcms, strict=True):
            motion = variant(session)
            m = measure(session, motion)
            m.update(smile_pulse_response(variant, session)[1])
            per.append(m)
            lips.append(lip_sync(motion[:, column_index("jawOpen")],
                                 audio_envelope(pcm)).correlation)
        rows[f"w_u={wu:g}"] = {
            "smile_r": float(np.nanmean([p["smile_r"] for p in per])),
            "pulse_peak": float(np.mean([p["pulse_peak"] for p in per])),
            "pulse_peak_ms": float(np.median([p["pulse_peak_ms"] for p in per])),
            "lipsync_r": float(np.mean(lips)),
            "yaw_std": float(np.mean([p["yaw_std"] for p in per])),
        }
        print(json.dumps({f"w_u={wu:g}": rows[f"w_u={wu:g}"]}), file=sys.stderr)
    print(json.dumps({"checkpoint": str(args.checkpoint), "w_a": args.wa,
                      "sessions": len(sessions), "results": rows,
                      "seconds": round(time.monotonic() - started, 1),
                      "load_avg": list(os.getloadavg())}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
