"""Two sessions that start apart step their generator blocks together.

A face worker drawing two sessions batches their generator steps only when they fall
due together (avatar/live/step_batcher.py). Visitors arrive at any time, so each
session's clock brings its block steps onto the worker's shared grid
(pipelines/face/face_clock.py): here the second session connects about a quarter of
a block after the first, and still most of the worker's steps run batched, while
both videos keep coming.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest

from avatar.generator.checkpoint import DEFAULT_CHECKPOINT
from avatar.live.face_pool import FaceWorkerPool, WorkerFace
from sdk.client import VoiceClient
from tests.pipelines.test_e2e_avatar import collect, latest_avatar_metrics, video_follows_audio

pytestmark = pytest.mark.e2e

SLOTS_BACK_SECS = 30.0


def slots_given_back(pool: FaceWorkerPool, sessions: int) -> bool:
    """Wait until the server has given `sessions` slots back to the pool (kept for
    later sessions); False after SLOTS_BACK_SECS."""
    deadline = time.monotonic() + SLOTS_BACK_SECS
    while pool.counters.recycled < sessions:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


async def test_sessions_that_start_apart_step_together(
        video_runtime: Any, avatar_assets: Any, start_server: Any) -> None:
    from pipelines.server.app import ServerConfig

    # one process, two slots, kept for later sessions: its batcher's counters stay
    pool = FaceWorkerPool(DEFAULT_CHECKPOINT, warm=2, faces_per_worker=2,
                          sessions_per_worker=2, prime=avatar_assets.portraits.get(),
                          batch_steps=True)
    assert pool.steps_batched
    try:
        assert await asyncio.to_thread(pool.wait_warm, 180)
        runtime = dataclasses.replace(
            video_runtime, avatar=dataclasses.replace(avatar_assets, faces=pool))
        server = start_server(runtime, ServerConfig(max_sessions=3, adapt_quality=False))

        async def session(delay: float) -> list[Any]:
            await asyncio.sleep(delay)
            async with await VoiceClient.connect(server.url, video_out={"size": 256},
                                                 busy_retry_secs=60) as client:
                return await collect(client, 6.0 - delay)

        got = await asyncio.gather(session(0.0), session(0.05))
        # the server hands both slots back after the clients have gone; a slot taken
        # before that would come from the warm spare process
        assert await asyncio.to_thread(slots_given_back, pool, 2), pool.counters
        # a free slot of the same process: its batcher's counters for both sessions
        face = WorkerFace(pool)
        pid = face.worker.pid
        counters = await asyncio.to_thread(face.worker.call, "step_batches")
        face.close()
    finally:
        await asyncio.to_thread(pool.close)
    pids = {latest_avatar_metrics(items)["face_pid"] for items in got}
    assert pids == {pid}, "two sessions, one worker process"
    for items in got:
        assert video_follows_audio(items)
    realigned = [latest_avatar_metrics(items)["grid_realigned"] for items in got]
    assert counters is not None and counters["steps"] >= 40, counters
    # unaligned, steps about 50 ms apart never meet within the batcher's 10 ms wait: no
    # batch at all. Aligned, a quiet machine batched most steps; a loaded CI run (the
    # suite's other jobs beside it) batched 20 of 62, its threads waking late
    assert counters["batches"] >= 5, (counters, realigned)
    assert counters["batched_steps"] >= 0.25 * counters["steps"], (counters, realigned)
    assert sum(realigned) >= 1, "neither clock had to come onto the grid"
