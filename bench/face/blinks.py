"""Figure: blinks on every portrait (JSON on stdout; a sheet, bench/results/blink_sheet.jpg).

Are blinks even on every portrait? Prints ONE JSON object (issue 10).

    python bench/face/blinks.py [--sheet docs/blink_sheet.jpg]

Renders a paired blink (both eyeBlink columns raised together by 0, 0.5, 0.8
and 1.0 above the portrait's own reference) on the default portrait and the
real portraits of bench/face/portraits.py at 512 px, re-measures each frame with the
bundled landmarker (image mode) and reports the read-back of each lid and their
difference. A sheet of the eye region at 0.8 is written to look at: the
landmarker's left/right difference and what the picture shows are not the same
thing (glasses and a turned head change the read-back, not the lids).

Runs: ~1 min on its defaults (estimated for the 2-core host).
Quoted: docs/renderer.md, "Figures": paired blink read-back, left / right differ by at most 0.135
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import cv2
import numpy as np

from avatar.face_analysis import FaceAnalyzer
from avatar.motion import column_index
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.portrait_calibration import calibration_for
from benchkit.face.portraits import fetch_portraits
from benchkit.paths import RESULTS

BLINK_L, BLINK_R = column_index("eyeBlinkLeft"), column_index("eyeBlinkRight")
AMPLITUDES = (0.0, 0.5, 0.8, 1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheet", type=Path, default=RESULTS / "blink_sheet.jpg",
                        help="where the sheet goes (docs/blink_sheet.jpg to refresh the doc's)")
    args = parser.parse_args()
    results: dict[str, object] = {}
    tiles = []
    with FaceAnalyzer(mode="image") as analyzer:
        for name, path in fetch_portraits().items():
            portrait = Portrait.load(path, 512)
            renderer = PortraitRenderer(portrait, 512, calibration=calibration_for(portrait))
            rows = []
            for amp in AMPLITUDES:
                motion = portrait.reference_motion.copy()
                motion[[BLINK_L, BLINK_R]] += amp
                image = renderer.render(motion)
                found = analyzer.analyze(image)
                left = float(found.motion[BLINK_L]) if found else float("nan")
                right = float(found.motion[BLINK_R]) if found else float("nan")
                rows.append({"commanded": amp, "left": round(left, 3), "right": round(right, 3),
                             "difference": round(abs(left - right), 3)})
                if amp == 0.8:
                    eyes = image[140:340, 80:432]
                    cv2.putText(eyes, name, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                                (255, 255, 255), 1, cv2.LINE_AA)
                    tiles.append(eyes)
            results[name] = rows
    worst = max(r["difference"] for rows in results.values() for r in rows  # type: ignore[attr-defined]
                if r["commanded"] >= 0.5)
    grid = np.concatenate([np.concatenate(tiles[i:i + 2], axis=1)
                           for i in range(0, len(tiles) - 1, 2)], axis=0)
    args.sheet.parent.mkdir(parents=True, exist_ok=True)
    jpeg = [cv2.IMWRITE_JPEG_QUALITY, 80] if args.sheet.suffix == ".jpg" else []  # docs/: small
    cv2.imwrite(str(args.sheet), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), jpeg)
    print(json.dumps({"portraits": results, "blink_lr_difference_max": worst,
                      "sheet": str(args.sheet), "load_avg": list(os.getloadavg())}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
