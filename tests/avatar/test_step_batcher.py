"""Several sessions' generator blocks in one batched pass (issue 57), on the real checkpoints.

`streaming.step_windows` denoises the blocks of several engines stacked on the
batch dimension, and a face worker's `StepBatcher` gathers the steps of its
sessions that fall due together. These check, with real engines, real threads
and a real worker process, that each session gets the motion it gets stepped
alone, that a request that raises fails only its own session, and that a lone
session (or a one-session worker) takes today's direct path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from avatar.audio_features import FEATURE_DIM
from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, GeneratorCheckpoint, load_generator
from avatar.generator.soak import user_motion
from avatar.generator.streaming import StreamingGenerator, Window, step_windows
from avatar.live.face_pool import FaceWorkerPool, WorkerFace
from avatar.live.step_batcher import STEP_GRID_SECS, StepBatcher
from avatar.motion import neutral_frame
from avatar.portrait import Portrait

#: batched and lone blocks differ by float rounding of wider matrix products only
ATOL = 1e-4
SESSIONS = 3
#: blocks stepped: the 45-frame cache fills after 9, so the later ones batch too
BLOCKS = 14


@pytest.fixture(scope="module")
def student() -> GeneratorCheckpoint:
    return load_generator(DEFAULT_CHECKPOINT)


def engines(ckpt: GeneratorCheckpoint, count: int = SESSIONS, nfe: int | None = None
            ) -> list[StreamingGenerator]:
    """`count` engines, each with its own seed and a portrait turned its own way."""
    out = []
    for index in range(count):
        reference = neutral_frame().copy()
        reference[0] += 4.0 * index
        engine = StreamingGenerator.from_loaded(ckpt, reference, seed=10 + index)
        if nfe is not None:
            engine.nfe = nfe
        out.append(engine)
    return out


def windows(blocks: int, count: int = SESSIONS, frames: int = 7) -> list[list[Window]]:
    """[block][session] windows: speech-like audio, a listener's motion, and the
    camera losing the face at times, different for every session."""
    rng = np.random.default_rng(5)
    motion = user_motion(blocks * 5 + frames + count * 11)
    out = []
    for block in range(blocks):
        row = []
        for index in range(count):
            s = block * 5 + index * 11
            row.append(Window(
                rng.normal(0.0, 1.0, (frames, FEATURE_DIM)).astype(np.float32),
                rng.normal(0.0, 1.0, (frames, FEATURE_DIM)).astype(np.float32),
                motion[s:s + frames], rng.random(frames) > 0.2))
        out.append(row)
    return out


def stepped_alone(engines_: list[StreamingGenerator], plan: list[list[Window]]
                  ) -> list[list[np.ndarray | Exception]]:
    """[block][session] results of today's path: each engine's own `step_window`."""
    out: list[list[np.ndarray | Exception]] = []
    for row in plan:
        results: list[np.ndarray | Exception] = []
        for engine, w in zip(engines_, row, strict=True):
            try:
                results.append(engine.step_window(w.avatar_audio, w.user_audio,
                                                  w.user_motion, w.user_present))
            except ValueError as error:
                results.append(error)
        out.append(results)
    return out


def assert_same_motion(got: np.ndarray | Exception, expected: np.ndarray | Exception) -> None:
    assert isinstance(got, np.ndarray) and isinstance(expected, np.ndarray), (got, expected)
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("shipped", ["student", "teacher"])
def test_batched_blocks_equal_each_engine_stepped_alone(student: GeneratorCheckpoint,
                                                         shipped: str) -> None:
    """The 1-NFE student as live sessions run it, and the guided teacher (three
    branch rows a session, branch-major in the batch) at 2 NFE."""
    ckpt = student if shipped == "student" else load_generator(
        DEFAULT_CHECKPOINT.parent / "generator.safetensors")
    nfe = None if shipped == "student" else 2
    plan = windows(BLOCKS)
    expected = stepped_alone(engines(ckpt, nfe=nfe), plan)
    batched = engines(ckpt, nfe=nfe)
    for row, want in zip(plan, expected, strict=True):
        for got, ref in zip(step_windows(batched, row), want, strict=True):
            assert_same_motion(got, ref)
    assert all(e.frames_out == BLOCKS * e.block_frames for e in batched)
    assert len(batched[0].cache) == batched[0].cfg.cache_frames  # past the warm-up


def test_a_bad_window_fails_only_its_own_engine(student: GeneratorCheckpoint) -> None:
    plan = windows(BLOCKS)
    broken = plan[BLOCKS - 3][1]
    plan[BLOCKS - 3][1] = Window(np.full_like(broken.avatar_audio, np.nan), broken.user_audio,
                                 broken.user_motion, broken.user_present)
    expected = stepped_alone(engines(student), plan)
    batched = engines(student)
    for block, (row, want) in enumerate(zip(plan, expected, strict=True)):
        results = step_windows(batched, row)
        for session, (got, ref) in enumerate(zip(results, want, strict=True)):
            if (block, session) == (BLOCKS - 3, 1):
                assert isinstance(got, ValueError) and "NaN" in str(got)
            else:  # the others, and the failed one's later blocks, go on as alone
                assert_same_motion(got, ref)


def paced_threads(count: int, blocks: int, step: Callable[[int, int], None],
                  tick_secs: float = STEP_GRID_SECS) -> None:
    """`step(session, block)` in a thread per session, block k at k * tick_secs on a
    shared clock (sessions whose block clocks are in phase, as one worker's are). The
    tick is the product's own step grid: on a busy shared machine a shorter one lets
    a step run past the next tick, and late threads then step one after another
    (CI saw 59 of 60 steps alone at a 40 ms tick)."""
    start = time.monotonic() + 0.05
    errors: list[BaseException] = []

    def run(session: int) -> None:
        try:
            for block in range(blocks):
                time.sleep(max(0.0, start + block * tick_secs - time.monotonic()))
                step(session, block)
        except BaseException as error:  # the test thread reports it
            errors.append(error)

    threads = [threading.Thread(target=run, args=(s,)) for s in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60.0)
    assert not errors, errors


def test_steps_due_together_are_batched_and_each_gets_its_own_motion(
        student: GeneratorCheckpoint) -> None:
    """Three session threads stepping in phase through one batcher (a wide window:
    the test machine is shared, its threads wake late)."""
    plan = windows(BLOCKS + 6)
    expected = stepped_alone(engines(student), plan)
    batcher = StepBatcher(window_secs=0.03)
    mine = engines(student)
    got: dict[tuple[int, int], np.ndarray] = {}

    def step(session: int, block: int) -> None:
        w = plan[block][session]
        got[block, session] = batcher.step(mine[session], mine[session], w)

    paced_threads(SESSIONS, len(plan), step)
    for (block, session), motion in got.items():
        assert_same_motion(motion, expected[block][session])
    counts = batcher.counters
    assert counts.steps == SESSIONS * len(plan)
    assert counts.batches >= 3 and counts.batched_steps >= 2 * counts.batches


def test_a_failing_request_fails_only_its_own_session(student: GeneratorCheckpoint) -> None:
    plan = windows(BLOCKS + 6)
    bad = plan[BLOCKS][2]
    plan[BLOCKS][2] = Window(bad.avatar_audio, bad.user_audio,
                             np.full_like(bad.user_motion, np.inf), bad.user_present)
    expected = stepped_alone(engines(student), plan)
    batcher = StepBatcher(window_secs=0.03)
    mine = engines(student)
    got: dict[tuple[int, int], np.ndarray | Exception] = {}

    def step(session: int, block: int) -> None:
        try:
            got[block, session] = batcher.step(mine[session], mine[session],
                                               plan[block][session])
        except ValueError as error:
            got[block, session] = error

    paced_threads(SESSIONS, len(plan), step)
    failed = got.pop((BLOCKS, 2))
    assert isinstance(failed, ValueError) and "NaN or inf" in str(failed)
    for (block, session), motion in got.items():
        assert_same_motion(motion, expected[block][session])
    assert batcher.counters.batches >= 3


def test_a_lone_session_steps_at_once_on_the_direct_path(student: GeneratorCheckpoint) -> None:
    """One member: every step runs at once in its own thread, no window waited."""
    plan = windows(BLOCKS, count=1)
    (alone,) = engines(student, 1)
    (member,) = engines(student, 1)
    batcher = StepBatcher(window_secs=1.0)  # a wait would show in the time taken
    started = time.monotonic()
    for row in plan:
        w = row[0]
        want = alone.step_window(w.avatar_audio, w.user_audio, w.user_motion, w.user_present)
        np.testing.assert_array_equal(batcher.step(member, member, w), want)  # bit for bit
    assert time.monotonic() - started < 0.5 * len(plan)
    assert batcher.counters.alone == batcher.counters.steps == len(plan)
    assert batcher.counters.batches == 0 and batcher.counters.waited_alone == 0


# ------------------------------------------------------------ in a worker process
@pytest.fixture(scope="module")
def portrait(default_portrait: Portrait) -> Portrait:
    return default_portrait


@pytest.fixture(scope="module")
def batched_pool(portrait: Portrait) -> Iterator[FaceWorkerPool]:
    pool = FaceWorkerPool(DEFAULT_CHECKPOINT, warm=SESSIONS, faces_per_worker=SESSIONS,
                          prime=portrait, batch_steps=True)
    assert pool.wait_warm(180), "the pool did not start a three-slot worker"
    yield pool
    pool.close()


def test_sessions_of_a_batching_worker_get_the_motion_they_get_alone(
        batched_pool: FaceWorkerPool, portrait: Portrait, student: GeneratorCheckpoint) -> None:
    plan = windows(BLOCKS + 6)
    faces = [WorkerFace(batched_pool) for _ in range(SESSIONS)]
    alone = [StreamingGenerator.from_loaded(student, portrait.reference_motion, seed=20 + s)
             for s in range(SESSIONS)]
    try:
        for index, face in enumerate(faces):
            face.start(portrait, 256, None, 20 + index)
        assert len({face.pid for face in faces}) == 1, "three slots, one process"
        expected = stepped_alone(alone, plan)
        before = faces[0].worker.call("step_batches")
        got: dict[tuple[int, int], np.ndarray] = {}

        def step(session: int, block: int) -> None:
            w = plan[block][session]
            assert w.user_present is not None
            got[block, session] = faces[session].step(w.avatar_audio, w.user_audio,
                                                      w.user_motion, w.user_present)

        paced_threads(SESSIONS, len(plan), step)
        for (block, session), motion in got.items():
            assert_same_motion(motion, expected[block][session])
        after = faces[0].worker.call("step_batches")
        counts = {key: after[key] - before[key] for key in after}
        assert counts["steps"] == SESSIONS * len(plan)
        assert counts["alone"] + counts["batched_steps"] + counts["waited_alone"] == counts["steps"]
        assert counts["batches"] >= 1, counts
    finally:
        for face in faces:
            face.close()


def test_a_one_session_worker_has_no_batcher(portrait: Portrait) -> None:
    pool = FaceWorkerPool(DEFAULT_CHECKPOINT, warm=1, faces_per_worker=1, batch_steps=True)
    try:
        assert pool.wait_warm(180)
        face = WorkerFace(pool)
        face.start(portrait, 256, None, 0)
        assert face.worker.call("step_batches") is None  # today's direct step
        n = 7
        motion = face.step(np.zeros((n, FEATURE_DIM), np.float32),
                           np.zeros((n, FEATURE_DIM), np.float32),
                           np.tile(portrait.reference_motion, (n, 1)).astype(np.float32),
                           np.ones(n, bool))
        assert motion.shape == (5, portrait.reference_motion.shape[0])
        face.close()
    finally:
        pool.close()
