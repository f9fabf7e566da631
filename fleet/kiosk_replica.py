"""One kiosk machine in the fleet: the single-machine server, as a Ray Serve replica.

Each replica wraps the product's own composition root (`load_runtime` + `create_app`,
pipelines/server/app.py) instead of copying it, so a fleet machine serves exactly
what `avatar-forcing serve` serves: the kiosk page, `/ws`, `/healthz`, `/portraits`.
It is reachable two ways, both answered by the same app and the same sessions:

* through Ray Serve's proxy, the fleet's one public door (Serve picks the replica:
  `fleet.router.FreeSlotsRouter` ranks machines by the free slots they report);
* on a direct port on its own machine (`direct_url`), which `GET /fleet/session`
  hands out: media then takes no extra hop (both measured in docs/FLEET.md).

Admission stays where it is measured: the machine's live capacity board
(avatar/live/capacity.py), sized to this node's Ray CPUs, refuses a session it
cannot hold with 1013 and `retry_after_s`. What Serve and the front door read is
this replica's routing stats (`record_routing_stats`), polled by Serve itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import time
import urllib.parse
from typing import Any

import ray
from loguru import logger
from ray import serve
from ray.serve.config import RequestRouterConfig
from ray.util import metrics
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from agent.llm_endpoints import ChatEndpoint
from fleet import loopback
from fleet.llm_pool import pool_endpoints
from fleet.machines import (
    KIOSK_DEPLOYMENT,
    choose_machine,
    gcs_call,
    machine_statuses,
    reserve_slots,
)
from fleet.memory_ceiling import CHECK_SECS, MemoryCeiling, tree_pss_mb
from fleet.settings import FleetSettings, direct_host
from pipelines.server.app import create_app, load_runtime, make_server
from pipelines.server.log_redaction import install_visitor_words_filter
from pipelines.server.runtime import ServerConfig
from pipelines.settings import Settings
from sdk.protocol import CloseCode, ErrorCode, encode_message, error_event


class SessionGate:
    """ASGI wrapper of the product's app on a fleet machine.

    * `GET /session` (where a client opens its conversation) answers the direct door
      of the machine with most room (`[fleet] direct_media`), or 503 with
      `retry_after_s` when every machine is full (for a new visitor: when no more than
      `[fleet] failover_reserve_slots` are free; `?resume=1`, a client back after a
      drop, may take those); without direct media, `/ws` here.
    * While the machine drains, a new `/ws` gets 1013 and a reason.
    """

    def __init__(self, app: ASGIApp, replica: KioskReplica) -> None:
        self.app = app
        self.replica = replica

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer `/session`; refuse new conversations on a draining machine; pass
        everything else on."""
        if (scope["type"] == "http" and scope.get("method") == "GET"
                and str(scope.get("path", "")).endswith("/session")):
            await self.session_door()(scope, receive, send)
            return
        if scope["type"] == "websocket" and str(scope.get("path", "")).endswith("/ws"):
            refusal = self.replica.refusal()
            if refusal is not None:
                websocket = WebSocket(scope, receive, send)
                await websocket.accept()
                with contextlib.suppress(Exception):
                    # answer the client's hello, as every refusal does (docs/PROTOCOL.md)
                    await asyncio.wait_for(websocket.receive(), timeout=5.0)
                    await websocket.send_text(encode_message(error_event(
                        ErrorCode.SERVER_BUSY, refusal, fatal=True,
                        retry_after_s=self.replica.fleet.retry_after_secs)))
                    await websocket.close(code=CloseCode.TRY_AGAIN_LATER, reason=refusal[:120])
                return
        await self.app(scope, receive, send)

    def session_door(self) -> ASGIApp:
        """The `/session` answer: where the next conversation should open."""
        fleet = self.replica.fleet
        if not fleet.direct_media:
            return JSONResponse({"ws_url": "/ws", "node_id": None})

        async def answer(scope: Scope, receive: Receive, send: Send) -> None:
            machines = await machine_statuses()
            if not machines:  # the GCS did not answer (the head is down): this machine
                response = JSONResponse({"ws_url": f"{self.replica.direct_url}/ws",
                                         "node_id": self.replica.node_id})
                await response(scope, receive, send)
                return
            query = urllib.parse.parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
            resuming = query.get("resume", ["0"])[-1] in ("1", "true")
            best = choose_machine(
                machines, reserve=reserve_slots(machines, fleet.failover_reserve_slots),
                resuming=resuming)
            if best is None:
                response = JSONResponse(
                    {"full": True, "retry_after_s": fleet.retry_after_secs,
                     "message": "every kiosk machine is at its capacity; try again shortly"},
                    status_code=503, headers={"Retry-After": f"{fleet.retry_after_secs:g}"})
            else:
                response = JSONResponse({"ws_url": f"{best['direct_url']}/ws",
                                         "node_id": best["node_id"], "free": best["free"]})
            await response(scope, receive, send)

        return answer


