"""The presence tracker's rules on scripted sightings (real clips: test_presence_scenes.py)."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.live.camera import visitor_face
from avatar.live.facing import bearing
from avatar.live.presence import (
    PresenceChange,
    PresenceParams,
    PresenceState,
    PresenceTracker,
    Sighting,
)
from avatar.motion import MOTION_DIM, column_index

NEAR = Sighting(height=0.3, yaw=3.0, pitch=-2.0)
FAR = Sighting(height=0.06, yaw=0.0, pitch=0.0)
TURNED = Sighting(height=0.3, yaw=60.0, pitch=0.0)
CAMERA_STEP = 0.1  # 10 analysed frames a second


def feed(tracker: PresenceTracker, start: float, secs: float,
         sighting: Sighting | None) -> list[PresenceChange]:
    """Camera frames showing `sighting` for `secs` from `start`; the changes they made."""
    changes = []
    for k in range(round(secs / CAMERA_STEP)):
        change = tracker.camera(sighting, start + k * CAMERA_STEP)
        if change is not None:
            changes.append(change)
    return changes


def test_a_visitor_who_walks_up_engages_after_a_second_and_leaves_after_away_secs() -> None:
    tracker = PresenceTracker(PresenceParams(away_secs=5.0))
    assert feed(tracker, 0.0, 2.0, None) == []
    changes = feed(tracker, 2.0, 3.0, NEAR)
    assert [c.state for c in changes] == [PresenceState.APPROACHING, PresenceState.ENGAGED]
    assert changes[1].arrived and changes[1].at == pytest.approx(3.0, abs=0.15)
    changes = feed(tracker, 5.0, 8.0, None)
    assert [c.state for c in changes] == [PresenceState.LEAVING, PresenceState.AWAY]
    assert changes[-1].left
    assert changes[-1].at - 4.9 == pytest.approx(5.0, abs=0.15)  # away_secs after the last face


@pytest.mark.parametrize("passer_by", [FAR, TURNED])
def test_a_far_or_turned_face_never_engages(passer_by: Sighting) -> None:
    tracker = PresenceTracker()
    changes = feed(tracker, 0.0, 10.0, passer_by)
    assert not any(c.arrived for c in changes)
    assert tracker.state is not PresenceState.ENGAGED


def test_a_near_frontal_glance_shorter_than_engage_secs_never_engages() -> None:
    tracker = PresenceTracker(PresenceParams(engage_secs=1.0))
    changes = feed(tracker, 0.0, 0.6, NEAR) + feed(tracker, 0.6, 5.0, None)
    assert not any(c.arrived for c in changes)
    assert tracker.state is PresenceState.AWAY


def test_a_turn_away_or_a_phone_glance_keeps_the_visitor() -> None:
    tracker = PresenceTracker(PresenceParams(away_secs=15.0))
    feed(tracker, 0.0, 3.0, NEAR)
    assert tracker.state is PresenceState.ENGAGED
    looking_down = Sighting(height=0.28, yaw=0.0, pitch=45.0)
    changes = feed(tracker, 3.0, 4.0, looking_down)  # a face, not frontal: still there
    changes += feed(tracker, 7.0, 5.0, None)  # turned to a friend: no face at all
    changes += feed(tracker, 12.0, 2.0, NEAR)
    assert not any(c.left for c in changes)
    assert tracker.state is PresenceState.ENGAGED


def test_speech_keeps_the_visitor_and_restarts_the_count() -> None:
    tracker = PresenceTracker(PresenceParams(away_secs=4.0))
    feed(tracker, 0.0, 2.0, NEAR)
    feed(tracker, 2.0, 3.0, None)
    assert tracker.state is PresenceState.LEAVING
    assert tracker.voice(True, 5.0) is not None and tracker.state is PresenceState.ENGAGED
    tracker.voice(False, 6.0)
    changes = feed(tracker, 6.0, 3.9, None)
    assert not any(c.left for c in changes)
    assert feed(tracker, 9.9, 0.5, None)[-1].left


def test_without_a_camera_the_first_words_engage_and_silence_ends_the_visit() -> None:
    tracker = PresenceTracker(PresenceParams(away_secs=3.0))
    assert tracker.tick(1.0) is None
    arrived = tracker.voice(True, 1.0)
    assert arrived is not None and arrived.arrived
    assert "no camera" in arrived.reason
    tracker.voice(False, 2.0)
    assert tracker.tick(4.5) is not None and tracker.state is PresenceState.LEAVING
    left = tracker.tick(5.1)
    assert left is not None and left.left


def test_with_a_camera_words_from_nobody_in_view_do_not_engage() -> None:
    tracker = PresenceTracker()
    feed(tracker, 0.0, 2.0, None)
    assert tracker.voice(True, 2.0) is None
    assert tracker.state is PresenceState.AWAY


def test_words_with_a_frontal_face_engage_at_once_but_not_with_a_turned_one() -> None:
    facing = PresenceTracker()
    feed(facing, 0.0, 0.3, Sighting(height=0.15, yaw=5.0, pitch=0.0))  # not near yet
    change = facing.voice(True, 0.3)
    assert change is not None and change.arrived and "speech" in change.reason
    on_the_phone = PresenceTracker()
    feed(on_the_phone, 0.0, 2.0, TURNED)
    assert on_the_phone.voice(True, 2.0) is None


def test_a_camera_that_stops_sending_hands_presence_to_the_voice() -> None:
    tracker = PresenceTracker(PresenceParams(camera_stale_secs=3.0))
    feed(tracker, 0.0, 1.0, None)
    assert tracker.voice(True, 1.5) is None  # the camera sees nobody: not yet
    change = tracker.voice(True, 5.0)  # the camera has been silent for 4 s
    assert change is not None and change.arrived


def test_walking_away_is_told_from_turning_aside() -> None:
    walking = PresenceTracker()
    feed(walking, 0.0, 2.0, NEAR)
    for k, height in enumerate(np.linspace(0.3, 0.11, 10)):
        walking.camera(Sighting(float(height), 0.0, 0.0), 2.0 + 0.1 * k)
    change = next(c for c in feed(walking, 3.0, 3.0, None) if c.state is PresenceState.LEAVING)
    assert change.receding
    turning = PresenceTracker()
    feed(turning, 0.0, 2.0, NEAR)
    change = next(c for c in feed(turning, 2.0, 3.0, None) if c.state is PresenceState.LEAVING)
    assert not change.receding


def test_the_visitor_is_the_nearest_face_that_faces_the_screen() -> None:
    class Face:
        def __init__(self, area: float, yaw: float) -> None:
            self.area = area
            self.motion = np.zeros(MOTION_DIM, np.float32)
            self.motion[column_index("yaw")] = yaw

    near_turned, far_frontal, farther_frontal = Face(900.0, 70.0), Face(400.0, 5.0), Face(100, 0)
    faces = [near_turned, far_frontal, farther_frontal]
    assert visitor_face(faces) is far_frontal  # type: ignore[arg-type]
    assert visitor_face([near_turned]) is near_turned  # type: ignore[list-item]
    assert visitor_face([]) is None


def test_params_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="near_height"):
        PresenceParams(seen_height=0.3, near_height=0.2)
    with pytest.raises(ValueError, match="away_secs"):
        PresenceParams(away_secs=0.0)


def test_facing_is_judged_from_the_line_to_the_camera() -> None:
    """The landmarker reads a face that looks at the camera from the frame's right edge
    as turned left (and one above centre as looking down): that bearing is taken off."""
    params = PresenceParams()
    yaw_along, pitch_along = bearing(0.4, -0.2)
    assert yaw_along < -7.0 and pitch_along > 2.0  # the signs of the motion space
    at_edge = Sighting(height=0.25, yaw=yaw_along, pitch=pitch_along, tx=0.4, ty=-0.2)
    assert at_edge.turn(params) == pytest.approx((0.0, 0.0), abs=1e-9)
    # turned 20 deg further from the camera at the edge: over the limit only as read
    turned = Sighting(height=0.25, yaw=yaw_along - 20.0, pitch=0.0, tx=0.4)
    assert abs(turned.yaw) > params.frontal_yaw_deg and turned.frontal(params)
    assert not Sighting(height=0.25, yaw=yaw_along - 30.0, pitch=0.0, tx=0.4).frontal(params)
    # a face at the centre is judged as read
    assert NEAR.turn(params) == (NEAR.yaw, NEAR.pitch)


def test_a_field_of_view_outside_0_180_is_refused() -> None:
    with pytest.raises(ValueError, match="facing_fov_deg"):
        PresenceParams(facing_fov_deg=0.0)
    with pytest.raises(ValueError, match="field of view"):
        bearing(0.1, 0.0, fov_deg=180.0)


def test_a_walk_up_is_approaching_before_its_face_is_seen_height_tall() -> None:
    """Two frames a second (attract mode): the face grows 0.06 -> 0.30 in 3 s."""
    tracker = PresenceTracker()
    changes = []
    for k in range(7):
        height = 0.06 * (0.30 / 0.06) ** (k / 6)
        change = tracker.camera(Sighting(height=height, yaw=2.0, pitch=0.0), k * 0.5)
        if change is not None:
            changes.append((change, height))
    change, height = changes[0]
    assert change.state is PresenceState.APPROACHING
    assert height < tracker.params.seen_height and "walking up" in change.reason


def test_a_small_face_that_stays_small_is_not_approaching() -> None:
    tracker = PresenceTracker()
    assert feed(tracker, 0.0, 5.0, FAR) == [] and tracker.state is PresenceState.AWAY


def test_a_small_turned_face_growing_is_not_approaching() -> None:
    """Someone walking across the view toward the camera's side, not to the screen."""
    tracker = PresenceTracker()
    changes = [tracker.camera(Sighting(height=0.05 * 1.3 ** k, yaw=60.0, pitch=0.0), k * 0.5)
               for k in range(3)]
    assert changes == [None, None, None] and tracker.state is PresenceState.AWAY


def test_a_walk_up_that_stops_far_off_goes_back_to_away() -> None:
    tracker = PresenceTracker()
    feed(tracker, 0.0, 0.5, Sighting(height=0.06, yaw=0.0, pitch=0.0))
    changes = feed(tracker, 0.5, 0.5, Sighting(height=0.075, yaw=0.0, pitch=0.0))
    assert [c.state for c in changes] == [PresenceState.APPROACHING]
    changes = feed(tracker, 1.0, 3.0, None)  # the face went out of view
    assert [c.state for c in changes] == [PresenceState.AWAY]
