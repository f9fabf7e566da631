"""Two threads against one: how much of a piece of work runs without the GIL.

Why: a face worker serves several sessions in threads, so per-frame work that
holds the GIL makes them take turns. `thread_ratio` times two sessions' work run
by two threads at once over the longer one alone: 1.0 is fully parallel, 2.0
serial. The machine is often shared, so `spinning` gives a GIL-free busy loop
whose ratio is the best the machine's load allowed in the same run.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import numpy as np
from numba import njit


def thread_ratio(jobs: list[Callable[[], None]], rounds: int = 9) -> float:
    """Two threads running `jobs[0]` and `jobs[1]` at once, over one thread running
    the longer of the two alone: the median over `rounds` rounds, each timing the
    three back to back (neighbouring timings see the same load)."""
    def wall(run: list[Callable[[], None]]) -> float:
        threads = [threading.Thread(target=job) for job in run]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - t0

    ratios = []
    for _ in range(rounds):
        one = max(wall([jobs[0]]), wall([jobs[1]]))
        ratios.append(wall(jobs[:2]) / one)
    return float(np.median(ratios))


@njit(nogil=True, cache=True)
def _spin(n: int) -> float:
    """Busy arithmetic without the GIL."""
    acc = 0.0
    for i in range(n):
        acc += math.sqrt(i + acc * 1e-9)
    return acc


def spinning(n: int = 20_000_000) -> Callable[[], None]:
    """A GIL-free job for `thread_ratio`: its ratio is the best this machine's load allows."""
    _spin(10)

    def run() -> None:
        _spin(n)
    return run


__all__ = ["spinning", "thread_ratio"]
