"""Why mouthPucker does not read back on portraits that smile with their teeth (issue 10).

With each portrait's own calibration (bench/portrait_calibration.py) pucker r is
0.73-0.85 on four faces but ~0.36 on eileen_collins and ~0 on barack_obama. Both
smile at rest with the upper teeth showing. This probe drives the renderer's
pucker actuator alone, past the calibration's amplitude box (-0.5 .. 1), with the
smile actuators at 0, -0.5 and -1 (un-smiling), and reads the render back with the
landmarker (nothing fitted, readings are changes from the rendered reference).
It also writes a mouth crop sheet of amplitudes 0, 1, 1.5, 2, 2.5 per portrait, to
look at what a reading pucker costs the picture.

    .venv/bin/python bench/pucker_probe.py

Prints ONE JSON object (last line); writes bench/results/pucker_probe.json and
docs/pucker_probe.jpg.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from avatar.face_analysis import FaceAnalyzer  # noqa: E402
from avatar.motion import column_index  # noqa: E402
from avatar.portrait import Portrait  # noqa: E402
from avatar.render import PortraitRenderer  # noqa: E402
from avatar.render.expression import ACTUATORS  # noqa: E402
from avatar.render.portrait_calibration import calibration_for  # noqa: E402

PORTRAITS = ("grace_hopper", "barack_obama", "eileen_collins")
AMPLITUDES = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
SMILES = (0.0, -0.5, -1.0)
SHEET_AMPLITUDES = (0.0, 1.0, 1.5, 2.0, 2.5)
READ = ("mouthPucker", "mouthFunnel", "mouthSmileLeft", "jawOpen")


def amplitudes(pucker: float, smile: float) -> np.ndarray:
    """Raw actuator amplitudes: the pucker, both smiles, nothing else."""
    amps = np.zeros(len(ACTUATORS), np.float32)
    amps[ACTUATORS.index("mouthPucker")] = pucker
    for side in ("mouthSmileLeft", "mouthSmileRight"):
        amps[ACTUATORS.index(side)] = smile
    return amps


def mouth_crop(renderer: PortraitRenderer, frame: np.ndarray, label: str) -> np.ndarray:
    """A 200 x 140 crop around the inner lips, labelled."""
    cx, cy = renderer.mesh.vertices[13, :2]
    y0, x0 = max(int(cy) - 70, 0), max(int(cx) - 100, 0)
    crop = np.ascontiguousarray(frame[y0:y0 + 140, x0:x0 + 200])
    return cv2.putText(crop, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1)


def main() -> int:
    """Probe every portrait; write the JSON and the sheet."""
    from portraits import fetch_portraits

    load_start = os.getloadavg()
    paths = fetch_portraits(names=list(PORTRAITS))
    results: dict[str, Any] = {}
    rows = []
    with FaceAnalyzer(mode="image") as analyzer:
        for name in PORTRAITS:
            portrait = Portrait.load(paths[name], 512)
            renderer = PortraitRenderer(portrait, 512, calibration=calibration_for(portrait))
            renderer.wait_for_plate()
            ref = renderer.reference
            base = analyzer.analyze(renderer.render(ref))
            if base is None:
                results[name] = {"error": "no face in the rendered reference"}
                continue
            readings = []
            for smile in SMILES:
                for pucker in AMPLITUDES:
                    measured = analyzer.analyze(renderer.render_amplitudes(
                        amplitudes(pucker, smile), ref))
                    row: dict[str, Any] = {"smile_amplitude": smile, "pucker_amplitude": pucker}
                    if measured is not None:
                        row |= {k: round(float(measured.motion[column_index(k)]
                                               - base.motion[column_index(k)]), 2) for k in READ}
                    readings.append(row)
            first = {smile: next((r["pucker_amplitude"] for r in readings
                                  if r["smile_amplitude"] == smile
                                  and r.get("mouthPucker", 0.0) >= 0.5), None)
                     for smile in SMILES}
            results[name] = {
                "reference": {k: round(float(base.motion[column_index(k)]), 2) for k in READ},
                "first_amplitude_reading_pucker_0.5": {str(k): v for k, v in first.items()},
                "readings": readings,
            }
            rows.append(np.hstack([
                mouth_crop(renderer, renderer.render_amplitudes(amplitudes(a, 0.0), ref),
                           f"{name.split('_')[0]} pucker {a}") for a in SHEET_AMPLITUDES]))
    sheet = ROOT / "docs" / "pucker_probe.jpg"
    cv2.imwrite(str(sheet), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 90])
    summary = {
        "bench": "pucker_probe", "portraits": list(PORTRAITS),
        "calibration_box": "the calibration drives the pucker actuator within -0.5 .. 1.0 "
                           "(readout lo / hi of the shipped and per-portrait tables)",
        "first_amplitude_reading_pucker_0.5": {
            n: r.get("first_amplitude_reading_pucker_0.5") for n, r in results.items()},
        "per_portrait": results, "sheet": str(sheet.relative_to(ROOT)),
        "sheet_columns": [f"pucker {a}, smiles 0" for a in SHEET_AMPLITUDES],
        "load_average_start": [round(v, 2) for v in load_start],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
    }
    (ROOT / "bench" / "results" / "pucker_probe.json").write_text(
        json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "per_portrait"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
