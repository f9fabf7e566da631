"""CPU of a bench's processes over time, by group, read back for any window: where a
kiosk turn's cores went between the visitor's last word and the reply heard.

Why here: bench/kiosk/kiosk.py asks which of Chromium (its renderer, GPU and utility
processes), the server's own process, its face workers and the LLM server took the
CPU during each turn. A thread reads every process's CPU seconds from /proc every
`period` seconds (per process, so one that ends keeps what it used), and
`cores(start, end)` gives each group's share of a core over a window of the bench's
monotonic clock.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections.abc import Callable

from avatar.procfs import command_line, cpu_seconds, descendants, process_parents


def proc_cpu_secs(pid: int) -> float | None:
    """User + system CPU seconds of `pid` (all its threads), None when it is gone."""
    return cpu_seconds(pid)


def _cmdline(pid: int) -> str:
    return " ".join(command_line(pid))


def chromium_group(cmdline: str) -> str | None:
    """'chromium <type>' for a Chromium process (its --type=, 'browser' for the main
    one), None for anything else."""
    if "chrom" not in cmdline.split(" ", 1)[0].lower():
        return None
    for part in cmdline.split():
        if part.startswith("--type="):
            kind = part.removeprefix("--type=")
            if kind == "utility":
                for sub in cmdline.split():
                    if sub.startswith("--utility-sub-type="):
                        return "chromium " + sub.rsplit(".", 1)[-1].lower()
            return f"chromium {kind}"
    return "chromium browser"


def kiosk_groups(server_pids: dict[str, int], llm_pids: dict[str, int | None]
                 ) -> Callable[[], dict[int, str]]:
    """A resolver of pid -> group for each named server (its own process, its face
    workers and helpers, its LLM server) and the Chromium processes below this one."""

    def resolve() -> dict[int, str]:
        parents = process_parents()
        groups: dict[int, str] = {}
        for name, pid in server_pids.items():
            llm = llm_pids.get(name)
            llm_tree = {llm, *descendants(llm, parents)} if llm is not None else set()
            groups[pid] = f"{name} server"
            for child in descendants(pid, parents):
                groups[child] = f"{name} llm" if child in llm_tree else f"{name} faces"
        for pid in descendants(os.getpid(), parents):
            if pid in groups:
                continue
            group = chromium_group(_cmdline(pid))
            if group is not None:
                groups[pid] = group
        return groups

    return resolve


class CpuTimeline:
    """Samples each group's cumulative CPU seconds every `period` s in a thread."""

    def __init__(self, resolve: Callable[[], dict[int, str]], period: float = 0.05,
                 resolve_every: float = 1.0) -> None:
        self._resolve = resolve
        self._period = period
        self._resolve_every = resolve_every
        self._groups: dict[int, str] = {}
        self._last: dict[int, float] = {}
        self._total: dict[str, float] = {}
        self.times: list[float] = []
        self.totals: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-timeline", daemon=True)

    def __enter__(self) -> CpuTimeline:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        resolved_at = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now - resolved_at >= self._resolve_every:
                self._groups.update(self._resolve())
                resolved_at = now
            for pid, group in list(self._groups.items()):
                secs = proc_cpu_secs(pid)
                if secs is None:
                    self._groups.pop(pid)
                    continue
                before = self._last.get(pid)
                self._last[pid] = secs
                if before is not None:  # a new process's earlier CPU is not this window's
                    self._total[group] = self._total.get(group, 0.0) + max(0.0, secs - before)
            self.times.append(now)
            self.totals.append(dict(self._total))
            self._stop.wait(self._period)

    def _at(self, when: float) -> dict[str, float]:
        index = min(max(0, bisect.bisect_left(self.times, when)), len(self.times) - 1)
        return self.totals[index] if self.totals else {}

    def secs(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds of each group between `start` and `end` (monotonic)."""
        first, last = self._at(start), self._at(end)
        return {group: last[group] - first.get(group, 0.0) for group in last}


def shares(secs: dict[str, float], wall: float) -> dict[str, float]:
    """CPU seconds over `wall` seconds as shares of one core, largest first."""
    if wall <= 0:
        return {}
    ordered = sorted(secs.items(), key=lambda item: -item[1])
    return {group: round(value / wall, 3) for group, value in ordered if value > 0}


__all__ = ["CpuTimeline", "chromium_group", "kiosk_groups", "proc_cpu_secs", "shares"]