@serve.ingress()
class KioskReplica:
    """The avatar agent server on one machine, admitted and placed by Ray Serve."""

    async def __init__(  # type: ignore[misc]  # Serve awaits it
            self, settings_data: dict[str, Any], fleet_data: dict[str, Any],
            llm_pool: Any | None) -> None:
        settings = Settings.model_validate(settings_data)  # TLS files checked on this machine
        install_visitor_words_filter(settings.kiosk.log_transcripts)  # as `serve` does
        self.fleet = FleetSettings.model_validate(fleet_data)
        context = ray.get_runtime_context()
        self.node_id: str = context.get_node_id()
        self.node_ip: str = ray.util.get_node_ip_address()
        self.cpus = _node_cpus(self.node_id)
        if llm_pool is not None:  # the shared pool: an endpoint to start with (and warm up)
            endpoint = await llm_pool.endpoint.remote()
            settings = settings.model_copy(update={"llm": settings.llm.model_copy(
                update={"base_url": endpoint["base_url"], "model": endpoint["model"]})})
        self.runtime, self.llm_server = await load_runtime(settings=settings)
        if llm_pool is not None:
            # the pool's servers are this product's own: their /extras/next-token route
            # reads the end of a turn ("auto" semantic turn end, TurnParams.semantic_turn);
            # every turn asks the machine's resolver, which leaves a dead replica
            self.runtime.llm = dataclasses.replace(
                self.runtime.llm, embedded=True,
                endpoints=pool_endpoints(llm_pool, api_key=settings.llm.api_key,
                                         initial=ChatEndpoint(self.runtime.llm.base_url,
                                                              self.runtime.llm.model,
                                                              self.runtime.llm.api_key)))
        if self.runtime.avatar is not None and self.runtime.avatar.capacity is not None:
            # this machine's share of cores, not every core of the host
            self.runtime.avatar.capacity = self.runtime.avatar.capacity.for_cores(self.cpus)
        self.settings = settings
        self.config = ServerConfig.from_settings(
            settings, max_sessions=self.fleet.max_sessions_per_machine,
            busy_retry_after_s=self.fleet.retry_after_secs)
        self.server_app = create_app(self.runtime, self.config)
        self.registry = self.server_app.state.registry
        self.started = time.monotonic()
        self._cpu_mark = (time.monotonic(), time.process_time())
        self._draining = False
        self._drain_task = asyncio.create_task(self._watch_drain())
        self.memory = MemoryCeiling(self.fleet.recycle_above_mb,
                                    read_mb=lambda: tree_pss_mb(os.getpid()),
                                    drain_timeout_secs=self.fleet.drain_timeout_secs)
        self._memory_task = asyncio.create_task(self._watch_memory())
        self._direct, self._direct_task, self.direct_url = await self._start_direct_door()
        self._gauges = _Gauges(self.node_id)
        logger.info(f"kiosk machine {self.node_id[:8]} ready: {self.cpus:g} CPU(s), direct door "
                    f"{self.direct_url}, LLM {self.runtime.llm.base_url}")

    def __serve_build_asgi_app__(self) -> ASGIApp:
        """The product's app behind the drain gate (Serve calls this after __init__)."""
        return SessionGate(self.server_app, self)

    async def _start_direct_door(self) -> tuple[Any, asyncio.Task[None], str]:
        """This machine's own uvicorn on the same app (no proxy hop for media): `wss://`
        with this machine's certificate when `[server]` has one, else `ws://`."""
        tls = self.settings.server.tls()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.node_ip, self.fleet.direct_port))
        port = listener.getsockname()[1]
        # Serve's log handlers are the replica's: uvicorn's dictConfig would close them
        server = make_server(SessionGate(self.server_app, self), self.node_ip, port,
                             self.config.limits, tls, own_logging=False)
        server.config.lifespan = "off"  # Serve runs the app's lifespan once
        task = asyncio.create_task(server.serve(sockets=[listener]))
        for _ in range(600):  # 30 s at most
            if server.started or task.done():
                break
            await asyncio.sleep(0.05)
        if not server.started:
            raise RuntimeError(f"the direct door on {self.node_ip}:{port} did not start")
        host = direct_host(self.fleet.direct_host, node_ip=self.node_ip,
                           hostname=socket.gethostname(), fqdn=socket.getfqdn())
        return server, task, f"{'wss' if tls is not None else 'ws'}://{host}:{port}"

    # ------------------------------------------------------------ what Serve reads

    def draining(self) -> bool:
        """Ray is draining this machine (`fleet drain`, or the autoscaler taking it back),
        as last read by `_watch_drain` (at most a second old)."""
        return self._draining

    async def _watch_drain(self) -> None:
        """Read Ray's drain state every second, off the event loop: the read is a GCS
        call, which blocks up to a minute while the GCS is down (the head died), and
        this machine's sessions run on this loop."""
        def read() -> bool:  # what Serve's controller reads too (cluster_node_info_cache)
            gcs = ray._private.worker.global_worker.gcs_client  # type: ignore[attr-defined]
            return self.node_id in gcs.get_draining_nodes(timeout=2)

        while True:
            with contextlib.suppress(Exception):  # the GCS is unreachable: as last read
                self._draining = await gcs_call(read, within=60.0)
            await asyncio.sleep(1.0)

    async def _watch_memory(self) -> None:
        """Read this replica's memory every `CHECK_SECS`, off the loop (a /proc walk),
        for the gauges and the recycle ceiling (fleet/memory_ceiling.py)."""
        while True:
            with contextlib.suppress(OSError, ValueError):
                await asyncio.to_thread(self.memory.check, self.registry.ended)
            await asyncio.sleep(CHECK_SECS)

    def refusal(self) -> str | None:
        """Why this machine takes no new conversation now, or None."""
        if self.draining():
            return ("this machine is being drained for maintenance; "
                    f"try again in {self.fleet.retry_after_secs:g} s (another machine will answer)")
        return self.memory.refusal(self.fleet.retry_after_secs)

    def status(self) -> dict[str, Any]:
        """Sessions, measured slots, CPU, images/s and turn response p50 of this machine."""
        sessions = len(self.registry.active)
        draining = self.draining() or self.memory.recycling
        video: dict[str, Any] = {}
        slots = self.fleet.max_sessions_per_machine - sessions
        if self.runtime.avatar is not None and self.runtime.avatar.capacity is not None:
            report = self.runtime.avatar.capacity.report()
            video = report.as_dict()
            measured = report.slots if sessions else max(1, report.slots)
            slots = min(slots, measured)
        recent = self.registry.stats.report()
        return {
            "node_id": self.node_id,
            "node_ip": self.node_ip,
            "direct_url": self.direct_url,
            "cpus": self.cpus,
            "sessions": sessions,
            "free": 0 if draining else max(0, slots),
            "draining": self.draining(),
            "recycling": self.memory.recycling,
            "memory_mb": None if self.memory.last_mb is None else round(self.memory.last_mb, 1),
            "cpu_percent": self._cpu_percent(),
            "video_fps": recent["video_fps"],
            "response_p50_ms": recent["response_p50_ms"],
            "turns": recent["turns"],
            "capacity": video,
            "llm": self._llm_status(),
            "uptime_secs": round(time.monotonic() - self.started, 1),
        }

    def _llm_status(self) -> dict[str, Any]:
        """The LLM endpoint in use now, the LLM requests that failed on this machine
        (a turn refused and sent on to a live replica counts, though its visitor heard
        nothing of it) and the failovers. A visitor's failed turns are the
        `llm_unavailable` events each session gets (what a soak counts per fault)."""
        llm = self.runtime.llm
        resolver = llm.endpoints
        current = resolver.current if resolver is not None else None
        return {"base_url": current.base_url if current is not None else llm.base_url,
                "model": current.model if current is not None else llm.model,
                "failures": resolver.failures if resolver is not None else 0,
                "failovers": resolver.failovers if resolver is not None else 0}

    def _cpu_percent(self) -> float:
        """This machine's server process CPU since the last status (100 = one core;
        the llama.cpp and portrait-fit processes are not in it)."""
        wall, cpu = time.monotonic(), time.process_time()
        last_wall, last_cpu = self._cpu_mark
        self._cpu_mark = (wall, cpu)
        return round(100.0 * (cpu - last_cpu) / max(wall - last_wall, 1e-3), 1)

    def record_routing_stats(self) -> dict[str, Any]:
        """What Serve's router (and `/fleet`) sees of this machine, every second."""
        status = self.status()
        self._gauges.publish(status)
        return status

    def check_health(self) -> None:
        """Serve replaces the replica if its direct door has stopped, or once it is
        recycling for memory and its last conversation has ended."""
        if self._direct_task.done():
            raise RuntimeError("the kiosk machine's direct door has stopped")
        why = self.memory.why_unhealthy(len(self.registry.active))
        if why is not None:
            logger.warning(f"kiosk machine {self.node_id[:8]}: {why}")
            raise RuntimeError(why)

    async def __del__(self) -> None:
        """Stop the direct door and the avatar's background work (Serve's shutdown;
        also after a failed start, so every attribute may be missing)."""
        for name in ("_drain_task", "_memory_task"):
            task = getattr(self, name, None)
            if task is not None:
                task.cancel()
        direct = getattr(self, "_direct", None)
        if direct is not None:
            direct.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._direct_task, timeout=10)
        runtime = getattr(self, "runtime", None)
        if runtime is not None and runtime.avatar is not None:
            runtime.avatar.close()
        llm_server = getattr(self, "llm_server", None)
        if llm_server is not None:
            llm_server.stop()


