"""The server's own memory as Prometheus gauges (`GET /metrics`), for the field.

A kiosk runs from opening to closing; its operator's monitoring must see the server
grow long before the machine swaps. These are read at each scrape from /proc:

- `avatar_forcing_server_rss_bytes`: the server process's resident set;
- `avatar_forcing_server_pss_bytes`: its proportional set (shared pages split);
- `avatar_forcing_tree_pss_bytes`: the server with every process below it (its face
  workers, fork server, the embedded LLM), each page counted once;
- `avatar_forcing_sessions`: live sessions.

prometheus_client's own process collector (RSS, CPU, fds) is registered too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes(pid: int) -> int:
    """Resident set of `pid` (0 when it is gone or /proc is missing)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def pss_bytes(pid: int) -> int:
    """Proportional set of `pid` from smaps_rollup (0 when unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def descendants(root: int) -> list[int]:
    """`root` and every process below it, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


class MemoryCollector(Collector):
    """Reads the gauges at scrape time (no thread, nothing cached)."""

    def __init__(self, sessions: Callable[[], int], pid: int | None = None) -> None:
        self._sessions = sessions
        self._pid = pid or os.getpid()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("avatar_forcing_server_rss_bytes",
                                "The server process's resident set (bytes).",
                                value=rss_bytes(self._pid))
        yield GaugeMetricFamily("avatar_forcing_server_pss_bytes",
                                "The server process's proportional set (bytes).",
                                value=pss_bytes(self._pid))
        yield GaugeMetricFamily("avatar_forcing_tree_pss_bytes",
                                "The server and every process below it, PSS (bytes).",
                                value=sum(pss_bytes(p) for p in descendants(self._pid)))
        yield GaugeMetricFamily("avatar_forcing_sessions", "Live sessions.",
                                value=self._sessions())


def memory_registry(sessions: Callable[[], int],
                    registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """`registry` (a new one by default) with the process collector and the memory gauges."""
    registry = registry if registry is not None else CollectorRegistry()
    ProcessCollector(registry=registry)
    registry.register(MemoryCollector(sessions))
    return registry


__all__ = ["MemoryCollector", "descendants", "memory_registry", "pss_bytes", "rss_bytes"]
