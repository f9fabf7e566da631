"""The head's death must not stall a kiosk machine: its GCS lookups run off the loop.

Measured in bench/fleet/fleet_head.py (docs/FLEET.md, "The head"): with the head killed,
Ray's GCS lookups (`list_named_actors`, `get_actor`, the drain state) block their
thread up to a minute; on a kiosk machine's event loop that froze every live
session's face. `fleet.machines.gcs_call` runs them in a thread of their own and
gives up in time, while the loop goes on.

End to end (a real loopback cluster, the head killed with SIGKILL): the kiosk
machine's live session keeps its face, its `/session` offers the machine itself
when the GCS does not answer, and a new visitor gets a conversation there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleet import loopback
from fleet.local_cluster import local_fleet
from fleet.machines import gcs_call
from fleet.settings import FleetSettings
from sdk.connection import VoiceConnection
from sdk.errors import ClientError
from sdk.handshake import session_url
from sdk.items import BotVideo


async def test_a_blocked_gcs_call_neither_stalls_the_loop_nor_waits_forever() -> None:
    release = threading.Event()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    def blocked() -> None:  # a GCS lookup while the GCS is down
        release.wait(60)
        returned.set()

    returned = threading.Event()
    ticker = asyncio.create_task(tick())
    try:
        with pytest.raises(TimeoutError):
            await gcs_call(blocked, within=0.5)
        assert not returned.is_set()  # given up while the lookup still hangs
        assert ticks > 1  # the loop ran meanwhile
        # a later call queues behind the blocked one and is given up too
        with pytest.raises(TimeoutError):
            await gcs_call(lambda: "late", within=0.2)
    finally:
        release.set()
        ticker.cancel()
    assert await gcs_call(lambda: "answered", within=5) == "answered"


async def test_what_the_call_raised_reaches_the_caller() -> None:
    def refuse() -> None:
        raise ConnectionError("GCS unreachable")

    with pytest.raises(ConnectionError, match="GCS unreachable"):
        await gcs_call(refuse)


# ------------------------------------------------------------------ the head killed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((loopback.LOOPBACK, 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def one_kiosk_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    """A head (GCS, Serve's controller and proxy, the LLM replica) and one kiosk node."""
    from fleet.launch import start_fleet
    from pipelines.settings import Settings

    temp_dir = Path("/tmp") / f"rfhead-{tmp_path_factory.getbasetemp().name}"
    port = _free_port()
    try:
        with local_fleet(workers=1, temp_dir=str(temp_dir)) as cluster:
            settings = Settings.load(llm={"embedded_model": "smollm2"},
                                     avatar={"calibrate_portraits": False})
            start_fleet(FleetSettings(port=port, kiosk_machines=1, llm_replicas=1), settings)
            yield cluster, f"http://{loopback.LOOPBACK}:{port}"
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


def _fleet_status(door: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{door}/fleet", timeout=10) as response:
        return dict(json.loads(response.read()))


def _frozen_spans(arrivals: list[float], start: float, end: float, seconds: float = 3.0
                  ) -> list[tuple[float, float]]:
    """Spans of `seconds` or more between `start` and `end` with no frame (a frozen face)."""
    marks = [start, *[t for t in arrivals if start <= t <= end], end]
    return [(a, b) for a, b in zip(marks, marks[1:], strict=False) if b - a >= seconds]


@pytest.mark.e2e
async def test_a_dead_head_leaves_the_kiosk_machines_serving(
        one_kiosk_fleet: tuple[Any, str]) -> None:
    import ray

    cluster, door = one_kiosk_fleet
    direct = (await asyncio.to_thread(_fleet_status, door))["machines"][0]["direct_url"]
    live = await VoiceConnection.connect(door, video_out={"size": 256}, open_timeout=30)
    arrivals: list[float] = []
    face_on = asyncio.Event()

    async def watch() -> None:
        async for item in live.receive():
            if isinstance(item, BotVideo):
                arrivals.append(time.monotonic())
                if len(arrivals) >= 5:
                    face_on.set()

    watcher = asyncio.create_task(watch())
    try:
        await asyncio.wait_for(face_on.wait(), 60)
        # a driver whose GCS is gone for good exits its process: this one leaves first
        ray.shutdown()
        killed_at = time.monotonic()
        cluster.cluster.head_node.kill_all_processes(check_alive=False, allow_graceful=False,
                                                     wait=True)

        # the public door died with the head
        with pytest.raises(ClientError):
            await session_url(door, 5.0)
        # the kiosk machine's /session cannot reach the GCS: it offers itself
        assert await session_url(direct.replace("ws://", "http://"), 30.0) == f"{direct}/ws"
        # ... and a new visitor gets a conversation there
        async with await VoiceConnection.connect(f"{direct}/ws", open_timeout=30) as newcomer:
            assert newcomer.welcome.session_id
        await asyncio.sleep(max(0.0, killed_at + 15.0 - time.monotonic()))
        # the live session's face went on all the while (it froze before the fix:
        # the machine's loop waited on the dead GCS)
        assert not watcher.done()
        assert _frozen_spans(arrivals, killed_at, time.monotonic()) == [], \
            f"{len([t for t in arrivals if t >= killed_at])} frames after the kill"
    finally:
        watcher.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(live.close(), 5)
