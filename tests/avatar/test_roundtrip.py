"""Round-trip acceptance test: render commanded motion, re-measure with the landmarker.

Real default portrait, real bundled landmarker (image mode, every frame on its
own). Thresholds sit just under what bench/face/render.py measured (docs/renderer.md
has the full table); the issue's targets are r >= 0.8 per key blendshape on a
mixed track, sweeps monotone with range >= 0.2, pose error <= 3 degrees.
Where a target is not met yet, the threshold below says so in its comment.
"""

from __future__ import annotations

import numpy as np
import pytest

from avatar.face_analysis import FaceAnalyzer
from avatar.motion import column_index
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.roundtrip import (
    KEY_BLENDSHAPES,
    SweepResult,
    measure,
    mixed_table,
    mixed_track,
    pose_errors,
    sweep_track,
)

pytestmark = pytest.mark.e2e

MIXED_FRAMES = 200
# Minimum Pearson r on the mixed track (seed 0), just under the value measured
# with the shipped calibration (docs/renderer.md). The target is 0.8.
# Issue 67's lips that round: the funnel reads back (0.05 -> 0.81 on this seed), and
# since it reads partly as pucker too the antagonist track costs the pucker
# (0.92 -> 0.76).
# Issue 35's mouth also moved the left smile from 0.87 to 0.84 (jaw 0.90 -> 0.965,
# pucker 0.88 -> 0.90); its red shade (shadows toward a dark red, not black) to
# 0.822 on this seed (mean of seeds 0-3: 0.857 -> 0.849; pucker 0.852 -> 0.864).
MIN_R = {
    "jawOpen": 0.93,
    "mouthSmileLeft": 0.80,
    "mouthSmileRight": 0.87,
    "eyeBlinkLeft": 0.93,
    "eyeBlinkRight": 0.93,
    "browInnerUp": 0.90,
    "mouthPucker": 0.70,
    "mouthFunnel": 0.72,
}
# Every key shape reads back swept alone (the funnel since issue 67's rounded lips).
NOT_EXPRESSED_ALONE: set[str] = set()
MIN_SWEEP_RANGE = 0.2
MAX_POSE_ERR_DEG = 3.0


@pytest.fixture(scope="module")
def renderer(default_portrait: Portrait) -> PortraitRenderer:
    renderer = PortraitRenderer(default_portrait, size=512)
    renderer.wait_for_plate()  # the final (shift-map) plate throughout the module
    return renderer


@pytest.fixture(scope="module")
def analyzer():
    with FaceAnalyzer(mode="image") as found:
        yield found


@pytest.fixture(scope="module")
def mixed(renderer: PortraitRenderer, analyzer: FaceAnalyzer) -> dict:
    track = mixed_track(renderer.reference, MIXED_FRAMES, seed=0)
    measured, found = measure(renderer.render, track, analyzer)
    return {"track": track, "found": found, "table": mixed_table(track, measured, found)}


def test_face_found_in_every_mixed_frame(mixed: dict) -> None:
    assert mixed["found"].all()


@pytest.mark.parametrize("name", KEY_BLENDSHAPES)
def test_mixed_track_correlation(mixed: dict, name: str) -> None:
    row = mixed["table"][name]
    assert row["r"] >= MIN_R[name], f"{name}: {row}"


def test_jaw_reads_open_under_a_pucker(renderer: PortraitRenderer,
                                       analyzer: FaceAnalyzer) -> None:
    """A jaw drop with a pucker (and a trace of funnel) still reads as an open jaw.

    Regression for the jaw-funnel-pucker crosstalk: the readout inverse used to
    add a full funnel amplitude to extend the jaw, which together with a pucker
    the landmarker reads as a closed mouth (jawOpen 0.45 measured 0.05).
    """
    motion = renderer.reference.copy()
    for name, value in {"jawOpen": 0.45, "mouthPucker": 0.7, "mouthFunnel": 0.08}.items():
        motion[column_index(name)] = value
    measured, found = measure(renderer.render, motion[None], analyzer)
    assert found.all()
    jaw, pucker = (float(measured[0, column_index(n)]) for n in ("jawOpen", "mouthPucker"))
    assert jaw >= 0.3, f"jawOpen reads {jaw:.3f} for 0.45 under a pucker of 0.7"
    assert pucker >= 0.3, f"mouthPucker reads {pucker:.3f} for 0.7 with the jaw open"


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, reason="funnel reads only with a "
                                               "saturated pucker on this portrait"))
    if name in NOT_EXPRESSED_ALONE else name
    for name in KEY_BLENDSHAPES
])
def test_single_sweep_is_monotone_with_range(renderer: PortraitRenderer,
                                             analyzer: FaceAnalyzer, name: str) -> None:
    """Smiles and blinks are swept with both sides together (PAIRED)."""
    values = np.linspace(0.0, 1.0, 6)
    track = sweep_track(renderer.reference, name, values, paired=True)
    measured, found = measure(renderer.render, track, analyzer)
    assert found.all()
    result = SweepResult(name, values, measured[:, column_index(name)])
    assert result.monotone, f"{name}: {np.round(result.measured, 3)}"
    assert result.measured_range >= MIN_SWEEP_RANGE, f"{name}: {np.round(result.measured, 3)}"


@pytest.mark.parametrize("axis", ["yaw", "pitch", "roll"])
def test_pose_error_within_15_degrees(renderer: PortraitRenderer, analyzer: FaceAnalyzer,
                                      axis: str) -> None:
    offsets = np.array([-15.0, -10.0, -5.0, 5.0, 10.0, 15.0])
    ref = renderer.reference
    base, _ = measure(renderer.render, ref[None], analyzer)
    track = sweep_track(ref, axis, offsets)
    measured, found = measure(renderer.render, track, analyzer)
    assert found.all()
    error = pose_errors(track, measured, found, ref, base[0])[axis]
    assert error <= MAX_POSE_ERR_DEG, f"{axis}: max error {error} deg"
