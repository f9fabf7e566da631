"""The motion-space contract every other module builds on."""

from pathlib import Path

import numpy as np
import pytest

from avatar.motion import (
    BLENDSHAPE_COLUMNS,
    MOTION_COLUMNS,
    MOTION_DIM,
    MotionTrack,
    angles_to_rotation,
    column_index,
    neutral_frame,
    rotation_to_angles,
)


def test_columns_match_mediapipe_layout() -> None:
    assert MOTION_DIM == 58
    assert len(BLENDSHAPE_COLUMNS) == 52
    assert BLENDSHAPE_COLUMNS[0] == "_neutral"
    assert column_index("jawOpen") == 6 + 25
    assert len(set(MOTION_COLUMNS)) == MOTION_DIM


def test_unknown_column_is_named() -> None:
    with pytest.raises(KeyError, match="jawClose"):
        column_index("jawClose")


def test_track_round_trips_through_npz(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    found = rng.random(40) > 0.2
    track = MotionTrack(rng.random((40, MOTION_DIM)), fps=30.0, found=found)
    track.save(tmp_path / "t.npz")
    loaded = MotionTrack.load(tmp_path / "t.npz")
    np.testing.assert_array_equal(loaded.data, track.data)
    np.testing.assert_array_equal(loaded.found, found)
    assert loaded.fps == 30.0
    assert loaded.columns == MOTION_COLUMNS
    assert loaded.duration_s == pytest.approx(40 / 30)
    np.testing.assert_array_equal(loaded.column("jawOpen"), track.data[:, column_index("jawOpen")])


def test_found_defaults_to_all_true_and_shapes_are_checked() -> None:
    track = MotionTrack(np.stack([neutral_frame()] * 3))
    assert track.found.tolist() == [True, True, True]
    assert track.pose.shape == (3, 6) and track.expression.shape == (3, 52)
    with pytest.raises(ValueError, match="frames, 58"):
        MotionTrack(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="found mask"):
        MotionTrack(np.zeros((3, MOTION_DIM)), found=np.ones(2, dtype=bool))


def test_load_rejects_other_files(tmp_path: Path) -> None:
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a motion track"):
        MotionTrack.load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        MotionTrack.load(tmp_path / "missing.npz")


def test_angles_round_trip() -> None:
    for angles in [(0.0, 0.0, 0.0), (25.0, -10.0, 5.0), (-40.0, 30.0, -20.0)]:
        assert rotation_to_angles(angles_to_rotation(*angles)) == pytest.approx(angles, abs=1e-6)
