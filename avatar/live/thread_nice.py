"""A face request runs at its caller's priority: how far a thread is niced, and
threads that run jobs niced as far.

The parent sends `caller_nice()` with each request (the session's yielding thread
while the voice models think, `[avatar] worker_nice`); the worker runs that
request in a `NicedThreads` thread niced as far, so the face yields to whisper,
the turn-end model and piper.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def caller_nice() -> int:
    """How far the calling thread is niced below its process's main thread (0: not, or
    not Linux, where a priority is a thread's and the main thread's id is the PID)."""
    if not hasattr(os, "getpriority"):
        return 0
    try:
        return max(0, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
                   - os.getpriority(os.PRIO_PROCESS, os.getpid()))
    except OSError:
        return 0


class NicedThreads:
    """One thread per niceness a caller asked for, each niced once as it starts (a
    thread cannot raise its own priority back, so each level keeps its thread)."""

    def __init__(self, torch_threads: int) -> None:
        self._torch_threads = torch_threads
        self._pools: dict[int, ThreadPoolExecutor] = {}

    def run(self, nice: int, job: Callable[..., Any], *args: Any) -> Any:
        """`job(*args)` in the thread niced by `nice`; its result or its exception."""
        pool = self._pools.get(nice)
        if pool is None:
            pool = ThreadPoolExecutor(1, thread_name_prefix=f"face-nice-{nice}",
                                      initializer=self._lower, initargs=(nice,))
            self._pools[nice] = pool
        return pool.submit(job, *args).result()

    def _lower(self, nice: int) -> None:
        import torch

        torch.set_num_threads(self._torch_threads)  # OpenMP's count is per thread
        try:
            thread_id = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, thread_id,
                           min(19, os.getpriority(os.PRIO_PROCESS, thread_id) + nice))
        except (OSError, AttributeError):
            pass  # not Linux-like, or a sandbox that forbids it: runs at full priority

    def close(self) -> None:
        """Let each level's thread finish its job and end."""
        for pool in self._pools.values():
            pool.shutdown(wait=True)


__all__ = ["NicedThreads", "caller_nice"]
