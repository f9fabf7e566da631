"""The server's own memory as Prometheus gauges (`GET /metrics`), for the field.

A kiosk runs from opening to closing; its operator's monitoring must see the server
grow long before the machine swaps. These are read at each scrape from /proc
(avatar/procfs.py):

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

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from avatar.procfs import process_tree, pss_bytes, rss_bytes


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
                                value=sum(pss_bytes(p) for p in process_tree(self._pid)))
        yield GaugeMetricFamily("avatar_forcing_sessions", "Live sessions.",
                                value=self._sessions())


def memory_registry(sessions: Callable[[], int],
                    registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """`registry` (a new one by default) with the process collector and the memory gauges."""
    registry = registry if registry is not None else CollectorRegistry()
    ProcessCollector(registry=registry)
    registry.register(MemoryCollector(sessions))
    return registry


__all__ = ["MemoryCollector", "memory_registry"]
