"""A calibration fitted on the portrait itself (avatar/render/portrait_calibration.py).

A real, small fit (300 measured mixes, two readout networks) on eileen_collins,
one of the portraits the shipped table fits worst (docs/renderer.md, "A
calibration per portrait"); then the cache round trip and the mixed-track
round trip on a seed the fit never saw. The photo is the example assistant's
astronaut (examples/voice_assistant/portraits/astronaut.jpg: skimage's NASA
portrait of Eileen Collins, in the repository), so a fresh clone runs it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar.face_analysis import FaceAnalyzer
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.calibration import load_calibration
from avatar.render.portrait_calibration import (
    cached_path,
    calibration_for,
    fit_portrait_calibration,
    portrait_key,
)
from avatar.render.roundtrip import measure, mixed_table, mixed_track

pytestmark = pytest.mark.e2e

IMAGE = (Path(__file__).resolve().parents[2] / "examples" / "voice_assistant" / "portraits"
         / "astronaut.jpg")
HELD_OUT_SEED = 3  # the fit's samples are random mixes; no mixed track is seen


def test_own_fit_is_cached_and_reads_jaw_and_smile_back(tmp_path: Path) -> None:
    portrait = Portrait.load(IMAGE, 512)
    shipped = load_calibration()
    assert calibration_for(portrait, tmp_path).to_json() == shipped.to_json()  # fallback

    path = fit_portrait_calibration(portrait, tmp_path, runs=((0, 300, 0.0),),
                                    progress=False, members=2, steps=1500)
    assert path == cached_path(portrait, tmp_path)
    assert path.name.startswith(portrait_key(portrait))
    own = calibration_for(portrait, tmp_path)
    assert own.readout is not None and own.to_json() != shipped.to_json()
    assert own.to_json() == load_calibration(path).to_json()  # what was saved is what loads
    np.testing.assert_array_equal(own.pose_gain, shipped.pose_gain)  # hand-set gains kept
    other = Portrait.load(np.ascontiguousarray(portrait.image[:, ::-1]), 512)
    assert cached_path(other, tmp_path) != path  # keyed by pixels

    r = {}
    with FaceAnalyzer(mode="image") as analyzer:
        for label, table in (("shipped", shipped), ("own", own)):
            renderer = PortraitRenderer(portrait, 512, calibration=table)
            track = mixed_track(renderer.reference, 200, seed=HELD_OUT_SEED)
            measured, found = measure(renderer.render, track, analyzer)
            r[label] = mixed_table(track, measured, found)
    gains = {k: r["own"][k]["r"] - r["shipped"][k]["r"]
             for k in ("jawOpen", "mouthSmileLeft", "mouthSmileRight")}
    # On the bench's PNG of the same photo, seed 3, full recipe: jaw 0.07 -> 0.89,
    # smiles 0.35 -> 0.86; this small fit: gains 0.87 / 0.51 / 0.53.
    print(f"\nheld-out seed {HELD_OUT_SEED}: r gains own - shipped {gains}")
    assert max(gains.values()) > 0.4, (gains, r)
    assert r["own"]["eyeBlinkLeft"]["r"] > 0.85  # what read well still does
