"""The fleet's status page beside the kiosk app: `GET /fleet`.

Per machine: sessions, free slots (from its live capacity measure), CPU, images/s
sent and turn response p50 of the last minutes; plus totals. It reads the kiosk
replicas' routing stats (fleet/machines.py), what Serve's router reads. Ray's
dashboard and the Prometheus gauges each machine exports (`ray_kiosk_*`) show the
same figures over time (docs/FLEET.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from ray import serve

from fleet import loopback
from fleet.machines import machine_statuses, summarize

FRONT_APP = "front"
FRONT_PREFIX = "/fleet"


def front_app() -> FastAPI:
    """The FastAPI app of the status page (built on the replica, at start)."""
    app = FastAPI(title="avatar-forcing fleet", redirect_slashes=False)

    @app.get("")
    @app.get("/")
    async def fleet_status() -> dict[str, Any]:
        machines = await machine_statuses()
        return {"totals": summarize(machines), "machines": machines}

    return app


@serve.ingress()
class FleetFront:
    """The `/fleet` route as a Serve deployment (on the head, next to the proxy)."""

    def __serve_build_asgi_app__(self) -> FastAPI:
        """Serve calls this after __init__."""
        return front_app()


def front_deployment() -> Any:
    """The bound status-page application."""
    deployment = serve.deployment(FleetFront).options(  # type: ignore[attr-defined]
        name="FleetFront", num_replicas=1,
        ray_actor_options={"num_cpus": 0, "runtime_env": loopback.replica_runtime_env()})
    return deployment.bind()
