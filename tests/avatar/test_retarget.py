"""Relative motion transfer from a real analysed driver clip onto the real portrait."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar.errors import NoFaceError
from avatar.face_analysis import analyze_video
from avatar.motion import MOTION_DIM, MotionTrack, column_index
from avatar.portrait import Portrait
from avatar.retarget import (
    RetargetOptions,
    driver_rest,
    retarget_track,
    transfer_frame,
)
from tests.avatar.conftest import DriverClip, RenderedClip

YAW, PITCH, ROLL = column_index("yaw"), column_index("pitch"), column_index("roll")
TX, SCALE, JAW = column_index("tx"), column_index("scale"), column_index("jawOpen")


@pytest.fixture(scope="module")
def driver_track(driver_clip: DriverClip) -> MotionTrack:
    return analyze_video(driver_clip.path)


def test_rest_frame_maps_to_the_portrait_reference(
    driver_track: MotionTrack, default_portrait: Portrait
) -> None:
    rest = driver_rest(driver_track, RetargetOptions(rest="first"))
    out = transfer_frame(rest, rest, default_portrait.reference_motion)
    np.testing.assert_allclose(out, default_portrait.reference_motion, atol=1e-4)


def test_driver_roll_is_transferred_relative_to_its_rest(
    driver_track: MotionTrack, driver_clip: DriverClip, default_portrait: Portrait
) -> None:
    reference = default_portrait.reference_motion
    out = retarget_track(driver_track, reference)
    assert len(out) == len(driver_track) and out.fps == driver_track.fps
    found = driver_track.found
    rest = driver_rest(driver_track)
    driver_delta = driver_track.data[found, ROLL] - rest[ROLL]
    portrait_delta = out.data[found, ROLL] - reference[ROLL]
    np.testing.assert_allclose(portrait_delta, driver_delta, atol=0.5)
    # and the swing is the scripted +-12 degrees, not the driver's absolute roll
    assert np.ptp(portrait_delta) == pytest.approx(np.ptp(driver_clip.roll_deg[found]), abs=4)


def test_missing_driver_frames_hold_the_last_motion(
    driver_track: MotionTrack, driver_clip: DriverClip, default_portrait: Portrait
) -> None:
    out = retarget_track(driver_track, default_portrait.reference_motion)
    gap = np.flatnonzero(driver_clip.blank)
    assert not driver_track.found[gap].any()
    for index in gap:
        np.testing.assert_array_equal(out.data[index], out.data[gap[0] - 1])
    np.testing.assert_array_equal(out.found, driver_track.found)


def test_rotation_composes_with_a_turned_portrait() -> None:
    rest = np.zeros(MOTION_DIM, np.float32)
    rest[SCALE] = 0.3
    driver = rest.copy()
    driver[PITCH] = 10.0  # a nod
    reference = rest.copy()
    reference[YAW] = 30.0  # the portrait looks to the side
    out = transfer_frame(driver, rest, reference)
    # a nod stays a nod about the head's own ear-to-ear axis: yaw kept, pitch added
    assert out[YAW] == pytest.approx(30.0, abs=1.0)
    assert out[PITCH] == pytest.approx(10.0, abs=1.0)


def test_translation_and_scale_are_in_face_units() -> None:
    rest = np.zeros(MOTION_DIM, np.float32)
    rest[SCALE] = 0.2  # small face in the driver's frame
    driver = rest.copy()
    driver[TX] = 0.1  # half a driver face to the right
    driver[SCALE] = 0.22  # leaning in by 10%
    reference = np.zeros(MOTION_DIM, np.float32)
    reference[SCALE] = 0.5  # big face in the portrait crop
    out = transfer_frame(driver, rest, reference)
    assert out[TX] == pytest.approx(0.25)  # half a portrait face
    assert out[SCALE] == pytest.approx(0.55)
    pinned = transfer_frame(driver, rest, reference, RetargetOptions(translation_gain=0.0))
    assert pinned[TX] == pytest.approx(0.0)


def test_expression_delta_is_added_and_clipped() -> None:
    rest = np.zeros(MOTION_DIM, np.float32)
    rest[SCALE] = 0.3
    rest[JAW] = 0.1
    driver = rest.copy()
    driver[JAW] = 0.6
    reference = rest.copy()
    reference[JAW] = 0.05
    assert transfer_frame(driver, rest, reference)[JAW] == pytest.approx(0.55)
    loud = transfer_frame(driver, rest, reference, RetargetOptions(expression_gain=3.0))
    assert loud[JAW] == pytest.approx(1.0)
    closing = rest.copy()
    closing[JAW] = 0.0
    assert transfer_frame(closing, rest, reference)[JAW] == pytest.approx(0.0)


def test_median_rest_uses_a_low_expression_percentile() -> None:
    data = np.zeros((10, MOTION_DIM), np.float32)
    data[:, SCALE] = 0.3
    data[5:, JAW] = 0.6  # talking half of the time
    rest = driver_rest(MotionTrack(data=data, fps=25.0))
    assert rest[JAW] == pytest.approx(0.0)


def test_driver_without_any_face_is_an_error() -> None:
    track = MotionTrack(data=np.zeros((5, MOTION_DIM)), fps=25.0, found=np.zeros(5, bool))
    with pytest.raises(NoFaceError, match="driver"):
        retarget_track(track, np.zeros(MOTION_DIM, np.float32))
    with pytest.raises(ValueError, match="rest"):
        RetargetOptions(rest="mean")  # type: ignore[arg-type]


@pytest.mark.e2e
def test_retarget_video_end_to_end(driver_clip: DriverClip, tmp_path: Path) -> None:
    from avatar.portrait import default_portrait_path
    from avatar.retarget import retarget_video
    from avatar.video_io import read_video

    out_path = tmp_path / "out.mp4"
    result = retarget_video(default_portrait_path(), driver_clip.path, out_path, size=256)
    frames, fps, audio = read_video(out_path)
    assert len(list(frames)) == driver_clip.frames and fps == pytest.approx(driver_clip.fps)
    assert audio is not None and audio[1] == driver_clip.sample_rate
    # the rendered avatar, analysed again, tilts the way the driver did
    rendered = analyze_video(out_path)
    assert rendered.found.all()
    found = result.driver_track.found
    driver_roll = result.driver_track.data[found, ROLL]
    avatar_roll = rendered.data[found, ROLL]
    assert np.corrcoef(driver_roll, avatar_roll)[0, 1] > 0.9


@pytest.mark.e2e
def test_rendered_turns_nods_and_speech_carry_over(
    rendered_driver_clip: RenderedClip, tmp_path: Path, portrait_rgb: np.ndarray
) -> None:
    """Driver rendered with scripted yaw/pitch/jaw -> retarget onto a mirrored portrait.

    The mirrored photo is a different avatar (its own crop and reference), so this
    checks that motion is transferred relative to each face's own rest.
    """
    from avatar.retarget import retarget_video

    result = retarget_video(portrait_rgb[:, ::-1], rendered_driver_clip.path,
                            tmp_path / "out.mp4", size=256, smoothing=0.0)
    avatar_track = analyze_video(tmp_path / "out.mp4")
    driver_track = result.driver_track
    assert driver_track.found.all() and avatar_track.found.all()
    scripted = rendered_driver_clip.motion
    for name in ("yaw", "pitch", "jawOpen"):
        column = column_index(name)
        # the analyser sees what the renderer drew ...
        assert np.corrcoef(scripted[:, column], driver_track.data[:, column])[0, 1] > 0.8, name
        # ... and the avatar moves with the driver
        assert np.corrcoef(driver_track.data[:, column],
                           avatar_track.data[:, column])[0, 1] > 0.8, name


@pytest.mark.e2e
def test_retarget_command(driver_clip: DriverClip, tmp_path: Path) -> None:
    from matplotlib.image import imread

    from pipelines.cli import main

    out, preview, track = tmp_path / "out.mp4", tmp_path / "sheet.png", tmp_path / "t.npz"
    code = main(["retarget", "--driver", str(driver_clip.path), "--out", str(out), "--size",
                 "256", "--preview", str(preview), "--track-out", str(track), "--quiet"])
    assert code == 0
    assert len(MotionTrack.load(track)) == driver_clip.frames
    assert imread(preview).shape[1] > 1000  # six frames side by side
    # bad input is one clear error line and exit code 1, not a traceback
    assert main(["retarget", "--driver", str(driver_clip.path), "--portrait",
                 str(driver_clip.path), "--out", str(out), "--quiet"]) == 1
