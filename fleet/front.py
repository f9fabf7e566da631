"""The fleet's front door beside the kiosk app: `GET /fleet` and `GET /fleet/session`.

Both read what Serve's own router reads: each kiosk replica's routing stats
(`KioskReplica.record_routing_stats`), asked of the replica actors Serve runs.
No registry of ours: the replicas are found by the names Serve gives them.

* `GET /fleet`: per machine, sessions, free slots, CPU, images/s sent and turn
  response p50 of the last minutes; plus totals.
* `GET /fleet/session`: the direct media URL of the machine with most room
  (`{"ws_url", "node_id", "free"}`), or 503 `{"full": true, "retry_after_s"}`.
  A client that connects there skips the proxy hop (docs/FLEET.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

import ray
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from ray import serve

from fleet import loopback
from fleet.kiosk import KIOSK_APP, KIOSK_DEPLOYMENT
from fleet.settings import FleetSettings

FRONT_APP = "front"
FRONT_PREFIX = "/fleet"
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


def front_app(fleet: FleetSettings) -> FastAPI:
    """The FastAPI app of the front door (built on the replica, at start)."""
    app = FastAPI(title="avatar-forcing fleet")

    @app.get("/")
    async def fleet_status() -> dict[str, Any]:
        machines = await machine_statuses()
        return {"totals": summarize(machines), "machines": machines}

    @app.get("/session")
    async def new_session() -> JSONResponse:
        machines = [m for m in await machine_statuses() if m["free"] > 0]
        if not machines:
            return JSONResponse(
                {"full": True, "retry_after_s": fleet.retry_after_secs,
                 "message": "every kiosk machine is at its capacity; try again shortly"},
                status_code=503, headers={"Retry-After": f"{fleet.retry_after_secs:g}"})
        best = max(machines, key=lambda m: m["free"])
        return JSONResponse({"ws_url": f"{best['direct_url']}/ws", "node_id": best["node_id"],
                             "free": best["free"]})

    return app


@serve.ingress()
class FleetFront:
    """The `/fleet` routes as a Serve deployment (on the head, next to the proxy)."""

    def __init__(self, fleet_data: dict[str, Any]) -> None:
        self.fleet = FleetSettings.model_validate(fleet_data)

    def __serve_build_asgi_app__(self) -> FastAPI:
        """Serve calls this after __init__."""
        return front_app(self.fleet)


def front_deployment(fleet: FleetSettings) -> Any:
    """The bound front-door application."""
    deployment = serve.deployment(FleetFront).options(  # type: ignore[attr-defined]
        name="FleetFront", num_replicas=1,
        ray_actor_options={"num_cpus": 0, "runtime_env": loopback.replica_runtime_env()})
    return deployment.bind(fleet.model_dump())
