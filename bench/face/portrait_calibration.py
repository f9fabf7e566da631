"""Figure: bench/results/portrait_calibration.json, each portrait's own calibration on held-out seeds.

A calibration fitted on each portrait itself, measured on held-out seeds (issue 10).

The shipped calibration (curves + readout model) is fitted on grace_hopper only;
on eileen_collins and barack_obama jaw, smiles and pucker read back poorly.
This script refits the per-shape curves and the readout model on the portrait
itself with a reduced sample count (`RUNS`, 2,000 renders instead of 9,500; the
hand-set pose gains are kept, `calibrate(base=shipped, refit_curves=all)`; the
product's fit, `fit_portrait_calibration`, also fits the portrait's own pitch
gains since RECIPE_VERSION 2: `bench/face/render.py --portraits --tables own`
measures those tables), then
runs bench/face/render.py's per-portrait round trip on mixed-track seeds the fit
never saw (3, 4, 6, 7; the readout samples are random mixes, not mixed tracks).

Resumable steps, each a few minutes at most on one core (files in
cache/portrait_calibration/<portrait>/):

    python bench/face/portrait_calibration.py curves eileen_collins       # sweeps (~15 s)
    python bench/face/portrait_calibration.py samples eileen_collins 0    # run 0, 1 of RUNS
    python bench/face/portrait_calibration.py fit eileen_collins          # readout ensemble
    python bench/face/portrait_calibration.py measure eileen_collins      # per-portrait table
    python bench/face/portrait_calibration.py measure eileen_collins --shipped
    python bench/face/portrait_calibration.py summary   # -> bench/results/portrait_calibration.json

`samples NAME 2` / `3` then `fit NAME --more` / `measure NAME --more`: the readout
on 4,000 mixes (luis_pedro_coelho's jaw: no change). Tables tried by hand and
measured with `bench/face/render.py --portraits --calibration T --results
cache/portrait_calibration/NAME --tag percal_diag_<what>_NAME` land in the
summary's `diagnostics`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import cv2
import numpy as np

from avatar.render import calibration_fit
from benchkit.paths import RESULTS, ROOT
from benchkit.portraits import fetch_portraits

WORK = ROOT / "cache" / "portrait_calibration"
# Reduced readout recipe: (seed, frames, head-pose range deg), frontal and turned.
RUNS: tuple[tuple[int, int, float], ...] = ((0, 1000, 0.0), (2, 1000, 15.0),
                                           # --more: 4,000 mixes (runs 2, 3 added)
                                           (1, 1000, 0.0), (3, 1000, 15.0))
BASE_RUNS = 2  # the recipe (avatar/render/portrait_calibration.py RECIPE_RUNS)
HELD_OUT_SEEDS = "3,4,6,7"


def load_portrait(name: str):

    from avatar.portrait import Portrait

    return Portrait.load(fetch_portraits(ROOT / "cache" / "portraits")[name], 512)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("curves", "samples", "fit", "measure", "summary"))
    parser.add_argument("portrait", nargs="?", default="")
    parser.add_argument("run", nargs="?", type=int, default=0, help="samples: index into RUNS")
    parser.add_argument("--seeds", default=HELD_OUT_SEEDS, help="measure: mixed-track seeds")
    parser.add_argument("--shipped", action="store_true", help="measure: the shipped table")
    parser.add_argument("--more", action="store_true",
                        help="fit / measure: the readout on all of RUNS (4,000 mixes)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    from avatar.render.calibration import Calibration, load_calibration

    work = WORK / args.portrait
    work.mkdir(parents=True, exist_ok=True)
    curves_path = work / "curves.json"
    table_path = work / ("render_calibration_more.json" if args.more else "render_calibration.json")
    times_path = work / "times.json"
    times = json.loads(times_path.read_text()) if times_path.is_file() else {}
    start = time.perf_counter()
    if args.step == "curves":
        fitted = calibration_fit.fit_calibration(load_portrait(args.portrait))
        Calibration(curves=fitted.curves, pose_gain=load_calibration().pose_gain).save(curves_path)
    elif args.step == "samples":
        seed, count, pose_deg = RUNS[args.run]
        base = load_calibration(curves_path)
        inputs, readings = calibration_fit.collect_readout_samples(
            load_portrait(args.portrait), count, seed, 512, True, pose_deg, base.pose_gain)
        np.savez(work / f"samples{args.run}.npz", inputs=inputs, readings=readings)
    elif args.step == "fit":
        table = load_calibration(curves_path)
        runs = [np.load(work / f"samples{k}.npz")
                for k in range(len(RUNS) if args.more else BASE_RUNS)]
        table.readout = calibration_fit.fit_readout(
            np.concatenate([r["inputs"] for r in runs]),
            np.concatenate([r["readings"] for r in runs]))
        table.save(table_path)
    elif args.step == "measure":
        import subprocess

        which = "shipped" if args.shipped else "own_more" if args.more else "own"
        tag = f"percal_{which}_{args.portrait}"
        # bench/face/render.py --portraits measures it (a script of its own: run, not imported)
        command = [sys.executable, str(ROOT / "bench" / "face" / "render.py"), "--portraits",
                   "--seeds", args.seeds, "--tag", tag, "--only", args.portrait,
                   "--results", str(work)]
        if not args.shipped:
            command += ["--calibration", str(table_path)]
        return subprocess.call(command)
    else:
        return summary()
    key = args.step if args.step != "samples" else f"samples{args.run}"
    key += "_more" if args.more and args.step == "fit" else ""
    times[key] = {"seconds": round(time.perf_counter() - start, 1),
                  "load_average": [round(v, 2) for v in os.getloadavg()]}
    times_path.write_text(json.dumps(times, indent=1) + "\n")
    return 0


def summary() -> int:
    """Shipped vs own fit, held-out seeds, per portrait -> bench/results/portrait_calibration.json."""
    portraits: dict[str, dict[str, Any]] = {}
    out: dict[str, Any] = {"recipe": {"readout_runs": RUNS[:BASE_RUNS],
                                      "readout_runs_more": RUNS, "curves": "all refitted",
                                      "pose_gain": "shipped (hand-set)"},
                           "seeds": HELD_OUT_SEEDS, "portraits": portraits}
    for work in sorted(p for p in WORK.iterdir() if p.is_dir()):
        entry: dict[str, Any] = {}
        for which in ("shipped", "own", "own_more"):
            path = work / f"render_roundtrip_portraits_percal_{which}_{work.name}.json"
            if path.is_file():
                data = json.loads(path.read_text())
                entry[which] = {"r": data["r_per_portrait"][work.name],
                                "r_per_seed": data["per_portrait"][work.name]["r_per_seed"],
                                "load_average": [data["load_average_start"],
                                                 data["load_average_end"]]}
        # Diagnostic tables tried by hand (bench/face/render.py --calibration, tag percal_diag_*)
        for path in sorted(work.glob("render_roundtrip_portraits_percal_diag_*.json")):
            data = json.loads(path.read_text())
            entry.setdefault("diagnostics", {})[path.stem] = {
                "calibration": Path(data["calibration"]).name,
                "r": data["r_per_portrait"][work.name],
                "load_average": [data["load_average_start"], data["load_average_end"]]}
        times_path = work / "times.json"
        if times_path.is_file():
            entry["fit_times"] = json.loads(times_path.read_text())
        portraits[work.name] = entry
    path = RESULTS / "portrait_calibration.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({n: {w: e.get(w, {}).get("r") for w in ("shipped", "own", "own_more")}
                      for n, e in portraits.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
