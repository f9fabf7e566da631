"""The face service's one lifecycle state (pipelines/face/face_state.py)."""

import pytest

from pipelines.face.face_state import FaceState, Lifecycle


def test_a_face_starts_passes_a_reply_through_then_runs_and_stops_once() -> None:
    life = Lifecycle()
    life.to(FaceState.STARTING)
    life.to(FaceState.PASSTHROUGH)
    assert life.starting and not life.running
    life.to(FaceState.RUNNING)
    assert life.running
    assert life.stop() and life.stopping
    assert not life.stop()  # stop, cancel and cleanup all stop: only the first counts
    life.to(FaceState.STOPPED)
    assert life.stopping and life.failure is None


def test_a_failure_is_kept_and_a_failure_while_stopping_keeps_the_stop() -> None:
    life = Lifecycle()
    life.to(FaceState.STARTING)
    life.fail("the avatar could not start: no face")
    assert life.state is FaceState.FAILED and life.failure is not None
    life.stop()
    life.fail("late")
    assert life.state is FaceState.STOPPING and life.failure == "late"


def test_a_transition_the_diagram_does_not_allow_is_refused() -> None:
    life = Lifecycle()
    life.to(FaceState.RUNNING)  # a session given by the caller
    with pytest.raises(RuntimeError, match="running -> starting"):
        life.to(FaceState.STARTING)
