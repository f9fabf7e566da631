"""The canonical-model pose fit (avatar.motion.fit_head_rotation) against the landmarker.

Synthetic checks pin the maths (a projected canonical face gives its rotation
back, whatever depth the landmarks claim); the rest runs the real landmarker on
real renders of the default portrait. The numbers it is compared with are in
bench/results/pose_readout.json and docs/renderer.md (issue 10).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from avatar.face_analysis import FaceAnalyzer, FaceMeasurement, canonical_face_model
from avatar.motion import (
    IMAGE_TO_CAMERA,
    angles_to_rotation,
    column_index,
    fit_head_rotation,
    rotation_to_angles,
)
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.calibration import load_calibration

TURNS = ((0.0, 0.0, 0.0), (18.0, -12.0, 6.0), (-25.0, 15.0, -10.0), (5.0, 22.0, 3.0))


def _projected(yaw: float, pitch: float, roll: float, depth_gain: float = 1.0) -> np.ndarray:
    """The canonical face turned by (yaw, pitch, roll), as landmarks in image pixels
    (x right, y down, z away; 25 px/cm, centred at (256, 300)); z times `depth_gain`."""
    camera = canonical_face_model() @ angles_to_rotation(yaw, pitch, roll).T
    image = camera * IMAGE_TO_CAMERA * 25.0 + np.array([256.0, 300.0, 0.0])
    image[:, 2] *= depth_gain
    return image


def test_canonical_model_is_mediapipes_468_vertex_face() -> None:
    model = canonical_face_model()
    assert model.shape == (468, 3)
    # nose tip in front, face symmetric about x = 0, about 15 cm wide
    assert model[4, 2] == model[:, 2].max()
    assert abs(model[:, 0].mean()) < 1e-6
    assert 14.0 < np.ptp(model[:, 0]) < 17.0


@pytest.mark.parametrize("turn", TURNS)
def test_fit_gives_back_the_rotation_of_a_projected_face(turn: tuple[float, float, float]
                                                         ) -> None:
    got = rotation_to_angles(fit_head_rotation(_projected(*turn), canonical_face_model()))
    np.testing.assert_allclose(got, turn, atol=1e-3)


@pytest.mark.parametrize("depth_gain", [0.5, 2.0])
def test_fit_ignores_the_landmark_depth(depth_gain: float) -> None:
    """Only x, y are fitted: a landmarker that guesses the depth flatter or deeper
    than it is changes the start, not the answer."""
    turn = (-20.0, 12.0, 4.0)
    got = rotation_to_angles(fit_head_rotation(_projected(*turn, depth_gain),
                                               canonical_face_model()))
    np.testing.assert_allclose(got, turn, atol=1e-3)


def test_fit_is_robust_to_pixel_noise() -> None:
    rng = np.random.default_rng(0)
    turn = (15.0, -10.0, 5.0)
    noisy = _projected(*turn) + rng.normal(0.0, 1.0, (468, 3))  # 1 px on a 400 px face
    got = rotation_to_angles(fit_head_rotation(noisy, canonical_face_model()))
    np.testing.assert_allclose(got, turn, atol=0.5)


# ----------------------------------------------------------- real landmarker, real renders
_AXES = {"yaw": 0, "pitch": 1, "roll": 2}


# Sub-pixel shifts (px) of the head, on both image axes: a 3x3 grid a third of a
# pixel apart, for read-outs that must not hinge on one frame's landmarker noise.
_SHIFTS_PX = (-1.0 / 3.0, 0.0, 1.0 / 3.0)


@pytest.fixture(scope="module")
def renderer(default_portrait: Portrait) -> PortraitRenderer:
    """The default portrait at 512 px with the shipped table (its own fit), drawn over
    its final (shift-map) plate from the first frame on. What a frame looks like must
    depend neither on the user's cache dir (calibration_for would take a table found
    there) nor on how fast the plate thread finished (it shares both cores)."""
    renderer = PortraitRenderer(default_portrait, size=512, calibration=load_calibration())
    renderer.wait_for_plate()
    return renderer


@pytest.fixture(scope="module")
def sweep(renderer: PortraitRenderer) -> dict[str, FaceMeasurement]:
    """The default portrait rendered at its reference and +-20 deg on each axis, measured."""
    ref = renderer.reference
    out: dict[str, FaceMeasurement] = {}
    with FaceAnalyzer(mode="image") as analyzer:
        for axis in ("none", *_AXES):
            for offset in (0.0,) if axis == "none" else (-20.0, 20.0):
                motion = ref.copy()
                if axis != "none":
                    motion[column_index(axis)] += offset
                measured = analyzer.analyze(renderer.render(motion))
                assert measured is not None, f"no face at {axis} {offset:+.0f}"
                out[f"{axis}{offset:+.0f}"] = measured
    return out


def _fit(m: FaceMeasurement) -> np.ndarray:
    return np.array(rotation_to_angles(fit_head_rotation(m.landmarks, canonical_face_model())))


def _matrix(m: FaceMeasurement) -> np.ndarray:
    return np.array(rotation_to_angles(m.transform[:3, :3]))


def test_fit_and_matrix_agree_on_the_portraits_own_pose(sweep: dict[str, FaceMeasurement]
                                                        ) -> None:
    """Both read the same photo's yaw and roll within 2 degrees. Pitch has an offset
    (fit 7 deg more chin-down here, 1.4-4.8 deg on the real clips): mediapipe fits
    through a perspective camera, the fit is orthographic. Only pose changes from
    a reference frame are used downstream, so an offset cancels."""
    difference = _fit(sweep["none+0"]) - _matrix(sweep["none+0"])
    assert abs(difference[0]) < 2.0 and abs(difference[2]) < 2.0
    assert 0.0 < difference[1] < 10.0


@pytest.mark.parametrize("axis", list(_AXES))
@pytest.mark.parametrize("offset", [-20.0, 20.0])
def test_fit_reads_a_rendered_turn_with_its_sign_and_roughly_its_size(
        sweep: dict[str, FaceMeasurement], axis: str, offset: float) -> None:
    """Measured change / commanded change. The fit reads the landmarks' x, y
    literally, so it sees the renderer's depth stretch (yaw 1.5x, pitch 1.25x) that
    the matrix read-out is tuned to: yaw reads high, up to ~1.2x (bench numbers)."""
    a = _AXES[axis]
    change = _fit(sweep[f"{axis}{offset:+.0f}"])[a] - _fit(sweep["none+0"])[a]
    assert 0.7 < change / offset < 1.35, f"{axis} {offset:+.0f}: read {change:+.1f}"


def _drawn_change(renderer: PortraitRenderer, axis: str, offset: float) -> np.ndarray:
    """The rotation (3x3, camera axes) the renderer draws for `offset` deg on `axis` from
    its reference: the motion space's angles there, through the calibration's pose
    gain, times the reference rotation's inverse (as PortraitRenderer.vertices)."""
    ref = renderer.reference
    angles = [float(ref[column_index(name)]) for name in _AXES]
    start = angles_to_rotation(*angles)
    angles[_AXES[axis]] += renderer.calibration.pose_change(_AXES[axis], offset)
    return angles_to_rotation(*angles) @ start.T


