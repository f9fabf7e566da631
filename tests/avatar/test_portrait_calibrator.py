"""The server's background portrait fits (avatar/live/calibrator.py), for real.

A real worker process fits a small recipe (300 measured mixes, two readout
networks: tests/avatar/test_portrait_calibration.py's) on the example
assistant's astronaut into a temporary cache dir, while a live `AvatarSession`
showing that portrait keeps rendering with the shipped table; the session
switches to the portrait's own table by itself once it lands. Failures are real
too: a recipe the fit cannot run (the worker raises) and a worker killed
mid-fit both leave the session rendering with the shipped table.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, GeneratorCheckpoint, load_generator
from avatar.live import (
    AvatarSession,
    CalibrationEvent,
    FitRecipe,
    PortraitCalibrator,
    SessionOptions,
)
from avatar.portrait import Portrait
from avatar.render.calibration import load_calibration
from avatar.render.portrait_calibration import cached_path, key_path, portrait_key

pytestmark = pytest.mark.e2e

IMAGE = (Path(__file__).resolve().parents[2] / "examples" / "voice_assistant" / "portraits"
         / "astronaut.jpg")
SMALL = FitRecipe(runs=((0, 300, 0.0),), members=2, steps=1500)  # ~20 s of fit
FIT_TIMEOUT_SECS = 240.0  # spawn + imports at nice 19 on a busy 2-core machine + the fit


@pytest.fixture(scope="module")
def student() -> GeneratorCheckpoint:
    return load_generator(DEFAULT_CHECKPOINT)


@pytest.fixture(scope="module")
def astronaut() -> Portrait:
    return Portrait.load(IMAGE, 512)


def live_session(portrait: Portrait, student: GeneratorCheckpoint,
                 calibrator: PortraitCalibrator) -> AvatarSession:
    return AvatarSession(portrait, student, output_rate=22050, calibrator=calibrator,
                         options=SessionOptions(size=256, jpeg_quality=0))


def render_block(session: AvatarSession) -> list[np.ndarray]:
    """One 200 ms block as the pipeline node drives it (silence in, frames out)."""
    session.push_user_audio(np.zeros(3200, np.int16), 16000)
    return [session.render(planned).image for planned in session.next_block()]


def test_a_background_fit_lands_and_the_live_session_switches_to_it(
        tmp_path: Path, astronaut: Portrait, student: GeneratorCheckpoint) -> None:
    shipped = load_calibration().to_json()
    events: list[CalibrationEvent] = []
    calibrator = PortraitCalibrator(tmp_path, recipe=SMALL, on_event=events.append)
    try:
        session = live_session(astronaut, student, calibrator)
        key = portrait_key(astronaut)
        assert session.awaiting_calibration and calibrator.status(key) in ("queued", "fitting")
        assert calibrator.request(astronaut)  # de-duplicated: still the one fit on its way
        before = session.calibration
        assert before.to_json() == shipped  # nothing waited for the fit

        deadline = time.monotonic() + 30.0  # the worker is spawned at the lowest priority
        while calibrator.worker_pid is None and time.monotonic() < deadline:
            render_block(session)  # the session goes on meanwhile
        pid = calibrator.worker_pid
        assert pid is not None and pid != os.getpid()
        assert os.getpriority(os.PRIO_PROCESS, pid) == 19

        assert calibrator.wait(key, FIT_TIMEOUT_SECS) == "ready", events
        assert cached_path(astronaut, tmp_path).is_file()
        assert session.calibration is before  # landed, but not mid-frame: at the next frame
        frames = render_block(session)
        assert len(frames) == session.block_frames
        own = session.calibration
        assert own is calibrator.landed(key) and own.readout is not None
        assert own.to_json() != shipped and not session.awaiting_calibration
        assert [e.status for e in events] == ["fitting", "ready"]
        print(f"\nsmall background fit: {events[-1].secs:.1f} s wall")

        # a later session (or a server restart) finds the table on disk: no second fit
        later = live_session(astronaut, student, calibrator)
        assert not later.awaiting_calibration
        assert later.calibration.to_json() == own.to_json()
    finally:
        calibrator.close()
        calibrator.close()  # safe twice


def test_a_portrait_with_a_table_on_disk_is_not_queued(tmp_path: Path,
                                                       astronaut: Portrait) -> None:
    """A table fitted earlier (say by `avatar-forcing calibrate`) is found by the key
    the request already computed: nothing is queued, nothing lands here."""
    key = portrait_key(astronaut)
    assert key_path(key, tmp_path) == cached_path(astronaut, tmp_path)
    key_path(key, tmp_path).write_text(
        (Path(__file__).resolve().parents[2] / "avatar" / "data"
         / "render_calibration.json").read_text())
    calibrator = PortraitCalibrator(tmp_path, recipe=SMALL)
    try:
        assert not calibrator.request(astronaut)
        assert not calibrator.request(astronaut)  # asked again: still nothing to wait for
        assert calibrator.landed(key) is None  # nothing fitted here; the renderer reads the file
    finally:
        calibrator.close()


def test_the_default_portrait_keeps_the_shipped_table(tmp_path: Path) -> None:
    calibrator = PortraitCalibrator(tmp_path, recipe=SMALL)
    try:
        default = Portrait.default(512)
        calibrator.request(default)
        assert calibrator.wait(portrait_key(default), 60.0) == "not needed"
        assert not calibrator.request(default)
        assert list(tmp_path.iterdir()) == []
    finally:
        calibrator.close()


def test_a_failing_fit_leaves_the_session_on_the_shipped_table(
        tmp_path: Path, astronaut: Portrait, student: GeneratorCheckpoint) -> None:
    shipped = load_calibration().to_json()
    events: list[CalibrationEvent] = []
    # no readout samples: the real fit refuses the recipe in the worker (ValueError)
    calibrator = PortraitCalibrator(tmp_path, recipe=FitRecipe(runs=()), on_event=events.append)
    try:
        session = live_session(astronaut, student, calibrator)
        key = portrait_key(astronaut)
        assert calibrator.wait(key, FIT_TIMEOUT_SECS) == "failed"
        failed = events[-1]
        assert failed.status == "failed" and "ValueError" in failed.detail, failed
        frames = render_block(session) + render_block(session)  # the session goes on
        assert len(frames) == 2 * session.block_frames
        assert session.calibration.to_json() == shipped and not session.awaiting_calibration
        assert not calibrator.request(astronaut)  # not retried in this server's life
        assert not cached_path(astronaut, tmp_path).exists()
    finally:
        calibrator.close()


def test_a_killed_worker_is_a_failed_fit_and_the_next_portrait_still_fits_in_turn(
        tmp_path: Path, astronaut: Portrait, student: GeneratorCheckpoint) -> None:
    events: list[CalibrationEvent] = []
    calibrator = PortraitCalibrator(tmp_path, recipe=SMALL, on_event=events.append)
    try:
        session = live_session(astronaut, student, calibrator)
        mirrored = Portrait.load(np.ascontiguousarray(astronaut.image[:, ::-1]), 512)
        assert calibrator.request(mirrored)  # queued behind the first: one worker at a time
        assert calibrator.status(portrait_key(mirrored)) == "queued"
        deadline = time.monotonic() + 30.0
        while calibrator.worker_pid is None and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = calibrator.worker_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # a crash (or the OOM killer) mid-fit
        assert calibrator.wait(portrait_key(astronaut), 30.0) == "failed"
        assert "exit code -9" in events[-1].detail, events
        render_block(session)
        assert session.calibration.to_json() == load_calibration().to_json()
        assert calibrator.status(portrait_key(mirrored)) in ("queued", "fitting")
        assert calibrator.worker_pid != pid
    finally:
        calibrator.close()  # ends the second fit
