"""Can a 2-D lip shape read as mouthFunnel without reading as mouthPucker? (issue 10)

A funnel is an open, rounded mouth with the lips pushed forward and flared; a
pucker is the same gathering with the lips closed. The renderer only moves
texture in 2-D, so this probes a family of "O" shapes on the render mesh and
reads them back with the landmarker (nothing is fitted, the measuring side is
untouched):

- `narrow`: the mouth region gathers towards its centre (x scaled by 1 - narrow
  at the centre, a Gaussian fall-off, like the pucker and funnel actuators);
- `open`: the inner lips part into an elliptic hole (face units, IOD, at the
  centre; the upper lip takes 45 %);
- `evert`: the outer lip contour moves out further than the inner one (the lips
  flare, showing more red); skin beyond the lips follows with a fall-off;
- each shape at amplitudes 0.75-1.5, alone and with a jaw drop (the renderer's
  jawOpen actuator at 0.3 and 0.6), and the renderer's own funnel actuator.

Prints ONE JSON object as the last stdout line and writes
bench/results/funnel_probe.json (readings are changes from the rendered
reference; load average recorded).

    python bench/funnel_probe.py
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2
import numpy as np

from avatar.face_analysis import FaceAnalyzer
from avatar.motion import column_index
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.expression import ACTUATORS, ActuatorBasis, _gauss
from avatar.render.portrait_calibration import calibration_for

ROOT = Path(__file__).resolve().parents[1]
PORTRAITS = ("grace_hopper", "barack_obama", "eileen_collins")
READ = ("mouthFunnel", "mouthPucker", "jawOpen")
NARROW, OPEN, EVERT = (0.25, 0.45, 0.55), (0.04, 0.08, 0.12), (0.0, 0.06, 0.12)
AMPLITUDES, JAWS = (0.75, 1.0, 1.5), (0.0, 0.3, 0.6)
LIP_THICKNESS, FALL_OFF, UPPER_SHARE = 0.12, 0.15, 0.45  # face units / share of the opening


def o_shape(basis: ActuatorBasis, narrow: float, opening: float, evert: float) -> np.ndarray:
    """(N, 2) face-unit displacement of a rounded, flared mouth (see the module doc)."""
    uv, centre = basis.uv, basis.mouth_c
    d = np.zeros((basis.n, 2))
    d[:, 0] = -narrow * (uv[:, 0] - centre[0]) * _gauss(uv, centre, 0.5, 0.3)
    dist = np.abs(uv[:, 1] - np.interp(uv[:, 0], basis.line_u, basis.line_v))
    rel = (uv[:, 0] - centre[0]) / basis.mouth_hw
    ellipse = np.sqrt(np.clip(1.0 - rel**2, 0.0, 1.0))
    size = (opening + evert * np.minimum(dist / LIP_THICKNESS, 1.0)) * np.exp(
        -0.5 * (np.maximum(dist - LIP_THICKNESS, 0.0) / FALL_OFF) ** 2)
    below = basis._below_mouth()
    d[:, 1] = ellipse * size * 2.0 * (below * (1.0 - UPPER_SHARE) - (1.0 - below) * UPPER_SHARE)
    return basis._mask(d)


def probe(renderer: PortraitRenderer, analyzer: FaceAnalyzer) -> list[dict]:
    """Readings of every shape, amplitude and jaw drop on one portrait."""
    ref = renderer.reference
    base = analyzer.analyze(renderer.render(ref))
    if base is None:
        return []
    basis = ActuatorBasis(renderer.mesh)
    own = renderer._basis.copy()
    k_funnel, k_jaw = ACTUATORS.index("mouthFunnel"), ACTUATORS.index("jawOpen")
    shapes: dict[str, tuple[float, float, float] | None] = {"renderer funnel": None}
    for combo in itertools.product(NARROW, OPEN, EVERT):
        shapes["O narrow {} open {} evert {}".format(*combo)] = combo
    rows = []
    try:
        for label, params in shapes.items():
            renderer._basis = own.copy()
            if params is not None:
                field = basis.frame.to_pixels_delta(o_shape(basis, *params))
                renderer._basis[k_funnel] = field.reshape(-1).astype(np.float32)
            for jaw, amp in itertools.product(JAWS, AMPLITUDES):
                amps = np.zeros(len(ACTUATORS), np.float32)
                amps[k_funnel], amps[k_jaw] = amp, jaw
                measured = analyzer.analyze(renderer.render_amplitudes(amps, ref))
                row: dict[str, object] = {"shape": label, "amplitude": amp, "jaw": jaw}
                if measured is not None:
                    row.update({n: round(float(measured.motion[column_index(n)]
                                               - base.motion[column_index(n)]), 3) for n in READ})
                rows.append(row)
    finally:
        renderer._basis = own
    return rows


def main() -> int:
    """Probe every shape on PORTRAITS and summarise the best funnel without a pucker."""
    from portraits import DEFAULT_CACHE, fetch_portraits

    cv2.setNumThreads(1)
    load_start = os.getloadavg()
    paths = fetch_portraits(DEFAULT_CACHE)
    per: dict[str, dict] = {}
    with FaceAnalyzer(mode="image") as analyzer:
        for name in PORTRAITS:
            print(f"funnel probe: {name} ...", file=sys.stderr, flush=True)
            portrait = Portrait.load(paths[name], 512)
            rows = probe(PortraitRenderer(portrait, 512, calibration=calibration_for(portrait)),
                         analyzer)
            read = [r for r in rows if "mouthFunnel" in r]
            best = max(read, key=lambda r: float(r["mouthFunnel"]))  # type: ignore[arg-type]
            lean = [r for r in read if float(r["mouthPucker"]) < 0.3]  # type: ignore[arg-type]
            best_lean = max(lean, key=lambda r: float(r["mouthFunnel"]))  # type: ignore[arg-type]
            per[name] = {"renders": len(rows), "best_funnel": best,
                         "best_funnel_with_pucker_below_0.3": best_lean, "rows": rows}
    summary = {
        "mode": "funnel_probe",
        "load_average_start": [round(v, 2) for v in load_start],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "definitions": {"readings": "FaceAnalyzer blendshape of the render minus that of the "
                                    "rendered reference (image mode, 512 px)",
                        "shapes": "see the module docstring (face units, IOD)"},
        "per_portrait": per,
    }
    (ROOT / "bench" / "results" / "funnel_probe.json").write_text(json.dumps(summary, indent=1)
                                                                   + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "per_portrait"}
                     | {"best": {n: {"any": p["best_funnel"],
                                     "pucker<0.3": p["best_funnel_with_pucker_below_0.3"]}
                                 for n, p in per.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
