"""The shared LLM: a pool of embedded llama.cpp servers, one per Serve replica.

Why a pool of its own: on one machine the avatar and the LLM share two cores and a
second session doubles voice-to-voice (3.6 s). In a fleet the LLM is scaled apart
from the faces: `[fleet] llm_replicas` replicas on machines with the `llm` resource,
each running the same `agent.llm_server.EmbeddedLLMServer` a single kiosk runs.

Media never passes through Ray here either: a kiosk machine asks the pool for an
endpoint (Serve's router picks the replica), then streams tokens straight from that
llama.cpp server over HTTP on the private network. It keeps that endpoint while it
answers; after a failed turn it asks again and takes only an endpoint that answers
(`pool_endpoints`, agent/llm_endpoints.py): when a replica dies, the machine's next
turn goes to a live one.
An external endpoint (vLLM, Ollama, OpenAI) is `[llm] base_url` with `llm_replicas = 0`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import ray
from ray import serve

from agent.errors import LLMServerError
from agent.llm_endpoints import ChatEndpoint, PoolEndpoint
from agent.llm_server import EmbeddedLLMServer
from fleet import loopback
from pipelines.settings import Settings


class LLMReplica:
    """One embedded llama.cpp server on this replica's machine (not the public port)."""

    async def __init__(self, settings_data: dict[str, Any], threads: int) -> None:  # type: ignore[misc]  # Serve awaits it
        settings = Settings.model_validate(settings_data)
        llm = settings.llm.model_copy(update={"threads": threads, "batch_threads": threads})
        server = EmbeddedLLMServer.from_settings(llm, video=False)
        # reachable by the kiosk machines on the private network, never the public door
        server.host = ray.util.get_node_ip_address()
        self.server = await server.astart()
        self.model = self.server.model_alias

    def endpoint(self) -> dict[str, str]:
        """`base_url` (ends in /v1) and `model` of this replica's server.

        Raises:
            LLMServerError: the server has died and Serve's health check has not
                replaced this replica yet: the caller asks again (another replica).
        """
        if not self.server.is_running:
            raise LLMServerError("this replica's LLM server has exited; ask another")
        return {"base_url": self.server.base_url, "model": self.model,
                "node_id": ray.get_runtime_context().get_node_id()}

    def check_health(self) -> None:
        """Serve restarts the replica when its llama.cpp process has died."""
        if not self.server.is_running:
            raise RuntimeError(f"the embedded LLM server exited: {self.server.log_tail(400)}")

    async def __del__(self) -> None:
        await asyncio.to_thread(self.server.stop)


def llm_deployment(settings: Settings, *, replicas: int, cpus: float, resource: str) -> Any:
    """The bound LLM pool application: `replicas` servers, each on a machine with `resource`."""
    deployment = serve.deployment(LLMReplica).options(  # type: ignore[attr-defined]
        name="llm",
        num_replicas=replicas,
        max_ongoing_requests=64,  # endpoint() calls only; tokens go straight to llama.cpp
        health_check_period_s=2.0,
        ray_actor_options={"num_cpus": cpus, "resources": {resource: 0.001},
                           "runtime_env": loopback.replica_runtime_env()},
    )
    return deployment.bind(settings.model_dump(mode="python"), max(1, round(cpus)))


def pool_endpoints(pool: Any, *, api_key: str, initial: ChatEndpoint | None = None
                   ) -> PoolEndpoint:
    """The endpoint resolver a kiosk machine's sessions share: `initial` (the endpoint
    the machine warmed up) until a turn fails on it, then the pool's Serve handle
    (`pool.endpoint.remote()`) asked for a live one."""

    async def ask() -> Mapping[str, str]:
        answer: Mapping[str, str] = await pool.endpoint.remote()
        return answer

    return PoolEndpoint(ask, api_key=api_key, initial=initial)