class _Gauges:
    """The machine's figures as Prometheus gauges, exported by Ray's metrics agent
    (tagged with the node id: on one host every node has the same address)."""

    def __init__(self, node_id: str) -> None:
        tags = {"node_id": node_id}
        self.gauges = {
            name: metrics.Gauge(f"kiosk_{name}", description=text, tag_keys=("node_id",))
            for name, text in (("sessions", "live conversations"),
                               ("free_slots", "conversations this machine can still take"),
                               ("video_fps", "avatar images sent per second, all sessions"),
                               ("response_p50_ms", "turn response p50, last minutes"),
                               ("memory_mb", "the replica and its face workers, PSS in MB"))
        }
        for gauge in self.gauges.values():
            gauge.set_default_tags(tags)

    def publish(self, status: dict[str, Any]) -> None:
        """Set every gauge from a `status()` snapshot."""
        values = {"sessions": status["sessions"], "free_slots": status["free"],
                  "video_fps": status["video_fps"],
                  "response_p50_ms": status["response_p50_ms"] or 0,
                  "memory_mb": status["memory_mb"] or 0}
        for name, value in values.items():
            self.gauges[name].set(float(value))


def _node_cpus(node_id: str) -> float:
    """The CPUs Ray gives this node (`--num-cpus`): what its sessions may use."""
    for node in ray.nodes():
        if node.get("NodeID") == node_id:
            return float(node.get("Resources", {}).get("CPU", 1.0))
    return float(os.cpu_count() or 1)


