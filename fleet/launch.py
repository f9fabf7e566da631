"""Deploy the fleet on a running Ray cluster: LLM pool, kiosk machines, front door.

`fleet up` calls `start_fleet` on a cluster started the usual way (`ray start --head`,
then `ray start --address=...` with `--resources='{"kiosk": 1}'` on each kiosk machine
and `'{"llm": 1}'` on each LLM machine); tests call it on a `fleet.local_cluster`.
"""

from __future__ import annotations

import time
from typing import Any

from ray import serve
from ray.serve.config import HTTPOptions, ProxyLocation

from fleet.front import FRONT_APP, FRONT_PREFIX, front_deployment
from fleet.kiosk_replica import kiosk_deployment
from fleet.llm_pool import llm_deployment
from fleet.machines import KIOSK_APP
from fleet.settings import FleetSettings
from pipelines.settings import Settings


def start_fleet(fleet: FleetSettings, settings: Settings) -> dict[str, Any]:
    """Start Serve's proxy on the public address and deploy everything; returns timings.

    Blocks until every kiosk machine has loaded its models and answers. The caller
    has connected to the cluster (`ray.init(address=...)`) with the loopback flag set
    first when the cluster is one host (fleet.loopback).
    """
    started = time.monotonic()
    tls = settings.server.tls()  # the head's certificate: the public door speaks https, wss
    proxies = ProxyLocation.EveryNode if fleet.proxies == "every_node" else ProxyLocation.HeadOnly
    serve.start(proxy_location=proxies,
                http_options=HTTPOptions(
                    host=fleet.host, port=fleet.port,
                    ssl_certfile=str(tls.cert_file) if tls is not None else None,
                    ssl_keyfile=str(tls.key_file) if tls is not None else None))
    llm_pool = (llm_deployment(settings, replicas=fleet.llm_replicas, cpus=fleet.llm_cpus,
                               resource=fleet.llm_resource)
                if fleet.llm_replicas > 0 else None)
    serve.run(front_deployment(), name=FRONT_APP, route_prefix=FRONT_PREFIX)
    serve.run(kiosk_deployment(settings, fleet, llm_pool), name=KIOSK_APP, route_prefix="/")
    return {"deploy_secs": round(time.monotonic() - started, 1),
            "public_url": f"{'https' if tls is not None else 'http'}://{fleet.host}:{fleet.port}/"}


def stop_fleet() -> None:
    """Remove the fleet's applications and Serve's proxy (the cluster keeps running)."""
    serve.shutdown()
