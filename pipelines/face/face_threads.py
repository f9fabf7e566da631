"""Where a face session's jobs run: one worker thread, and a niced twin for the
seconds when the reply is thought up.

A session's jobs (generate a block, render a frame, analyse a camera image, load a
portrait) must never run on the event loop, and never two at once: the session's
state is not shared across threads. They run one at a time on this worker. While
the reply is thought up (the user paused, no reply audio yet) they run on a second
thread whose nice value is raised, so whisper, the LLM and piper, which decide when
the reply is heard, get the CPU first; once frames fall behind they run at the
default priority again (beside busy neighbours a niced thread got a tenth of a core
and the face froze for up to a second: docs/LIVE_AVATAR.md).

Each job's CPU time and wall time are counted: the quality governor adapts on the
wall time (on a busy machine a job waits for a core, and that wait is what makes
frames late). With the face in a worker process the wall time is the process's own:
seen from here it also held the pipe and this thread's wait for the
pipeline's interpreter lock, which the level's cost does not change.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from loguru import logger

from avatar.live.face_pool import WorkerFace

#: frames this late (s) stop the session's jobs from yielding the CPU while the
#: reply is thought up: the face must not freeze for the LLM's sake
BEHIND_SECS = 0.08
#: how long a stopping session waits for its worker's job in flight (a render or a
#: camera analysis, tens of ms) before it gives up closing the face
WORKER_STOP_SECS = 5.0


class FaceThreads:
    """One job at a time, off the event loop, with its time counted."""

    def __init__(self, threads: int, nice: int) -> None:
        """`threads`: torch threads per job thread; `nice`: how much lower the
        thinking-time thread runs (0: one thread, never niced)."""
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="avatar",
            initializer=_init_worker, initargs=(threads, 0))
        self._yielding = (ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="avatar-yield",
            initializer=_init_worker, initargs=(threads, nice)) if nice > 0 else None)
        self._job_lock = threading.Lock()  # one job at a time across the two threads
        #: frames are behind their time: jobs stop yielding the CPU
        self.behind = False
        #: worker wall time (s) spent so far (a worker process's own, see the module doc)
        self.busy_secs = 0.0
        #: CPU time of this process's job threads (s)
        self.cpu_secs = 0.0

    async def run(self, fn: Callable[..., Any], *args: Any, face: object = None,
                  thinking: bool = False) -> Any:
        """`fn(*args)` on the worker (the niced thread while `thinking` and not behind).
        `face`: the session's face backend, whose own work time counts when it is a
        worker process."""
        worker_face = face if isinstance(face, WorkerFace) else None

        def timed() -> Any:
            with self._job_lock:
                cpu, wall = time.thread_time(), time.perf_counter()
                work = worker_face.work_secs if worker_face is not None else 0.0
                try:
                    return fn(*args)
                finally:
                    self.cpu_secs += time.thread_time() - cpu
                    self.busy_secs += (worker_face.work_secs - work if worker_face is not None
                                       else time.perf_counter() - wall)

        executor = (self._yielding if thinking and self._yielding is not None
                    and not self.behind else self._executor)
        return await asyncio.get_running_loop().run_in_executor(executor, timed)

    def note_lateness(self, late_secs: float, yielding: bool) -> None:
        """A frame is `late_secs` behind its time; `yielding`: the reply is still thought
        up. Frames over BEHIND_SECS late stop the jobs yielding, and they yield no more
        until the thinking is over: the clock's rebase sets the lateness back to nothing,
        and a face that yielded again at once fell behind again, repeating its last
        image for seconds beside the LLM."""
        self.behind = late_secs > BEHIND_SECS or (self.behind and yielding)

    def shutdown(self) -> None:
        """No new jobs; a job in flight finishes (see `close_when_idle`)."""
        for executor in self._executors():
            executor.shutdown(wait=False, cancel_futures=True)

    async def close_when_idle(self, close: Callable[[], None]) -> bool:
        """Run `close` once the job in flight is done (at most WORKER_STOP_SECS).

        Closing mediapipe's landmarker under a running detection crashed the whole
        server process (a segfault in CI, tests/pipelines/test_kiosk_browser.py), and
        a worker process must not go back to its pool mid-request. Returns False when
        the job never finished: then `close` was not run (the face is left open)."""
        executors = self._executors()

        def wait_then_close() -> None:
            for executor in executors:
                executor.shutdown(wait=True)
            close()

        try:
            await asyncio.wait_for(asyncio.to_thread(wait_then_close), WORKER_STOP_SECS)
        except TimeoutError:
            logger.warning(f"avatar worker still busy after {WORKER_STOP_SECS} s: "
                           "its face is left open")
            return False
        return True

    def _executors(self) -> list[ThreadPoolExecutor]:
        return [e for e in (self._executor, self._yielding) if e is not None]


def _init_worker(threads: int, nice: int) -> None:
    """Worker initializer: torch's OpenMP thread count is per thread, so this
    sets the session's own count without touching the rest of the process; and
    lowers this thread's CPU priority by `nice` (Linux schedules threads, so the
    rest of the process keeps its own)."""
    torch.set_num_threads(threads)
    if nice > 0 and hasattr(os, "setpriority"):
        thread_id = threading.get_native_id()
        try:
            current = os.getpriority(os.PRIO_PROCESS, thread_id)
            os.setpriority(os.PRIO_PROCESS, thread_id, min(19, current + nice))
        except OSError as error:  # not Linux-like, or a sandbox that forbids it
            logger.warning(f"avatar worker: could not lower its priority by {nice}: {error}")


__all__ = ["FaceThreads", "WORKER_STOP_SECS"]