def _fitted(renderer: PortraitRenderer, analyzer: FaceAnalyzer, motion: np.ndarray) -> np.ndarray:
    """The rotation (3x3, camera axes) the fit reads on the render of `motion`."""
    measured = analyzer.analyze(renderer.render(motion))
    assert measured is not None, f"no face at roll {motion[column_index('roll')]:+.1f}"
    return fit_head_rotation(measured.landmarks, canonical_face_model())


@pytest.fixture(scope="module")
def roll_residuals(renderer: PortraitRenderer) -> dict[float, np.ndarray]:
    """Per roll offset (+-20 deg), (9, 3): how far the rotation change the fit reads is
    from the one drawn, as rotation vectors in degrees (camera axes: x right, y up,
    z to the viewer), one per sub-pixel shift of the head (_SHIFTS_PX squared); each
    rolled frame is compared with the rest frame at the same shift."""
    tx, ty, roll = column_index("tx"), column_index("ty"), column_index("roll")
    drawn = {offset: _drawn_change(renderer, "roll", offset) for offset in (-20.0, 20.0)}
    out: dict[float, list[np.ndarray]] = {offset: [] for offset in drawn}
    with FaceAnalyzer(mode="image") as analyzer:
        for dy in _SHIFTS_PX:
            for dx in _SHIFTS_PX:
                shifted = renderer.reference.copy()
                shifted[tx] += dx / renderer.size
                shifted[ty] += dy / renderer.size
                rest = _fitted(renderer, analyzer, shifted)
                for offset, change in drawn.items():
                    rolled = shifted.copy()
                    rolled[roll] += offset
                    error = _fitted(renderer, analyzer, rolled) @ rest.T @ change.T
                    out[offset].append(np.degrees(cv2.Rodrigues(error)[0].ravel()))
    return {offset: np.array(rows) for offset, rows in out.items()}


def test_fit_keeps_the_other_axes_still_on_a_roll(roll_residuals: dict[float, np.ndarray]
                                                  ) -> None:
    """A rendered roll reads as that roll, turned off its axis by under 1.5 degrees.

    Compared as rotations, not as Euler angles: a roll about a head tipped chin-down
    decomposes with yaw of about roll * sin(tip), which is no error. The renderer
    rolls about the axis of the reference's matrix read-out, which the fit sees
    7.2 deg more chin-down: 20 deg of roll reads as ~2.5 deg of Euler yaw before any
    error. On top comes the landmarker's own off-axis error on a tilted face: the
    rest frame rotated rigidly in the image plane (a perfect roll) reads 0.6-1.0 deg
    off-axis (median), i.e. 3.2 deg of Euler yaw at +-20.

    Medians over the 3x3 sub-pixel shifts: a single frame's read-out moves by up to
    +-0.5 deg of yaw and +-1 deg of pitch for a quarter-pixel shift or +-1 grey level
    of noise, so a one-frame bound that close to the reading held or not by details
    that small, which differ between machines (the old bound, Euler yaw < 3.0 on one
    frame: 3.37 on a fresh 2-core AVX2 machine, under 3.0 in the developers' CI,
    3.37 to the digit here whatever the cache or load). Measured here: 0.07-0.23 deg at -20
    and 0.90-1.13 at +20 over six phases of the grid (single frames up to 1.7); a roll
    that leaks a tenth of itself into yaw or pitch (2 deg at 20) reads above the bound.
    """
    for offset, residuals in roll_residuals.items():
        median = np.median(residuals, axis=0)
        off_axis = float(np.hypot(median[0], median[1]))
        assert off_axis < 1.5, (f"roll {offset:+.0f}: read {off_axis:.2f} deg off its axis "
                                f"(median residual {np.round(median, 2)} deg)")
