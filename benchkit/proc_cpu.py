"""CPU of process groups read from /proc (avatar/procfs.py): their CPU seconds, and a
sampler of groups (server, LLM, Chromium) every 50 ms.

Why here: the browser benches must tell the server's CPU from Chromium's and the
LLM's while a turn is answered; the sampler is their clock for that.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

import numpy as np

from avatar.procfs import command_line, cpu_seconds, descendants

SAMPLE_SECS = 0.05


def proc_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of `pids` (gone ones count 0)."""
    return sum(cpu_seconds(pid) or 0.0 for pid in pids)


class CpuSampler:
    """Cumulative CPU seconds of process groups every 50 ms, on the wall clock.

    Groups: the server process, its LLM child, and Chromium (every process this
    bench started other than the server). Chromium's processes change as pages
    open, so the groups are re-read every second.
    """

    def __init__(self, server_pid: int, other_servers: list[int]) -> None:
        self.server_pid = server_pid
        self.other_servers = other_servers
        self.times: list[float] = []
        self.values: dict[str, list[float]] = {"server": [], "llm": [], "chromium": []}
        self._base: dict[str, float] = {"chromium": 0.0}
        self._seen_chromium: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _groups(self) -> dict[str, list[int]]:
        server_tree = {self.server_pid, *descendants(self.server_pid)}
        for pid in self.other_servers:
            server_tree |= {pid, *descendants(pid)}
        mine = [p for p in descendants(os.getpid()) if p not in server_tree]
        llm = [p for p in descendants(self.server_pid)
               if "llama_cpp" in " ".join(command_line(p))]
        return {"server": [self.server_pid], "llm": llm, "chromium": mine}

    def _run(self) -> None:
        groups, refreshed = self._groups(), time.monotonic()
        while not self._stop.wait(SAMPLE_SECS):
            if time.monotonic() - refreshed > 1.0:
                with contextlib.suppress(OSError):
                    groups, refreshed = self._groups(), time.monotonic()
            self.times.append(time.time())
            self.values["server"].append(proc_cpu(groups["server"]))
            self.values["llm"].append(proc_cpu(groups["llm"]))
            # Chromium processes come and go with pages: count each one's growth only
            total = 0.0
            for pid in groups["chromium"]:
                value = proc_cpu([pid])
                previous = self._seen_chromium.get(pid)
                if previous is not None and value >= previous:
                    self._base["chromium"] += value - previous
                self._seen_chromium[pid] = value
            total = self._base["chromium"]
            self.values["chromium"].append(total)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def percent(self, start: float, end: float) -> dict[str, float | None]:
        """% of one core each group used between two wall-clock times."""
        out: dict[str, float | None] = {}
        if end - start < 0.1 or not self.times:
            return {name: None for name in self.values}
        for name, values in self.values.items():
            used = np.interp(end, self.times, values) - np.interp(start, self.times, values)
            out[name] = round(100.0 * float(used) / (end - start), 1)
        return out
