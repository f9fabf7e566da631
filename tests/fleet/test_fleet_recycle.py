"""A kiosk machine past its memory ceiling restarts gracefully (issue 47's safety net).

A real one-machine fleet on loopback (the head with the LLM pool on SmolLM2, one
kiosk node) deployed with `[fleet] recycle_above_mb` far below what any replica
holds. A fresh replica serves anyway (a restart would give the same process); once
its first conversation has ended it must say so in `/fleet`, refuse a newcomer on its own door with 1013 and the reason, and, holding
no conversation, fail its health check so that Serve starts a fresh replica. The
part that waits for live conversations is the same decision, checked on real
readings in tests/fleet/test_fleet_units.py.

In `make test-release` with the fleet's other drills that start a cluster of their own.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from fleet import loopback
from fleet.local_cluster import local_fleet
from fleet.settings import FleetSettings
from sdk.client import VoiceClient
from sdk.errors import HandshakeError

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((loopback.LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _machines(base: str) -> list[dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{base}/fleet", timeout=10) as response:
            return list(json.loads(response.read())["machines"])
    except OSError:
        return []  # Serve is between replicas


async def _until(base: str, check: Any, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for machine in _machines(base):
            if check(machine):
                return machine
        await asyncio.sleep(0.5)
    raise AssertionError(f"/fleet never showed it within {within:g} s: {_machines(base)}")


async def test_a_machine_over_its_memory_ceiling_refuses_newcomers_and_is_replaced(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from fleet.launch import start_fleet
    from pipelines.settings import Settings

    temp_dir = Path("/tmp") / f"rfrecycle-{tmp_path_factory.getbasetemp().name}"
    port = _free_port()
    base = f"http://{loopback.LOOPBACK}:{port}"
    try:
        with local_fleet(workers=1, temp_dir=str(temp_dir)):
            settings = Settings.load(llm={"embedded_model": "smollm2"},
                                     avatar={"calibrate_portraits": False})
            start_fleet(FleetSettings(port=port, kiosk_machines=1, llm_replicas=1,
                                      max_sessions_per_machine=1, retry_after_secs=3.0,
                                      recycle_above_mb=1.0), settings)
            # fresh, it serves (a restart would give the same process): one conversation
            machine = await _until(base, lambda m: m["memory_mb"] is not None, within=120.0)
            assert not machine["recycling"] and machine["memory_mb"] > 1.0
            client = await VoiceClient.connect(machine["direct_url"] + "/ws",
                                               open_timeout=30.0)
            await client.close()
            # once it has ended, the machine is over its ceiling and recycles
            first = await _until(base, lambda m: m["recycling"], within=60.0)
            assert first["free"] == 0 and first["memory_mb"] > 1.0
            with pytest.raises(HandshakeError) as refused:
                await VoiceClient.connect(first["direct_url"] + "/ws", open_timeout=30.0)
            assert "restarting to give back memory" in str(refused.value)
            # nobody is in a conversation: Serve replaces the replica with a fresh one
            await _until(base, lambda m: m["uptime_secs"] < first["uptime_secs"]
                         or m["direct_url"] != first["direct_url"], within=240.0)
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
