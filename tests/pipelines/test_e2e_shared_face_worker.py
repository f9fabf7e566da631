"""Two faces in one face worker process, through the server and the SDK.

With `faces_per_worker=2` two video sessions are drawn by one worker process (they
report the same face pid); a kill -9 of that process gives each of them one
non-fatal `avatar_restarted` event and a fresh worker, and both videos go on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
from typing import Any

import pytest

from avatar.generator.checkpoint import DEFAULT_CHECKPOINT
from avatar.live.face_pool import FaceWorkerPool
from sdk.client import VoiceClient
from tests.pipelines.test_e2e_avatar import (
    assert_moved_to_a_fresh_worker,
    collect,
    collect_past_restart,
    latest_avatar_metrics,
)

pytestmark = pytest.mark.e2e


async def test_two_sessions_share_a_worker_and_a_kill_moves_both(
        video_runtime: Any, avatar_assets: Any, start_server: Any) -> None:
    from pipelines.server.app import ServerConfig

    pool = FaceWorkerPool(DEFAULT_CHECKPOINT, warm=2, faces_per_worker=2,
                          prime=avatar_assets.portraits.get())
    try:
        assert await asyncio.to_thread(pool.wait_warm, 180)
        runtime = dataclasses.replace(
            video_runtime, avatar=dataclasses.replace(avatar_assets, faces=pool))
        server = start_server(runtime, ServerConfig(max_sessions=3, adapt_quality=False))
        async with await VoiceClient.connect(server.url, video_out={"size": 256},
                                             busy_retry_secs=60) as a, \
                await VoiceClient.connect(server.url, video_out={"size": 256},
                                          busy_retry_secs=60) as b:
            before = await asyncio.gather(collect(a, 3.0), collect(b, 3.0))
            pids = [latest_avatar_metrics(got)["face_pid"] for got in before]
            assert pids[0] and pids[0] == pids[1], "two sessions, one worker process"
            os.kill(pids[0], signal.SIGKILL)
            after = await asyncio.gather(collect_past_restart(a), collect_past_restart(b))
    finally:
        await asyncio.to_thread(pool.close)
    for got in after:
        assert_moved_to_a_fresh_worker(got, pids[0])
