"""Faults for a one-host fleet (fleet.local_cluster): a worker machine killed and
restarted, the LLM replica's server killed, a machine's network cut and restored.

Why here: a soak injects them on a schedule (bench/fleet/fleet_soak.py), and each one must
be what a real fault does to the fleet, not a polite shutdown:

* `kill_worker`: kill -9 of the node's raylet, reaped (fleet.local_cluster), then a
  fresh node with the kiosk resource: a machine that dies and is replaced. Serve
  places the kiosk replica it lost on the new node (it loads its models again).
* `kill_llm`: kill -9 of the llama.cpp server behind the pool's replica: Serve's
  health check then replaces the replica on a new port (fleet/llm_pool.py), and
  the machines' endpoint resolvers must find it (agent/llm_endpoints.py).
* `cut_network`: SIGSTOP of every process of a worker node (its raylet, agents and
  the workers under the raylet: the kiosk replica and its direct door), SIGCONT
  `secs` later. There is no firewall on this host (no iptables, nft), and loopback
  has no per-node address to cut, so a frozen node stands in for an unreachable one.
  What it models: nothing leaves or answers from the node; its clients' sockets stay
  open with no data and no close (a cut cable, not a crash); the GCS misses its
  health checks and declares the node dead after ~1.5 s, as it would a partitioned
  node, and the raylet, thawed, finds itself dead and exits (Ray does not take a
  node back), so a fresh node is started. What it does not: the kernel still
  accepts TCP connections to the node's ports (the handshake is the kernel's,
  answers never come), where a real cut times them out; the node's processes do
  no work meanwhile, where a partitioned machine would go on rendering for nobody;
  and both directions and every peer are cut at once (no partial partition).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

from avatar.procfs import command_line, descendants


@dataclass(frozen=True)
class PlannedFault:
    """A fault to inject `at` seconds into the soak (`secs`: how long it lasts)."""

    at: float
    kind: str
    secs: float = 0.0


def plan_faults(minutes: float, every_min: float, cut_secs: float = 30.0,
                tail_secs: float = 20.0) -> list[PlannedFault]:
    """The schedule: a worker killed (and restarted) every `every_min` minutes, the LLM
    killed once at 1.25x, the network of a node cut for `cut_secs` at 1.5x; only
    faults over `tail_secs` before the end. With `--minutes 4 --fault-every 1.5`:
    kill 90 s, LLM 112 s, cut 135-165 s, kill 180 s.

    Raises:
        ValueError: a period or a length that is not positive.
    """
    if minutes <= 0 or every_min <= 0 or cut_secs <= 0:
        raise ValueError(f"minutes, fault period and cut length must be positive, got "
                         f"{minutes}, {every_min}, {cut_secs}")
    end, every = minutes * 60.0 - tail_secs, every_min * 60.0
    planned = [PlannedFault(k * every, "worker_kill") for k in range(1, int(end // every) + 1)
               if k * every < end]
    planned.append(PlannedFault(1.25 * every, "llm_kill"))
    planned.append(PlannedFault(1.5 * every, "net_cut", cut_secs))
    return sorted((p for p in planned if p.at + p.secs < end), key=lambda p: p.at)


def node_pids(node: Any) -> list[int]:
    """Every live process of a Ray node on this host: its own (raylet, GCS, agents)
    and everything under them (the workers: Serve replicas, llama.cpp)."""
    pids: set[int] = set()
    for infos in node.all_processes.values():
        for info in infos:
            process = info.process
            if process is not None and process.poll() is None:
                pids.add(process.pid)
                pids.update(descendants(process.pid))
    return sorted(pids)


def _raylet(node: Any) -> Any:
    from ray._private import ray_constants

    return node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process


def kill_worker(cluster: Any, node: Any) -> Any:
    """kill -9 the worker node (reaped), then start its replacement; returns the new node."""
    cluster.kill_worker(node)
    return cluster.add_worker()


def cut_network(cluster: Any, node: Any, secs: float) -> tuple[Any, str]:
    """Freeze the node `secs` (SIGSTOP), thaw it (SIGCONT); if Ray declared it dead
    meanwhile, its raylet exits: reap it and start a replacement.

    Returns:
        (the node serving afterwards: the same or its replacement, what happened).
    """
    pids = node_pids(node)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(secs)
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    raylet = _raylet(node)
    deadline = time.monotonic() + 15.0
    while raylet.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    if raylet.poll() is None:
        return node, f"{len(pids)} processes frozen {secs:.0f} s; the node came back"
    cluster.forget_dead_worker(node)
    return cluster.add_worker(), (f"{len(pids)} processes frozen {secs:.0f} s; the raylet exited "
                                  f"when thawed (code {raylet.returncode}), node replaced")


def llama_server_pid(head: Any, port: int) -> int | None:
    """The llama.cpp server listening on `port` among the head node's processes."""
    for pid in node_pids(head):
        argv = command_line(pid)
        if "agent.llama_cpp_server" in argv and str(port) in argv:
            return pid
    return None


def kill_llm(head: Any, base_url: str) -> str:
    """kill -9 the llama.cpp server behind `base_url` (the pool's replica on the head).

    Raises:
        RuntimeError: no such server process.
    """
    port = int(base_url.rsplit(":", 1)[1].split("/", 1)[0])
    pid = llama_server_pid(head, port)
    if pid is None:
        raise RuntimeError(f"no llama.cpp server on port {port} among the head's processes")
    os.kill(pid, signal.SIGKILL)
    return f"llama.cpp pid {pid} on port {port} killed"
