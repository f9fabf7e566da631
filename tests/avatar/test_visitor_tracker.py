"""The camera's tracker (avatar/live/visitor_tracker.py), on the real landmarker and
detector: one visitor is tracked looking for one face and measured as the two-face
landmarker measures them; a bystander turns the two-face search on within a survey,
the visitor still wins, and the search goes back to one face when the bystander leaves.
A far face (a real one, 0.10 of the frame) is found in a crop around motion, and an
empty room costs no crop."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from avatar.face_analysis import FaceAnalyzer, FaceCounter
from avatar.live.camera import decode_jpeg, visitor_face
from avatar.live.visitor_tracker import (
    CAMERA_FACES,
    CROP_HEIGHT,
    VisitorTracker,
    crop_around,
    from_crop,
    motion_box,
    shared_face_counter,
)
from avatar.motion import column_index
from benchkit.kiosk import presence_scenes as scenes
from sdk.images import encode_camera_jpeg
from tests.avatar.conftest import scripted_frame

WIDTH, HEIGHT = 320, 240


def _scene(portrait_rgb: np.ndarray, index: int, *, visitor: bool = True,
           bystander: bool = False) -> np.ndarray:
    """A 320x240 camera frame: the visitor (the photo at 200 px, tilting and moving as
    frame `index` says) on the left, a bystander (at 110 px) at the right, on grey."""
    frame = np.full((HEIGHT, WIDTH, 3), 120, np.uint8)
    if visitor:
        roll, shift = 8.0 * np.sin(index / 4.0), 0.03 * np.sin(index / 5.0)
        frame[20:220, 10:210] = scripted_frame(portrait_rgb, 200, roll, shift)
    if bystander:
        frame[120:230, 205:315] = scripted_frame(portrait_rgb, 110, 0.0, 0.0)
    return frame


def test_the_counter_counts_the_faces_in_view(portrait_rgb: np.ndarray) -> None:
    with FaceCounter() as counter:
        assert counter.count(_scene(portrait_rgb, 0)) == 1
        assert counter.count(_scene(portrait_rgb, 0, bystander=True)) == 2
        assert counter.count(_scene(portrait_rgb, 0, visitor=False)) == 0
    with pytest.raises(RuntimeError, match="closed"):
        counter.count(_scene(portrait_rgb, 0))


def test_the_sessions_trackers_share_one_counter_safely(portrait_rgb: np.ndarray) -> None:
    first, second = VisitorTracker(), VisitorTracker()
    try:
        assert first._counter is second._counter is shared_face_counter()
        scenes = [_scene(portrait_rgb, i, bystander=i % 2 == 1) for i in range(16)]
        with ThreadPoolExecutor(4) as sessions:  # four sessions' surveys at once
            counts = list(sessions.map(shared_face_counter().count, scenes))
        assert counts == [1 + i % 2 for i in range(16)]
    finally:
        first.close()
        second.close()
    assert shared_face_counter().count(scenes[1]) == 2  # a tracker's close leaves it


def test_one_visitor_is_tracked_for_one_face_and_measured_as_with_two(
        portrait_rgb: np.ndarray) -> None:
    frames = [_scene(portrait_rgb, index) for index in range(20)]
    tracker = VisitorTracker(survey_every=5)
    try:
        with FaceAnalyzer(mode="video", num_faces=CAMERA_FACES) as two:
            for index, frame in enumerate(frames):
                tracked = visitor_face(tracker.faces(frame, 100 * index))
                looked = visitor_face(two.analyze_all(frame, 100 * index))
                assert tracked is not None and looked is not None
                assert tracker.looking_for == 1
                for name, within in (("yaw", 2.0), ("pitch", 2.0), ("roll", 2.0),
                                     ("jawOpen", 0.05)):  # degrees; a blendshape's 0-1
                    column = column_index(name)
                    assert abs(tracked.motion[column] - looked.motion[column]) < within, name
        assert tracker.surveys == 4 and tracker.crowded_surveys == 0
    finally:
        tracker.close()


def test_a_bystander_is_searched_for_within_a_survey_and_the_visitor_wins(
        portrait_rgb: np.ndarray) -> None:
    tracker = VisitorTracker(survey_every=3)
    try:
        index = 0

        def next_visitor(**scene: bool) -> float:
            nonlocal index
            found = visitor_face(tracker.faces(_scene(portrait_rgb, index, **scene), 100 * index))
            index += 1
            assert found is not None
            return found.area

        alone = [next_visitor(visitor=False, bystander=True) for _ in range(3)]
        assert tracker.looking_for == 1  # the bystander, the only face, was tracked
        both = [next_visitor(bystander=True) for _ in range(6)]
        assert tracker.looking_for == CAMERA_FACES
        assert both[-1] > 2.5 * alone[-1]  # the visitor, not the bystander, is measured
        visitor = [next_visitor() for _ in range(4)]
        assert tracker.looking_for == 1 and visitor[-1] > 2.5 * alone[-1]
        assert tracker.crowded_surveys >= 1
    finally:
        tracker.close()


def test_a_survey_period_under_one_is_refused() -> None:
    with pytest.raises(ValueError, match="survey_every must be >= 1"):
        VisitorTracker(survey_every=0)


def test_a_face_that_jumps_between_analyses_is_found_in_every_frame(
        portrait_rgb: np.ndarray) -> None:
    """At a few analyses a second a walking face is far from where the track left it:
    the landmarker loses it in that frame, and the tracker gives it the frame again."""
    face = scripted_frame(portrait_rgb, 150, 0.0, 0.0)
    tracker = VisitorTracker()
    try:
        for index in range(8):
            frame = np.full((HEIGHT, WIDTH, 3), 120, np.uint8)
            left = 10 if index % 2 == 0 else 160
            frame[45:195, left:left + 150] = face
            found = visitor_face(tracker.faces(frame, 200 * index))
            assert found is not None, f"frame {index} lost"
        assert tracker.retries >= 1
    finally:
        tracker.close()


def test_an_empty_room_is_analysed_once_a_frame() -> None:
    """The retry is for a track just lost, not for a room with nobody in it."""
    tracker = VisitorTracker()
    try:
        for index in range(6):
            assert tracker.faces(np.full((HEIGHT, WIDTH, 3), 120, np.uint8), 200 * index) == []
        assert tracker.retries == 0
    finally:
        tracker.close()


def _camera_frames(scene: scenes.Scene, start: float, end: float) -> list[tuple[float, np.ndarray]]:
    """The scene's frames from `start` to `end` s as the server reads a camera: 320 px
    JPEGs decoded (avatar/live/camera.py)."""
    return [(t, decode_jpeg(encode_camera_jpeg(rgb))) for t, rgb in scene.frames(5.0)
            if start <= t < end]


def test_a_far_face_is_found_around_motion_and_followed() -> None:
    """A real face at 0.10 of the frame height walks in and stands across the room: the
    whole frame never finds it; a crop around what moved does, and then follows it."""
    frames = _camera_frames(scenes.far_visitor(), 2.0, 5.0)  # walks in, then stands
    whole, cropped = VisitorTracker(crops=False), VisitorTracker()
    try:
        assert not any(whole.faces(rgb, int(1000 * t)) for t, rgb in frames)
        found = [visitor_face(cropped.faces(rgb, int(1000 * t))) for t, rgb in frames]
    finally:
        whole.close()
        cropped.close()
    seen = [face for face in found if face is not None]
    assert len(seen) >= 0.8 * len(frames)
    heights = [float(face.motion[column_index("scale")]) for face in seen]
    assert 0.09 <= float(np.median(heights)) <= 0.115
    assert cropped.crop_faces == len(seen)
    # standing still (3.0-5.0 s) the face is followed in crops though nothing moves
    assert found[-1] is not None


def test_an_empty_room_costs_no_crop() -> None:
    """Sensor noise and the room's slow light change are not motion."""
    tracker = VisitorTracker()
    try:
        for t, rgb in _camera_frames(scenes.empty(8.0, seed=4), 0.0, 8.0):
            assert tracker.faces(rgb, int(1000 * t)) == []
        assert tracker.crops == 0
    finally:
        tracker.close()


