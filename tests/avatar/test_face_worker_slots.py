"""Several sessions in one face worker process, with real processes on the real models.

A process with slots for several sessions holds the generator and the runtimes once
and answers each session on a channel of its own: these check that its sessions
draw what a session alone draws, that one session's failure leaves the others on
the same process, that a kill -9 moves every session of the process to a fresh one
within their next request, and that the process retires when its last session ends.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from avatar.generator.checkpoint import DEFAULT_CHECKPOINT
from avatar.live.face_pool import FaceWorkerPool, WorkerFace
from avatar.portrait import Portrait
from tests.avatar.test_face_worker import session_on, speak, wait_for_exit


@pytest.fixture(scope="module")
def portrait(default_portrait: Portrait) -> Portrait:
    return default_portrait


@pytest.fixture(scope="module")
def pool(portrait: Portrait) -> Iterator[FaceWorkerPool]:
    pool = FaceWorkerPool(DEFAULT_CHECKPOINT, warm=3, faces_per_worker=3, prime=portrait)
    assert pool.wait_warm(180), "the pool did not start a three-slot worker"
    yield pool
    pool.close()


def test_sessions_on_one_process_draw_what_a_session_alone_draws(
        pool: FaceWorkerPool, portrait: Portrait) -> None:
    alone = session_on(None, portrait)
    faces = [WorkerFace(pool) for _ in range(3)]
    sessions = [session_on(face, portrait) for face in faces]
    try:
        expected = speak(alone, 3)
        with ThreadPoolExecutor(3) as drawing:  # the three at once, as a server runs them
            results = list(drawing.map(lambda s: speak(s, 3), sessions))
        assert len({face.pid for face in faces}) == 1, "three slots, one process"
        assert faces[0].pid != os.getpid()
        for frames in results:
            for a, b in zip(expected, frames, strict=True):
                np.testing.assert_allclose(a.motion, b.motion, atol=1e-5)
                assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() < 1.0
    finally:
        alone.close()
        for session in sessions:
            session.close()


def test_a_failing_session_leaves_its_neighbours_on_the_process(
        pool: FaceWorkerPool, portrait: Portrait) -> None:
    hit_face, other_face = WorkerFace(pool), WorkerFace(pool)
    hit, other = session_on(hit_face, portrait), session_on(other_face, portrait)
    try:
        speak(hit, 1)
        speak(other, 1)
        shared = hit_face.pid
        assert shared is not None and other_face.pid == shared
        hit_face.inject_fault("raise")  # this slot's next drawing raises
        frames = speak(hit, 1)  # retried on a fresh slot
        assert len(frames) == 5 and hit_face.restarts == 1
        assert len(speak(other, 1)) == 5
        assert other_face.restarts == 0 and other_face.pid == shared
        os.kill(shared, 0)  # still running for its other session
    finally:
        hit.close()
        other.close()


def test_a_killed_process_moves_all_its_sessions(pool: FaceWorkerPool,
                                                 portrait: Portrait) -> None:
    faces = [WorkerFace(pool) for _ in range(2)]
    sessions = [session_on(face, portrait) for face in faces]
    try:
        for session in sessions:
            speak(session, 1)
        lost = faces[0].pid
        assert lost is not None and faces[1].pid == lost
        os.kill(lost, signal.SIGKILL)
        for face, session in zip(faces, sessions, strict=True):
            frames = speak(session, 1)
            assert len(frames) == 5 and len({f.image.tobytes() for f in frames}) > 1
            assert face.restarts == 1 and f"pid {lost}" in face.last_loss
            assert face.pid not in (None, lost)
        assert pool.counters.lost >= 1
    finally:
        for session in sessions:
            session.close()


def test_sessions_that_find_their_process_killed_at_once_all_move(portrait: Portrait) -> None:
    """Every session of a killed process kills it again and closes its channels, all at
    the same moment, while the others still read theirs: each channel is closed once,
    after its reader is done (a second close of a freed descriptor can hit a fresh
    worker's pipe), and every session moves, none fails."""
    pool = FaceWorkerPool(DEFAULT_CHECKPOINT, warm=3, faces_per_worker=3, prime=portrait)
    assert pool.wait_warm(180), "the pool did not start a three-slot worker"
    faces = [WorkerFace(pool) for _ in range(3)]
    sessions = [session_on(face, portrait) for face in faces]
    try:
        for session in sessions:
            speak(session, 1)
        lost = faces[0].pid
        assert lost is not None and {face.pid for face in faces} == {lost}
        process = faces[0].worker.owner
        os.kill(lost, signal.SIGKILL)
        with ThreadPoolExecutor(6) as at_once:
            spoken = [at_once.submit(speak, session, 1) for session in sessions]
            killed = [at_once.submit(process.kill) for _ in range(3)]
            for done in killed:
                done.result()
            for frames in spoken:
                assert len(frames.result()) == 5
        for face in faces:
            assert face.restarts == 1 and face.pid not in (None, lost)
    finally:
        for session in sessions:
            session.close()
        pool.close()


def test_a_process_retires_when_its_last_session_ends(portrait: Portrait) -> None:
    """Two slots, one session each before retirement: the process takes two sessions,
    then exits when the second ends, and the pool starts a fresh one."""
    pool = FaceWorkerPool(DEFAULT_CHECKPOINT, warm=1, faces_per_worker=2, prime=portrait)
    try:
        first, second = WorkerFace(pool), WorkerFace(pool)
        a, b = session_on(first, portrait), session_on(second, portrait)
        speak(a, 1)
        speak(b, 1)
        pid = first.pid
        assert pid is not None and second.pid == pid
        a.close()
        os.kill(pid, 0)  # its other session still draws
        assert len(speak(b, 1)) == 5
        b.close()
        wait_for_exit(pid)
        assert pool.wait_warm(120) and pid not in pool.worker_pids()
        assert pool.counters.retired == 1
    finally:
        pool.close()
