"""How far the landmarker's pose read-back moves when the picture does not.

`bench/render.py --quality` reads every commanded head turn back with
FaceAnalyzer once, on one render. Renders and image-mode landmarking are
deterministic, so running that bench again repeats every figure to the digit: a
difference between two renderers (the mirrored fill on or off) cannot be called
run-to-run noise, because there is none. What there is, is the read-out's
sensitivity to pixels nobody can see. This bench measures it: each pose render is
read again with `copies` invisible perturbations (Gaussian noise of `sigma`
grey levels, independent per pixel and channel, seeded) and the spread of the
read-back over those copies is the read-out's noise floor at that pose.

For the mirrored fill, the question is then whether its change of a reading is
larger than that floor. Per portrait and axis, for fill off and on: the clean
reading (what --quality reports), the mean and standard deviation over the
perturbed copies, and the on - off change of both. `verdict` per reading: the
change of the perturbed means against 2 x the pooled standard error.

    .venv/bin/python bench/pose_noise.py [--copies 8] [--sigma 1.0] [--portraits luis_pedro_coelho ...]

Prints one JSON object (last line); writes bench/results/pose_noise.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from avatar.face_analysis import FaceAnalyzer  # noqa: E402
from avatar.motion import column_index  # noqa: E402
from avatar.portrait import Portrait  # noqa: E402
from avatar.render import PortraitRenderer  # noqa: E402
from avatar.render.portrait_calibration import calibration_for  # noqa: E402
from avatar.render.roundtrip import POSE_AXES  # noqa: E402


def readings(analyzer: FaceAnalyzer, frame: np.ndarray, copies: int, sigma: float,
             seed: int) -> tuple[np.ndarray | None, np.ndarray]:
    """Pose (yaw, pitch, roll) of `frame` itself, and of `copies` perturbed copies
    (rows; NaN where no face was found)."""
    def pose(image: np.ndarray) -> np.ndarray | None:
        measured = analyzer.analyze(image)
        if measured is None:
            return None
        return np.array([measured.motion[column_index(a)] for a in POSE_AXES], float)

    rng = np.random.default_rng(seed)
    clean = pose(frame)
    noisy = []
    for _ in range(copies):
        noise = rng.normal(0.0, sigma, frame.shape)
        copy = np.clip(frame.astype(np.float64) + noise, 0, 255).round().astype(np.uint8)
        found = pose(copy)
        noisy.append(found if found is not None else np.full(3, np.nan))
    return clean, np.array(noisy)


def measure_portrait(name: str, path: Path, analyzer: FaceAnalyzer, copies: int,
                     sigma: float) -> dict[str, Any]:
    """Clean and perturbed read-backs of every pose offset, fill off and on."""
    from render import POSE_OFFSETS  # bench/render.py --quality's offsets

    portrait = Portrait.load(path, 512)
    out: dict[str, Any] = {}
    for fill in (False, True):
        renderer = PortraitRenderer(portrait, 512, mirror_fill=fill,
                                    calibration=calibration_for(portrait))
        renderer.wait_for_plate()
        ref = renderer.reference
        base_clean, base_noisy = readings(analyzer, renderer.render(ref), copies, sigma, 0)
        rows = []
        for axis_index, axis in enumerate(POSE_AXES):
            for offset in POSE_OFFSETS:
                values = ref.copy()
                values[column_index(axis)] += offset
                clean, noisy = readings(analyzer, renderer.render(values), copies, sigma,
                                        1 + len(rows))
                change = noisy[:, axis_index] - base_noisy[:, axis_index]
                rows.append({
                    "axis": axis, "commanded": offset,
                    "clean": (None if clean is None or base_clean is None
                              else round(float(clean[axis_index] - base_clean[axis_index]), 2)),
                    "perturbed_mean": round(float(np.nanmean(change)), 2),
                    "perturbed_std": round(float(np.nanstd(change, ddof=1)), 2),
                    "perturbed_found": int(np.isfinite(change).sum()),
                })
        out["on" if fill else "off"] = rows
    return out


def compare(off: list[dict[str, Any]], on: list[dict[str, Any]], copies: int
            ) -> list[dict[str, Any]]:
    """Per reading: the fill's change, clean and perturbed, against the noise floor."""
    rows = []
    for a, b in zip(off, on, strict=True):
        standard_error = float(np.sqrt((a["perturbed_std"] ** 2 + b["perturbed_std"] ** 2)
                                       / copies))
        mean_change = b["perturbed_mean"] - a["perturbed_mean"]
        rows.append({
            "axis": a["axis"], "commanded": a["commanded"],
            "clean_change": (None if a["clean"] is None or b["clean"] is None
                             else round(b["clean"] - a["clean"], 2)),
            "perturbed_mean_change": round(mean_change, 2),
            "two_standard_errors": round(2 * standard_error, 2),
            "verdict": "beyond noise" if abs(mean_change) > 2 * standard_error else "noise",
            "error_off": round(abs(a["perturbed_mean"] - a["commanded"]), 2),
            "error_on": round(abs(b["perturbed_mean"] - b["commanded"]), 2),
        })
    return rows


def main() -> None:
    """Measure the chosen portraits; write the JSON."""
    from portraits import PORTRAIT_SOURCES, fetch_portraits

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--sigma", type=float, default=1.0, help="noise, grey levels")
    parser.add_argument("--portraits", nargs="+", default=list(PORTRAIT_SOURCES))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pose_noise.json")
    args = parser.parse_args()
    load_start = os.getloadavg()
    paths = fetch_portraits(names=args.portraits)
    per: dict[str, Any] = {}
    with FaceAnalyzer(mode="image") as analyzer:
        for name in tqdm(args.portraits, desc="portraits"):
            measured = measure_portrait(name, paths[name], analyzer, args.copies, args.sigma)
            per[name] = measured | {"fill_change": compare(measured["off"], measured["on"],
                                                            args.copies)}
    stds = [r["perturbed_std"] for p in per.values() for f in ("off", "on") for r in p[f]]
    beyond = [{"portrait": n, **r} for n, p in per.items() for r in p["fill_change"]
              if r["verdict"] == "beyond noise"]

    def worst(fill: str, key: str) -> float:
        return max(abs(r[key] - r["commanded"]) for p in per.values() for r in p[fill]
                   if r[key] is not None)

    summary = {
        "bench": "pose_noise", "copies": args.copies, "sigma_grey_levels": args.sigma,
        "portraits": args.portraits,
        "readout_std_deg": {"median": round(float(np.median(stds)), 2),
                            "p90": round(float(np.percentile(stds, 90)), 2),
                            "max": round(float(np.max(stds)), 2)},
        "pose_err_deg_max": {f"{fill}_{key}": round(worst(fill, key), 2)
                             for fill in ("off", "on") for key in ("clean", "perturbed_mean")},
        "fill_changes_beyond_noise": beyond,
        "per_portrait": per,
        "load_average_start": [round(v, 2) for v in load_start],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "definitions": {
            "perturbed": "the render plus N(0, sigma) grey levels per pixel and channel, "
                         "rounded and clipped; read with FaceAnalyzer (image mode), minus the "
                         "same reading of the perturbed reference render (same copy index)",
            "verdict": "beyond noise when |on - off| of the perturbed means exceeds 2 x "
                       "sqrt((std_off^2 + std_on^2) / copies)",
        },
    }
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "per_portrait"}))


if __name__ == "__main__":
    main()
