"""bench/face/render.py --portraits: the mixed-track round trip and sweeps on every
portrait (render_roundtrip_portraits_<tag>.json), and the mouth contact sheet.

Why here: the library part of bench/face/render.py's --portraits mode; the script
only parses flags and picks the mode.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import cv2
import numpy as np

from avatar.face_analysis import FaceAnalyzer
from avatar.motion import column_index
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.calibration import load_calibration
from avatar.render.roundtrip import (
    KEY_BLENDSHAPES,
    SweepResult,
    measure,
    mixed_table,
    mixed_track,
    sweep_track,
)
from benchkit.face.render_quality import code_identity, labelled_tile, quality_table
from benchkit.face.render_roundtrip import SWEEP_VALUES, with_values

FUNNEL_SHEET: list[tuple[str, dict[str, float]]] = [
    ("reference", {}), ("funnel 0.2", {"mouthFunnel": 0.2}), ("funnel 0.4", {"mouthFunnel": 0.4}),
    ("funnel 0.6", {"mouthFunnel": 0.6}), ("funnel 0.6 + jaw 0.3", {"mouthFunnel": 0.6,
                                                                       "jawOpen": 0.3}),
    ("pucker 0.6", {"mouthPucker": 0.6}),
]


def mouth_tile(renderer: PortraitRenderer, values: dict[str, float], tile: int) -> np.ndarray:
    """The lower face around the mouth (RGB, tile x tile) for `values` over the reference."""
    frame = renderer.render(with_values(renderer.reference, values))
    lm = renderer.mesh.vertices[:478, :2]
    centre = lm[[13, 14]].mean(axis=0)
    half = int(0.9 * np.linalg.norm(lm[291] - lm[61])) + 8
    x0, y0 = (np.round(centre) - half).astype(int)
    pad = np.pad(frame, ((half, half), (half, half), (0, 0)), mode="edge")
    crop = pad[y0 + half:y0 + 3 * half, x0 + half:x0 + 3 * half]
    return cv2.resize(crop, (tile, tile), interpolation=cv2.INTER_CUBIC)


def portraits_main(args: argparse.Namespace) -> int:
    """Mixed-track round trip (seeds `args.seeds`) and key sweeps on every portrait.

    Per portrait: Pearson r and slope of every key blendshape on the mixed track
    (the same track as the default-portrait bench, built on that portrait's own
    reference), and each key shape swept alone 0..1 (smiles and blinks paired)
    with its re-measured values, range and monotonicity. The calibration is fitted
    on grace_hopper only; the other five portraits are held out. Writes
    bench/results/render_roundtrip_portraits_<tag>.json and, with --funnel-sheet,
    a contact sheet of the mouth (rows: portraits, columns: FUNNEL_SHEET).
    """
    from avatar.render.calibration import CALIBRATION_PATH
    from benchkit.face.portraits import PORTRAIT_SOURCES, fetch_portraits

    load_start = os.getloadavg()
    paths = fetch_portraits(args.portrait_cache)
    # Pinned: without it each renderer would take the portrait's own table from the
    # user's cache dir when `avatar-forcing calibrate` (or a server) fitted one, and
    # the figures labelled "shipped" would be that table's.
    table_path = args.calibration or CALIBRATION_PATH
    if not table_path.is_file():  # load_calibration would fall back to identity curves
        raise FileNotFoundError(f"calibration table not found: {table_path}")
    calibration = load_calibration(table_path)
    per: dict[str, dict[str, Any]] = {}
    sheet_rows = []
    with FaceAnalyzer(mode="image") as analyzer:
        for name in PORTRAIT_SOURCES:
            if args.only and name not in args.only.split(","):
                continue
            print(f"round trip on {name} ...", file=sys.stderr, flush=True)
            portrait = Portrait.load(paths[name], 512)
            # --tables own: each portrait's own fit, as a session shows it
            portrait_table, table_label = (quality_table(portrait, "own")
                                           if args.tables == "own"
                                           else (calibration, str(table_path)))
            renderer = PortraitRenderer(portrait, 512, calibration=portrait_table)
            renderer.wait_for_plate()
            ref = renderer.reference
            seeds = [int(v) for v in args.seeds.split(",")] if args.seeds else [args.seed]
            tables, found_frames = {}, 0
            for seed in seeds:
                track = mixed_track(ref, args.frames, seed=seed)
                measured, found = measure(renderer.render, track, analyzer)
                tables[seed] = mixed_table(track, measured, found)
                found_frames += int(found.sum())
            table = tables[seeds[0]]
            sweeps = {}
            for shape in KEY_BLENDSHAPES:
                sw = sweep_track(ref, shape, SWEEP_VALUES, paired=True)
                m, f = measure(renderer.render, sw, analyzer)
                res = SweepResult(shape, SWEEP_VALUES, m[:, column_index(shape)])
                sweeps[shape] = {"measured": np.round(res.measured, 3).tolist(),
                                 "range": round(res.measured_range, 3),
                                 "monotone": res.monotone, "found": int(f.sum())}
            mean_r = {k: round(float(np.mean([t[k]["r"] for t in tables.values()])), 3)
                      for k in KEY_BLENDSHAPES}
            per[name] = {"calibration": table_label, "mixed_found": found_frames,
                         "mixed_frames": len(seeds) * args.frames,
                         "r": mean_r, "r_per_seed": {s: {k: v["r"] for k, v in t.items()}
                                                     for s, t in tables.items()},
                         "roundtrip_r_min": min(mean_r.values()),
                         "blendshapes": table, "sweeps": sweeps}
            print(f"  r: {per[name]['r']}", file=sys.stderr, flush=True)
            if args.funnel_sheet:
                tiles = [mouth_tile(renderer, values, args.tile) for _, values in FUNNEL_SHEET]
                sheet_rows.append(np.hstack([labelled_tile(t, f"{name} {label}" if i == 0
                                                           else label, args.tile)
                                             for i, (t, (label, _)) in
                                             enumerate(zip(tiles, FUNNEL_SHEET, strict=True))]))
    if args.funnel_sheet:
        cv2.imwrite(str(args.funnel_sheet), np.vstack(sheet_rows))
    summary = {
        "mode": "roundtrip_portraits", "tag": args.tag,
        "seeds": args.seeds or str(args.seed), "frames": args.frames,
        "calibration": "--tables own: each portrait's own table (per_portrait[...]"
                       "['calibration']), the default portrait the shipped one"
                       if args.tables == "own" else str(args.calibration) if args.calibration
                       else "shipped (avatar/data/render_calibration.json) on every portrait",
        "code": code_identity(),
        "load_average_start": [round(v, 2) for v in load_start],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "definitions": {
            "r": "Pearson r, commanded vs re-measured, mixed_track(reference, frames, seed) "
                 "with antagonists (pucker OR funnel at a time), 512 px, image mode; "
                 "mean over the seeds (r_per_seed: each); blendshapes: the first seed's table",
            "sweeps": "each key shape set to 0, .2, .., 1 alone (smiles, blinks paired); "
                      "monotone = no step down by more than 0.03",
            "held_out": "the calibration is fitted on grace_hopper only"},
        "r_per_portrait": {n: p["r"] for n, p in per.items()},
        "per_portrait": per,
    }
    out = args.results / f"render_roundtrip_portraits_{args.tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "per_portrait"}))
    return 0
