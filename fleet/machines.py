"""The fleet's kiosk machines as Ray sees them, and which one a new visitor gets.

Everything here reads what Serve's own router reads: each kiosk replica's routing
stats (`KioskReplica.record_routing_stats`), asked of the replica actors Serve runs
and finds by the names it gives them. No registry of ours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import ray

#: the Serve application and deployment names of the kiosk machines
KIOSK_APP = "kiosk"
KIOSK_DEPLOYMENT = "KioskReplica"
#: Serve names each replica actor `SERVE_REPLICA::<app>#<deployment>#<id>`
KIOSK_ACTOR_PREFIX = f"SERVE_REPLICA::{KIOSK_APP}#{KIOSK_DEPLOYMENT}#"
STATS_TIMEOUT_SECS = 3.0
#: a machine that does not give its stats this fast is left out of `/session`'s
#: choice: a frozen one (its network cut) never answers, and a client that lost its
#: session there waits on this before it is sent elsewhere (docs/FLEET.md)
ASK_TIMEOUT_SECS = 1.5

#: Ray's GCS lookups block their thread, up to a minute while the GCS is down (the
#: head died: docs/FLEET.md); on a kiosk machine's event loop that froze
#: every live session's face. One thread of their own: a dead GCS holds it alone.
_GCS_CALLS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleet-gcs")
_T = TypeVar("_T")


async def gcs_call(call: Callable[[], _T], within: float = STATS_TIMEOUT_SECS) -> _T:
    """`call()` (a blocking GCS lookup) off the event loop, given up after `within` s.

    Raises:
        TimeoutError: the GCS did not answer in time (the call goes on in its thread).
        Exception: whatever the call raised.
    """
    loop = asyncio.get_running_loop()
    return await asyncio.wait_for(loop.run_in_executor(_GCS_CALLS, call), within)


async def machine_statuses() -> list[dict[str, Any]]:
    """Every live kiosk replica's status (a replica that does not answer is left out;
    none when the GCS does not answer)."""
    try:
        actors = await gcs_call(lambda: ray.util.list_named_actors(all_namespaces=True))
    except Exception:  # the GCS is down or slow: no machine can be found now
        return []
    names = [actor["name"] for actor in actors
             if actor.get("namespace") == "serve"
             and str(actor.get("name", "")).startswith(KIOSK_ACTOR_PREFIX)]

    async def ask(name: str) -> dict[str, Any] | None:
        try:
            actor = await gcs_call(lambda: ray.get_actor(name, namespace="serve"))
            return await asyncio.wait_for(actor.record_routing_stats.remote(), ASK_TIMEOUT_SECS)
        except Exception:  # dead, starting or stopping: not a machine to use
            return None

    answers = await asyncio.gather(*(ask(name) for name in names))
    return sorted((a for a in answers if a and a.get("node_id")), key=lambda a: a["node_id"])


def summarize(machines: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over the machines (what a dashboard shows first)."""
    return {"machines": len(machines),
            "sessions": sum(m["sessions"] for m in machines),
            "free": sum(m["free"] for m in machines),
            "draining": sum(1 for m in machines if m["draining"]),
            "video_fps": round(sum(m["video_fps"] for m in machines), 1)}


def reserve_slots(machines: list[dict[str, Any]], setting: int | str) -> int:
    """The slots `[fleet] failover_reserve_slots` keeps free now: the number, or for
    `"one_machine"` what the largest live machine holds (sessions plus free slots)."""
    if setting == "one_machine":
        return max((int(m["sessions"]) + int(m["free"]) for m in machines), default=0)
    return int(setting)


def choose_machine(machines: list[dict[str, Any]], *, reserve: int = 0,
                   resuming: bool = False) -> dict[str, Any] | None:
    """The machine with most free slots (the router's rule; of equals, the one with
    fewest sessions), or None when all are full.

    `reserve` slots of the fleet are kept for clients `resuming` after a drop (their
    machine died): a new visitor counts the fleet full while no more are free.
    """
    with_room = [m for m in machines if m["free"] > 0 and not m["draining"]]
    if not resuming and sum(m["free"] for m in with_room) <= reserve:
        return None
    # a tie goes to the machine with fewer sessions: a machine's death then cuts fewer
    return max(with_room, key=lambda m: (m["free"], -m.get("sessions", 0))) if with_room else None
