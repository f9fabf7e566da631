"""What bench/fleet/fleet_head.py needs: a Redis for Ray's GCS, the head killed and
restarted, and live sessions watched while it happens.

Everything is real: `redis-server` (Debian package) on loopback, the head node of a
`fleet.local_cluster` killed with SIGKILL (the GCS, the head's raylet, and with it
Serve's controller, the public door's proxy and the LLM replica that live there),
and v2 clients on the kiosk machines' direct doors. Times are seconds on this
process's monotonic clock, from the kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sdk.connection import VoiceConnection
from sdk.errors import ClientError, HandshakeError
from sdk.handshake import session_url
from sdk.items import BotVideo, Closed

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A loopback port the OS says is free now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def redis_server(folder: str) -> Iterator[str]:
    """`redis-server` on a free loopback port, nothing saved to disk; yields host:port.

    Raises:
        FileNotFoundError: the Debian package `redis-server` is not installed.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
         "--dir", folder], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), 0.5):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"redis-server did not listen on {port}")
            time.sleep(0.1)
        yield f"{LOOPBACK}:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def kill_head(cluster: Any) -> None:
    """SIGKILL every process of the head node (GCS, raylet, and the workers they own),
    reaped: the machine dies."""
    cluster.cluster.head_node.kill_all_processes(check_alive=False, allow_graceful=False,
                                                 wait=True)


def restart_head(cluster: Any, head_args: dict[str, Any]) -> Any:
    """A new head on the same GCS port (the old one is dead): with Redis behind the GCS
    it reloads the cluster's tables, and the worker nodes' raylets reconnect to it."""
    cluster.cluster.head_node = None
    return cluster.cluster.add_node(wait=False, **head_args)


@dataclass
class Watched:
    """One live session and what it saw: frame arrival times, its close."""

    name: str
    connection: VoiceConnection
    frames: list[float] = field(default_factory=list)
    #: each frame's pts (µs, the server's media clock), beside its arrival in `frames`
    pts_us: list[int] = field(default_factory=list)
    closed_at: float | None = None
    close: str | None = None

    async def run(self) -> None:
        """Read until the server closes (or the task is cancelled)."""
        async for item in self.connection.receive():
            if isinstance(item, BotVideo):
                self.frames.append(item.received_at)
                self.pts_us.append(item.pts_us)
            elif isinstance(item, Closed):
                self.closed_at = time.monotonic()
                self.close = f"{item.code} {item.reason}"[:120]
                return

    def summary(self, killed_at: float) -> dict[str, Any]:
        """Frames before/after the kill, the last frame and the close, from the kill."""
        after = [t - killed_at for t in self.frames if t >= killed_at]
        gaps = [(b - a, i) for i, (a, b) in enumerate(zip(self.frames, self.frames[1:],
                                                          strict=False)) if b >= killed_at]
        gap, i = max(gaps) if gaps else (None, 0)
        return {
            "frames_after_kill": len(after),
            "last_frame_secs": round(after[-1], 2) if after else None,
            "largest_gap_after_kill_secs": None if gap is None else round(gap, 2),
            # where it began, and how far the server's media clock moved across it:
            # about the gap when the server paused its sessions (its frames carry on
            # from where it resumed), about 0.04 s when this client was the one held
            # up (the frames were waiting in its socket)
            "largest_gap_began_secs": None if gap is None else round(self.frames[i] - killed_at, 2),
            "largest_gap_pts_secs": None if gap is None
            else round((self.pts_us[i + 1] - self.pts_us[i]) / 1e6, 2),
            # frames that came within 0.2 s after it: a burst is a backlog let go at once
            "frames_in_200ms_after_gap": 0 if gap is None
            else sum(1 for t in self.frames[i + 1:] if t - self.frames[i + 1] <= 0.2),
            "closed_secs": None if self.closed_at is None else round(self.closed_at - killed_at, 2),
            "close": self.close,
        }


async def open_watched(door: str, name: str) -> Watched:
    """A 256 px video session the way a kiosk opens one: `/session` at the door, then
    the machine's direct door; watched in the background."""
    connection = await VoiceConnection.connect(door, video_out={"size": 256}, open_timeout=30,
                                               busy_retry_secs=30)
    watched = Watched(name, connection)
    return watched


def get_json(url: str, timeout: float = 3.0) -> dict[str, Any]:
    """GET a JSON document."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return dict(json.loads(response.read()))


async def probe_public_door(door: str) -> str:
    """What a new visitor at the public door gets: "ok <ws url>" or the failure."""
    try:
        return f"ok {await session_url(door, 3.0)}"
    except HandshakeError as error:
        return f"refused {error.code}"
    except ClientError as error:
        return f"error {str(error)[-80:]}"


async def probe_direct_door(url: str) -> str:
    """What a new voice session straight at a known direct door gets."""
    try:
        connection = await VoiceConnection.connect(url, open_timeout=5)
    except HandshakeError as error:
        return f"refused {error.code}"
    except (ClientError, OSError) as error:
        return f"error {str(error)[-80:]}"
    await connection.close()
    return "welcome"


def alive(node: Any) -> bool:
    """The node's raylet process is running."""
    from ray._private import ray_constants

    processes = node.all_processes.get(ray_constants.PROCESS_TYPE_RAYLET, [])
    return bool(processes) and processes[0].process.poll() is None


async def timeline(door: str, direct_urls: list[str], workers: list[Any], killed_at: float,
                   seconds: float, every: float = 3.0) -> list[dict[str, Any]]:
    """Every `every` s for `seconds`: the public door, each direct door, each worker's raylet."""
    rows = []
    end = killed_at + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        row = {"t": round(started - killed_at, 1),
               "public_door": await probe_public_door(door),
               "direct_doors": [await probe_direct_door(url) for url in direct_urls],
               "worker_raylets_alive": [alive(node) for node in workers]}
        rows.append(row)
        await asyncio.sleep(max(0.0, every - (time.monotonic() - started)))
    return rows


def changes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the rows where something changed (the timeline's story)."""
    kept: list[dict[str, Any]] = []
    for row in rows:
        state = {k: v for k, v in row.items() if k != "t"}
        if not kept or state != {k: v for k, v in kept[-1].items() if k != "t"}:
            kept.append(row)
    return kept
