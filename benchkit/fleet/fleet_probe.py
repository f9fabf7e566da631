"""What bench/fleet/kiosk_fleet.py measures, one probe a function: a fleet's public door, a
machine's direct door, a killed machine, and the shared LLM under concurrent turns.

Every probe talks to real processes: the Ray cluster of `fleet.local_cluster`, the
kiosk machines it runs (the product's own server, fleet/kiosk_replica.py) and real v2
clients (sdk/). Times are on this process's monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from openai import AsyncOpenAI

from sdk.client import VoiceClient
from sdk.errors import HandshakeError
from sdk.items import BotVideo, Closed
from sdk.talk import talk


@dataclass(frozen=True)
class FleetDoor:
    """The public door of a running fleet."""

    base: str  # http://host:port

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/ws"

    def status(self) -> dict[str, Any]:
        """GET /fleet."""
        with urllib.request.urlopen(f"{self.base}/fleet", timeout=10) as response:
            return dict(json.loads(response.read()))

    def node_of_new_session(self, before: dict[str, int]) -> str:
        """The machine whose session count rose since `before`."""
        now = {m["node_id"]: m["sessions"] for m in self.status()["machines"]}
        return next(node for node, count in now.items() if count > before.get(node, 0))

    def sessions(self) -> dict[str, int]:
        return {m["node_id"]: m["sessions"] for m in self.status()["machines"]}

    def direct_url(self, node: str) -> str:
        return next(m["direct_url"] for m in self.status()["machines"]
                    if m["node_id"] == node) + "/ws"

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Until no session is live (ended sessions take a moment to release)."""
        deadline = time.monotonic() + timeout
        while self.status()["totals"]["sessions"] and time.monotonic() < deadline:
            time.sleep(0.5)


async def open_session(url: str, size: int = 256, retry: float = 0.0) -> tuple[VoiceClient, float]:
    """A video session and the seconds from connect to its first face frame."""
    started = time.monotonic()
    client = await VoiceClient.connect(url, video_out={"size": size}, busy_retry_secs=retry,
                                       open_timeout=30.0)
    async for item in client.receive():
        if isinstance(item, BotVideo):
            return client, time.monotonic() - started
        if isinstance(item, Closed):
            raise RuntimeError(f"closed before the first frame: {item}")
    raise RuntimeError("no frame")


async def frame_intervals(client: VoiceClient, seconds: float) -> list[float]:
    """Arrival gaps (ms) between the video frames of `seconds` of an idle session."""
    arrivals: list[float] = []

    async def read() -> None:
        async for item in client.receive():
            if isinstance(item, BotVideo):
                arrivals.append(item.received_at)
            elif isinstance(item, Closed):
                return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(read(), timeout=seconds)
    return [1000 * (b - a) for a, b in zip(arrivals, arrivals[1:], strict=False)]


async def paired_turn(door: FleetDoor, pcm: bytes, proxy_first: bool
                      ) -> tuple[float | None, float | None, str]:
    """The same question through the public door and direct to the machine the door
    chose (fresh video sessions, one at a time, order alternated by the caller):
    (proxy ms, direct ms, node)."""
    node = ""
    times: dict[str, float | None] = {}
    for path in (("proxy", "direct") if proxy_first else ("direct", "proxy")):
        door.wait_idle()
        if path == "direct" and not node:  # the door has not chosen yet: ask it first
            node = await _door_choice(door)
        url = door.ws_url if path == "proxy" else door.direct_url(node)
        client, _ = await open_session(url, retry=60.0)
        if path == "proxy":
            chosen = next(n for n, count in door.sessions().items() if count)
            if node and chosen != node:  # the door chose another machine this time
                await client.close()
                return None, None, node
            node = chosen
        async with client:
            result = await talk(client, pcm, timeout_secs=120)
        times[path] = result.voice_to_voice_ms if result.completed else None
    door.wait_idle()
    return times["proxy"], times["direct"], node


async def _door_choice(door: FleetDoor) -> str:
    """The machine the public door would give the next visitor (most free slots)."""
    machines = [m for m in door.status()["machines"] if m["free"] > 0]
    return str(max(machines, key=lambda m: m["free"])["node_id"])


async def fill(url: str, limit: int) -> tuple[list[VoiceClient], list[float], HandshakeError | None]:
    """Open sessions until the fleet refuses one (or `limit`); returns them, their
    connect-to-first-frame seconds and the refusal."""
    clients: list[VoiceClient] = []
    first_frames: list[float] = []
    for _ in range(limit):
        try:
            client, secs = await open_session(url)
        except HandshakeError as refusal:
            return clients, first_frames, refusal
        clients.append(client)
        first_frames.append(secs)
    return clients, first_frames, None


async def reconnect_after_kill(door: FleetDoor, client: VoiceClient, kill: Any) -> dict[str, Any]:
    """Kill the client's machine (`kill()`); time the close, then a new session
    through the door to its first frame, as the browser SDK's reconnect does."""
    killed_at = time.monotonic()
    kill()
    closed_at = None
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            async for item in client.receive():
                if isinstance(item, Closed):
                    closed_at = time.monotonic()
                    break
    fresh, _ = await open_session(door.ws_url, retry=30.0)
    reconnected_at = time.monotonic()
    await fresh.close()
    return {"close_after_kill_secs": None if closed_at is None else round(closed_at - killed_at, 2),
            "first_frame_after_kill_secs": round(reconnected_at - killed_at, 2)}


async def llm_first_tokens(base_url: str, model: str, system: str, question: str,
                           concurrent: int) -> list[float]:
    """First-token times (ms) of `concurrent` chat requests sent at once to one replica."""
    client = AsyncOpenAI(base_url=base_url, api_key="sk-no-key-required", timeout=120,
                         max_retries=0)

    async def one() -> float:
        started = time.monotonic()
        stream = await client.chat.completions.create(
            model=model, stream=True, max_tokens=32, temperature=0.2,
            messages=[{"role": "system", "content": system},
                      {"role": "user", "content": question}])
        first = None
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.monotonic()
        return 1000 * ((first or time.monotonic()) - started)

    try:
        return list(await asyncio.gather(*(one() for _ in range(concurrent))))
    finally:
        await client.close()
