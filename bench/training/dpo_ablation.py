"""Figure: the DPO ablation's reactivity and lip sync (JSON on stdout; issue 11).

The clean DPO ablation (issue 11): DPO vs diffusion forcing only, same start,
same steps, batch and learning rate. Prints ONE JSON object.

    python bench/training/dpo_ablation.py --dpo runs/generator_rf/dpo/final.safetensors \\
        --dfonly runs/generator_rf/dfonly/final.safetensors

Both are sampled as the shipped teacher (10 Euler steps, w_a = 2, w_u = 3) on
the held-out real users (bench/training/reactivity.py's sessions) and on the corpus's
TEST split (unseen voices and seeds): reactivity (avatar/reactivity.py) and lip
sync r (jawOpen vs the avatar's own speech, test split only).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from avatar.evaluate import load_sessions
from avatar.generator.sampler import Guidance
from avatar.metrics import audio_envelope, lip_sync
from avatar.motion import column_index
from avatar.portrait import Portrait
from avatar.reactivity_eval import (
    evaluate_reactivity,
    generator_variant,
    listening_from_corpus,
    load_listening_sessions,
)
from benchkit.paths import ROOT
from benchkit.real_faces import DEFAULT_OUT, SPEECH
from benchkit.real_media import wav16k


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dpo", type=Path, required=True)
    parser.add_argument("--dfonly", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "corpus_rf")
    parser.add_argument("--dialogues", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    guide = Guidance(2.0, 3.0)
    variants = {name: generator_variant(path, nfe=10, guidance=guide)
                for name, path in (("DPO", args.dpo), ("DF only", args.dfonly))}
    real = load_listening_sessions(DEFAULT_OUT / "test", [wav16k(n) for n in SPEECH],
                                   Portrait.default(256).reference_motion)
    real_results, _ = evaluate_reactivity(real, variants)
    corpus_sessions = load_sessions(args.corpus, "test", 30.0, args.dialogues)
    test = [listening_from_corpus(s) for s in corpus_sessions]
    test_results, _ = evaluate_reactivity(test, variants)
    pcms = [s.avatar_pcm for s in corpus_sessions]
    for name, variant in variants.items():
        lips = [lip_sync(variant(s)[:, column_index("jawOpen")], audio_envelope(p)).correlation
                for s, p in zip(test, pcms, strict=True)]
        test_results[name]["lipsync_r"] = float(np.mean(lips))
    keys = ("smile_r", "smile_lag_ms", "pulse_peak", "nod_deg_after_pause", "yaw_std",
            "lipsync_r")
    print(json.dumps({
        "steps_each": 1500, "guidance": {"avatar": 2.0, "user": 3.0},
        "held_out_real_users": {n: {k: r[k] for k in keys if k in r}
                                for n, r in real_results.items()},
        "corpus_test": {n: {k: r[k] for k in keys if k in r} for n, r in test_results.items()},
        "load_avg": list(os.getloadavg()),
    }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
