"""Resident memory per Ray node of a one-host cluster, sampled over a soak.

Why per node and summed over its process tree: a leak in a fleet machine shows in
whichever process holds the sessions (the kiosk replica), the models it loads, or the
llama.cpp child of the LLM replica; a node's total is what its machine would run out
of. Shared pages (the same torch libraries in two workers) count in each process's RSS,
so the RSS level is above what the machine really uses, and it also rises when a
process merely touches more of the pages it shares (a forked face worker reading
the fork server's torch): a slope that is no leak. PSS (each shared page divided
among its sharers) is sampled beside it, per process too, so a growth can be
pinned on the process that holds it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from avatar.procfs import command_name, rss_bytes
from benchkit.clocks import pss_mb
from benchkit.fleet.fleet_faults import node_pids


def rss_mb(pids: list[int]) -> float:
    """Sum of VmRSS of `pids` in MB (processes gone meanwhile count 0)."""
    return sum(rss_bytes(pid) for pid in pids) / 2**20


def pss_by_process(pids: list[int]) -> dict[str, float]:
    """PSS in MB of each of `pids` that is alive, keyed `name:pid` (the process name
    as the kernel has it: `raylet`, `gcs_server`, `ray::ServeRepli`, `python`)."""
    out: dict[str, float] = {}
    for pid in pids:
        name = command_name(pid)
        if name:
            out[f"{name}:{pid}"] = pss_mb(pid)
    return {label: mb for label, mb in out.items() if mb > 0}


def node_label(node: Any, head: Any) -> str:
    """`head`, or `worker <first 6 hex of the node id>`: one label per node life."""
    return "head" if node is head else f"worker {node.node_id[:6]}"


class NodeRss:
    """Every `every` seconds, each live node's RSS (MB) on the soak's clock, in a thread.

    `samples` holds (time, node label, MB); a node killed and replaced comes back
    under the new node's label.
    """

    def __init__(self, cluster: Any, clock: Callable[[], float], every: float = 10.0) -> None:
        self.cluster = cluster
        self.clock = clock
        self.every = every
        self.samples: list[tuple[float, str, float]] = []
        #: the same nodes' PSS (time, node label, MB): shared pages counted once
        self.pss_samples: list[tuple[float, str, float]] = []
        #: each node's processes one by one, PSS (time, node label, {`name:pid`: MB}):
        #: which of them grows
        self.processes: list[tuple[float, str, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="node-rss", daemon=True)

    def sample(self) -> None:
        """One reading of every node that is up now."""
        head = self.cluster.cluster.head_node
        for node in [head, *list(self.cluster.workers)]:
            pids = node_pids(node)
            if pids:
                t, label = self.clock(), node_label(node, head)
                self.samples.append((t, label, rss_mb(pids)))
                by_process = pss_by_process(pids)
                self.pss_samples.append((t, label, sum(by_process.values())))
                self.processes.append((t, label, by_process))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            started = time.monotonic()
            with contextlib.suppress(Exception):  # a node dying mid-read: next round
                self.sample()
            if time.monotonic() - started > self.every:  # never pile up on a busy host
                self._stop.wait(self.every)

    def start(self) -> None:
        """Sample now and every `every` seconds from now."""
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling (safe twice)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
