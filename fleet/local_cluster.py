"""A head and N worker nodes on one host, all on 127.0.0.1 (tests and a single box).

Built on :class:`ray.cluster_utils.Cluster`, Ray's own multi-node-on-one-host helper.
Each worker node carries one unit of the ``kiosk`` resource, so a deployment that
asks for it gets exactly one replica per worker machine and none on the head.

Health checks are tuned as measured in docs/history/fleet_groundwork_2026-11-23.md:
Ray's defaults declare a dead node after about 12 s, and Serve keeps routing new
sessions to it until then; 500 ms x 3 brought that to about 1.2 s.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fleet import loopback

KIOSK_RESOURCE = "kiosk"
#: the head carries the shared LLM pool (fleet/llm_pool.py) and Serve's proxy
LLM_RESOURCE = "llm"
FAST_HEALTH_CHECK: dict[str, Any] = {
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 500,
    "health_check_failure_threshold": 3,
}
# Cluster still writes /tmp/ray/ray_current_cluster and fails if the folder is missing.
_RAY_DEFAULT_DIR = "/tmp/ray"


@dataclass
class LocalFleet:
    """A running one-host cluster: the Ray ``Cluster`` and its worker nodes, in start order."""

    cluster: Any
    workers: list[Any] = field(default_factory=list)
    #: workers killed by `kill_worker`: what is left of them is stopped at the end
    killed: list[Any] = field(default_factory=list)

    @property
    def address(self) -> str:
        """The GCS address (``127.0.0.1:PORT``) a driver passes to ``ray.init``."""
        return str(self.cluster.address)

    def add_worker(self, cpus: int = 1) -> Any:
        """Start one more worker node with a kiosk slot; returns Ray's node handle.

        Call it from the main thread: Ray's node start installs signal handlers,
        which Python allows only there."""
        node = self.cluster.add_node(
            num_cpus=cpus, node_ip_address=loopback.LOOPBACK, resources={KIOSK_RESOURCE: 1}
        )
        self.workers.append(node)
        self.cluster.wait_for_nodes()
        return node

    def kill_worker(self, node: Any) -> None:
        """kill -9 a worker node's raylet, as a machine that dies, and reap it.

        Reaping matters on one host: the test process is the raylet's parent, and an
        unreaped zombie raylet looks alive to its workers, which then keep serving
        (docs/FLEET.md). On a real machine init reaps it."""
        from ray._private import ray_constants

        process = node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        self.cluster.worker_nodes.discard(node)  # dead: no longer waited for
        self.workers.remove(node)
        self.killed.append(node)

    def forget_dead_worker(self, node: Any) -> None:
        """A worker whose raylet exited on its own (Ray declared it dead while it was
        cut off): out of the books, its other processes stopped, as `kill_worker`
        leaves a killed one."""
        self.cluster.worker_nodes.discard(node)
        if node in self.workers:
            self.workers.remove(node)
        self.killed.append(node)
        node.kill_all_processes(check_alive=False, allow_graceful=False)

    def remove_worker(self, node: Any) -> None:
        """Stop a worker node at once (its processes are killed, not drained)."""
        self.cluster.remove_node(node, allow_graceful=False)
        self.workers.remove(node)


@contextmanager
def local_fleet(workers: int = 2, cpus_per_node: int = 1, temp_dir: str | None = None
                ) -> Iterator[LocalFleet]:
    """Start a head plus ``workers`` kiosk nodes on loopback, connect this driver, stop it all after.

    Raises:
        ValueError: fewer than one worker, or fewer than one CPU per node.
    """
    if workers < 1 or cpus_per_node < 1:
        raise ValueError(f"a local fleet needs >= 1 worker and >= 1 CPU per node, "
                         f"got workers={workers}, cpus_per_node={cpus_per_node}")
    loopback.prepare_environment()
    os.makedirs(_RAY_DEFAULT_DIR, exist_ok=True)
    import ray
    from ray.cluster_utils import Cluster

    head_args: dict[str, Any] = {
        "num_cpus": cpus_per_node,
        "node_ip_address": loopback.LOOPBACK,
        "dashboard_host": loopback.LOOPBACK,
        "include_dashboard": False,
        "resources": {LLM_RESOURCE: 1},
        "_system_config": FAST_HEALTH_CHECK,
    }
    if temp_dir is not None:
        head_args["temp_dir"] = temp_dir
    cluster = Cluster(initialize_head=True, head_node_args=head_args)
    fleet = LocalFleet(cluster)
    try:
        for _ in range(workers):
            fleet.add_worker(cpus_per_node)
        ray.init(address=cluster.address, logging_level=logging.WARNING, log_to_driver=False)
        yield fleet
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for node in fleet.killed:  # its log monitor and agents, if any outlived the raylet
            node.kill_all_processes(check_alive=False, allow_graceful=False)
        cluster.shutdown()