def kiosk_deployment(settings: Settings, fleet: FleetSettings, llm_pool: Any | None) -> Any:
    """The bound kiosk application: one replica per machine with the kiosk resource."""
    deployment = serve.deployment(KioskReplica).options(  # type: ignore[attr-defined]
        name=KIOSK_DEPLOYMENT,
        num_replicas=fleet.kiosk_machines,
        max_replicas_per_node=1,
        # a full machine still takes the handshake, to answer it with 1013 and a reason
        max_ongoing_requests=fleet.max_sessions_per_machine + 2,
        health_check_period_s=2.0,
        health_check_timeout_s=10.0,
        graceful_shutdown_timeout_s=fleet.drain_timeout_secs,
        request_router_config=RequestRouterConfig(  # type: ignore[arg-type]
            request_router_class="fleet.router:FreeSlotsRouter",  # type: ignore[arg-type]
            request_routing_stats_period_s=1.0,  # type: ignore[arg-type]
            request_routing_stats_timeout_s=5.0,  # type: ignore[arg-type]
        ),
        ray_actor_options={"num_cpus": 0, "resources": {fleet.kiosk_resource: 1},
                           "runtime_env": loopback.replica_runtime_env()},
    )
    return deployment.bind(settings.model_dump(mode="python"), fleet.model_dump(), llm_pool)
