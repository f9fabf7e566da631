"""Memory and CPU clocks of the processes under test.

Why here: the live benches start the server in its own process and read its RSS
and CPU from /proc (avatar/procfs.py), alongside the llama.cpp child; one reading for
all of them.
`SERVER["pid"]` is the server process under test (None: this process), set by
`benchkit.live.live_server.server_under_test`.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from avatar.procfs import cpu_seconds, descendants, pss_bytes, rss_bytes

#: The server under test: its pid (None: this process, --in-process) for CPU and RSS.
SERVER: dict[str, Any] = {"pid": None}


def pss_mb(pid: int) -> float:
    """Proportional set size of a process in MiB: its private pages plus its share of
    pages it shares (forked workers share the fork server's torch), so the sum over a
    process tree counts each page once. 0 if it is gone."""
    return pss_bytes(pid) / 2**20


def tree_members(pid: int, skip: tuple[int, ...] = ()) -> list[int]:
    """`pid` and every live process below it, less the subtrees rooted at `skip`."""
    skipped = set(skip)
    for skipped_pid in skip:
        skipped.update(descendants(skipped_pid))
    return [member for member in [pid, *descendants(pid)] if member not in skipped]


def tree_pss_mb(pid: int, skip: tuple[int, ...] = ()) -> float:
    """PSS (MiB) of `pid` and every process below it: a server with its fork server
    and face workers, leaving out the subtrees rooted at `skip` (the LLM server)."""
    return sum(pss_mb(member) for member in tree_members(pid, skip))


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (0 if it is gone)."""
    return rss_bytes(pid) / 2**20


class RssSampler(threading.Thread):
    """Peak of the summed RSS of some processes."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, sum(rss_mb(pid) for pid in self.pids))
            self._stop_event.wait(0.1)

    def stop(self) -> float:
        self._stop_event.set()
        self.join(timeout=2)
        return self.peak


def cpu_secs(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (this one when None; 0 if gone)."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    return cpu_seconds(pid) or 0.0


def tree_cpu_secs(pid: int, skip: tuple[int, ...] = ()) -> float:
    """CPU seconds of `pid` and every live process below it, with what their exited
    children used (the fork server's reaped face workers), leaving out the subtrees
    rooted at `skip` (the LLM server, reported apart). 0 if `pid` is gone."""
    return sum(cpu_seconds(member, reaped_children=True) or 0.0
               for member in tree_members(pid, skip))


@dataclass
class CpuMark:
    """Wall and CPU clocks at one instant, to turn intervals into CPU percentages."""

    wall: float
    process: float
    llm: float

    @classmethod
    def now(cls, llm_pid: int | None) -> CpuMark:
        """The clocks now."""
        return cls(time.monotonic(), cpu_secs(SERVER["pid"]),
                   cpu_secs(llm_pid) if llm_pid else 0.0)

    def since(self, start: CpuMark) -> dict[str, float]:
        """CPU% (100 = one core) of this process and the LLM between `start` and here."""
        wall = max(1e-6, self.wall - start.wall)
        return {"process_cpu_percent": round(100 * (self.process - start.process) / wall, 1),
                "llm_cpu_percent": round(100 * (self.llm - start.llm) / wall, 1),
                "secs": round(wall, 1)}
