"""The fleet's kiosk machines as Ray sees them, and which one a new visitor gets.

Everything here reads what Serve's own router reads: each kiosk replica's routing
stats (`KioskReplica.record_routing_stats`), asked of the replica actors Serve runs
and finds by the names it gives them. No registry of ours.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ray

#: the Serve application and deployment names of the kiosk machines
KIOSK_APP = "kiosk"
KIOSK_DEPLOYMENT = "KioskReplica"
#: Serve names each replica actor `SERVE_REPLICA::<app>#<deployment>#<id>`
KIOSK_ACTOR_PREFIX = f"SERVE_REPLICA::{KIOSK_APP}#{KIOSK_DEPLOYMENT}#"
STATS_TIMEOUT_SECS = 3.0


async def machine_statuses() -> list[dict[str, Any]]:
    """Every live kiosk replica's status (a replica that does not answer is left out)."""
    names = [actor["name"] for actor in ray.util.list_named_actors(all_namespaces=True)
             if actor.get("namespace") == "serve"
             and str(actor.get("name", "")).startswith(KIOSK_ACTOR_PREFIX)]

    async def ask(name: str) -> dict[str, Any] | None:
        try:
            actor = ray.get_actor(name, namespace="serve")
            return await asyncio.wait_for(actor.record_routing_stats.remote(), STATS_TIMEOUT_SECS)
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


def choose_machine(machines: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The machine with most free slots (the router's rule), or None when all are full."""
    with_room = [m for m in machines if m["free"] > 0 and not m["draining"]]
    return max(with_room, key=lambda m: m["free"]) if with_room else None