def test_motion_is_where_something_moved_and_not_the_light() -> None:
    rng = np.random.default_rng(0)
    still = rng.normal(120, 2, (60, 80)).astype(np.float32)
    assert motion_box(still, None, (320, 240)) is None
    assert motion_box(still + rng.normal(0, 2, still.shape).astype(np.float32), still,
                      (320, 240)) is None  # noise
    assert motion_box(still + 40, still, (320, 240)) is None  # the whole frame: the light
    moved = still.copy()
    moved[10:40, 60:70] += 60  # a person at the right
    x0, y0, x1, y1 = motion_box(moved, still, (320, 240)) or (0, 0, 0, 0)
    assert 220 <= x0 < x1 <= 292 and 28 <= y0 < y1 <= 172
    crop = crop_around((x0, y0, x1, y1), (320, 240), head_at_top=True)
    assert crop[2] - crop[0] == crop[3] - crop[1] == round(CROP_HEIGHT * 240)
    assert crop[2] == 320 and crop[1] <= y0  # inside the frame, the top of the person in it


def test_a_face_read_in_a_crop_is_read_as_the_whole_frame_reads_it() -> None:
    """A face large enough for both (0.2 of the frame, off to one side)."""
    scene = scenes.off_centre(x=0.15)
    (_, rgb), = _camera_frames(scene, 6.0, 6.1)
    with FaceAnalyzer(mode="image", num_faces=1) as analyzer:
        whole = analyzer.analyze(rgb)
        assert whole is not None
        size = (rgb.shape[1], rgb.shape[0])
        x0, y0, x1, y1 = (int(v) for v in whole.bbox)
        crop = crop_around((x0, y0, x1, y1), size, head_at_top=False)
        inside = analyzer.analyze(np.ascontiguousarray(rgb[crop[1]:crop[3], crop[0]:crop[2]]))
        assert inside is not None
        moved = from_crop(inside, crop, size)
    for name, within in (("scale", 0.01), ("tx", 0.01), ("ty", 0.01), ("yaw", 3.0),
                         ("pitch", 3.0)):
        column = column_index(name)
        assert abs(moved.motion[column] - whole.motion[column]) < within, name
    assert moved.image_size == size
