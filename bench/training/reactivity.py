"""Figure: the avatar's reactions to real people (JSON on stdout) and bench/results/reactivity.png.

Does the avatar react to a real person? Prints ONE JSON object (issue 11).

    python bench/training/reactivity.py [--checkpoints avatar/checkpoints] [--compare DIR]
                               [--video docs/reactivity_side_by_side.mp4]

The user side is real and held out of all training and tuning: the face tracks
of cache/real_faces/test (bench/training/real_faces.py: a person never trained on, a
recording never trained on, the last minute of another), each with real
recorded speech (LibriVox, a lecture, a meeting; bench/face/real_media.py) while the
avatar listens. Variants, all in one run: the shipped student (the live path),
the same without user motion (the ablation: reactions must vanish), the 10-NFE
teacher with guidance, optionally the checkpoints of `--compare` (e.g. the
previous release), and the rule baseline.

Keys per variant (avatar/reactivity.py): smile_r (best lagged r, user smile ->
avatar smile, over 0.3-1.2 s; goal >= 0.6), smile_lag_ms, pulse_peak (avatar
smile change for a +0.5 smile pulse on the real face, same noise) and its time,
nod_deg_after_pause vs nod_deg_random, brow_after_onset vs brow_random,
yaw_std / pitch_std while listening (mean std inside 5 s windows). `real_people`:
the same measure on the held-out people themselves while they are not talking. Plot: bench/results/reactivity.png
(`--plot docs/reactivity.png` refreshes the doc's).

Runs: ~10 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": user smile -> avatar smile r 0.82 at 800 ms
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from avatar.generator.checkpoint import load_generator
from avatar.motion import column_index
from avatar.portrait import Portrait
from avatar.reactivity import quiet_frames, window_std
from avatar.reactivity_eval import (
    evaluate_reactivity,
    generator_variant,
    load_listening_sessions,
    plot_reactivity,
    render_listening_video,
    rules_variant,
)
from benchkit.paths import RESULTS, ROOT
from benchkit.real_media import fetch_media, wav16k
from benchkit.training.real_faces import DEFAULT_OUT, SPEECH, build


def real_people(sessions: list) -> dict[str, float]:
    """Head restlessness of the real people in the held-out clips while they do
    not talk (jaw quiet for whole 5 s windows): the nearest thing to real
    listeners these recordings hold; the same window measure as the avatar's."""
    yaw, pitch, seconds = [], [], 0.0
    for s in sessions:
        quiet = quiet_frames(s.user_motion)
        yaw.append(window_std(s.user_motion[:, column_index("yaw")], quiet))
        pitch.append(window_std(s.user_motion[:, column_index("pitch")], quiet))
        seconds += float(quiet.sum()) / 25
    return {"quiet_yaw_std": float(np.nanmean(yaw)), "quiet_pitch_std": float(np.nanmean(pitch)),
            "quiet_seconds": round(seconds, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "avatar" / "checkpoints")
    parser.add_argument("--compare", type=Path, default=None,
                        help="another checkpoints folder measured in the same run")
    parser.add_argument("--no-teacher", action="store_true", help="skip the 10-NFE teacher")
    parser.add_argument("--plot", type=Path, default=RESULTS / "reactivity.png",
                        help="where the plot goes (docs/reactivity.png to refresh the doc's)")
    parser.add_argument("--video", type=Path, default=None,
                        help="also render real user | avatar for the held-out person")
    args = parser.parse_args()
    torch.set_num_threads(1)
    build()
    speech = [wav16k(name) for name in SPEECH]
    reference = Portrait.default(256).reference_motion
    sessions = load_listening_sessions(DEFAULT_OUT / "test", speech, reference)
    student = args.checkpoints / "generator_student.safetensors"
    variants = {
        "student": generator_variant(student),
        "student, no user motion": generator_variant(student, use_user_motion=False),
    }
    if not args.no_teacher:
        variants["teacher 10-NFE"] = generator_variant(args.checkpoints / "generator.safetensors")
    if args.compare:
        variants["compare: student"] = generator_variant(
            args.compare / "generator_student.safetensors")
    variants["rules"] = rules_variant
    started = time.monotonic()
    results, curves = evaluate_reactivity(sessions, variants)
    meta = load_generator(student).meta
    out = {
        "sessions": [{"name": s.name, "seconds": round(len(s.user_motion) / 25, 1)}
                     for s in sessions],
        "checkpoint": str(student.relative_to(ROOT) if student.is_relative_to(ROOT)
                          else student),
        "checkpoint_step": meta.get("step"),
        "variants": results,
        "real_people": real_people(sessions),
        "seconds": round(time.monotonic() - started, 1),
        "load_avg": list(os.getloadavg()),
    }
    plot_reactivity(results, curves, args.plot,
                    "held-out real users: " + ", ".join(s.name for s in sessions))
    if args.video:
        held_out = next(s for s in sessions if s.name.startswith("wolfgang"))
        video = fetch_media(names=["wolfgang_langer"])["wolfgang_langer"]
        motion = variants["student"](held_out)
        render_listening_video(video, 0.0, held_out, motion, args.video)
        out["video"] = str(args.video)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
