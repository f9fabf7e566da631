"""Warm face workers for a server's sessions, and the session's side of one.

`FaceWorkerPool` starts workers (avatar/live/face_worker.py) before sessions
arrive, so the time from connect to first frame does not grow by a worker's
start-up. Workers fork from `multiprocessing`'s fork server, which imports
torch, OpenCV and mediapipe once (seconds) and then forks a ready interpreter
in milliseconds; each worker then loads the generator's 3 MB of weights.

A worker has `faces_per_worker` slots, one session each. A session takes a free
slot (`acquire`: on the busiest worker that has one, so workers fill before new
ones are used) and gives it back when it ends (`release`). A worker takes
`sessions_per_worker` sessions per slot, then exits when its last session ends,
and a fresh one takes its place: the pages its sessions touched go back to the
system (allocator high-water marks only a process's exit returns).

`WorkerFace` is the session's `FaceBackend`. When its worker dies (a kill, a
crash in native code) or stops answering, or a request raises where it should
not, it takes a fresh slot, replays the session's portrait, size and render table,
and retries the request once: the session loses the generator's memory of the
last seconds (motion restarts from the portrait's reference), never its queued
reply audio. `restarts` counts this, so the caller can tell its client.

    pool = FaceWorkerPool(checkpoint_path, warm=2)   # at server start
    face = WorkerFace(pool)                          # per session
    session = AvatarSession(portrait, None, output_rate=24000, face=face)
    ...
    session.close()                                  # the slot goes back to the pool
    pool.close()                                     # at server stop
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from avatar.errors import FaceWorkerFailed, FaceWorkerLost
from avatar.live.face import DrawnImage, FaceShape
from avatar.live.face_worker import READY_TIMEOUT_SECS, FaceChannel, FaceProcess
from avatar.live.video_codec import VideoRequest
from avatar.portrait import Portrait
from avatar.render import Calibration, PortraitRenderer
from avatar.render.layers import PLATES

_log = logging.getLogger(__name__)
T = TypeVar("T")

#: Modules the fork server imports once, so each worker starts with them loaded.
PRELOAD = ["avatar.live.face_worker", "avatar.generator.checkpoint", "avatar.render",
           "avatar.face_analysis"]
#: the longest `close` waits for a worker launch under way (the first one starts the
#: fork server, which imports PRELOAD: seconds on a small machine)
LAUNCH_WAIT_SECS = 15.0
#: How far a spare's start-up (the generator's load, its traced step, the prime
#: portrait's renderers: seconds of a core) is niced below the threads that serve
#: sessions: a worker started to keep a slot warm beside live sessions takes the CPU
#: their frames leave. A worker a session waits for (a cold start) is not niced: on a
#: busy machine it would outlast the client's wait for its welcome.
WARM_START_NICE = 10


@dataclass
class PoolCounters:
    """What the pool did (the server's /healthz and the benches read it)."""

    started: int = 0  # worker processes launched
    handed_out: int = 0  # sessions given a worker slot
    recycled: int = 0  # slots given back and kept for another session
    retired: int = 0  # worker processes stopped after their sessions (memory returned)
    lost: int = 0  # worker processes that died, hung or failed while a session used them
    cold_waits: int = 0  # sessions that found no warm slot and waited for a new process


class FaceWorkerPool:
    """Warm face worker processes, each serving up to `faces_per_worker` sessions at
    once on a channel of its own (thread-safe)."""

    def __init__(self, checkpoint: Path, *, warm: int = 1, sessions_per_worker: int = 1,
                 threads: int = 1, prime: Portrait | None = None,
                 start_method: str = "forkserver", faces_per_worker: int = 1,
                 serial: bool = False, batch_steps: bool = True) -> None:
        """`warm`: free session slots kept ready; `faces_per_worker`: sessions one
        process draws at once (1: a process per session, the strictest isolation);
        `sessions_per_worker`: sessions each of a process's slots serves before the
        process is retired when its last session ends (1: every session's memory
        goes back to the system); `threads`: torch threads per session;
        `prime`: the portrait most sessions show, made ready in each worker before
        it is handed out (`LocalFace.prime`); `serial`: a process answers its
        sessions' requests one at a time instead of in a thread per session;
        `batch_steps`: a process's sessions whose generator steps fall due together
        step in one batched pass (avatar/live/step_batcher.py; with
        `faces_per_worker` > 1, not `serial`)."""
        if warm < 0 or sessions_per_worker < 1 or threads < 1 or faces_per_worker < 1:
            raise ValueError("warm >= 0, and sessions_per_worker, threads and "
                             "faces_per_worker >= 1")
        self.checkpoint = Path(checkpoint)
        if not self.checkpoint.is_file():
            raise FileNotFoundError(f"generator checkpoint {self.checkpoint} does not exist")
        self.warm = warm
        self.sessions_per_worker = sessions_per_worker
        self.faces_per_worker = faces_per_worker
        self.threads = threads
        self.prime = prime
        self.serial = serial
        self.batch_steps = batch_steps
        #: the prime portrait's background plates, made once here for every worker
        self._plates: dict[bytes, np.ndarray] = {}
        if prime is not None:
            self._plates = prime_plates(prime)
        self._context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self._context.set_forkserver_preload(PRELOAD)  # type: ignore[attr-defined]
        self._processes: list[FaceProcess] = []  # ready, not retired
        self._free: list[FaceChannel] = []  # slots of ready processes no session holds
        self._busy: set[FaceChannel] = set()
        #: processes launched and not yet ready (not in `_processes`): stopped on close
        self._launched: set[FaceProcess] = set()
        self._launching = 0  # launches under way (a first one starts the forkserver: seconds)
        self._cond = threading.Condition()
        self._closed = False
        self._close_took_processes = False  # `close` has gathered the processes to stop
        self._retiring: list[threading.Thread] = []
        self.counters = PoolCounters()
        self._keeper = threading.Thread(target=self._keep_warm, name="face-pool", daemon=True)
        self._keeper.start()

    # ---------------------------------------------------------------- sessions
    def acquire(self, timeout: float = READY_TIMEOUT_SECS) -> FaceChannel:
        """A ready slot for a new session: a warm one at once (on the busiest process
        that has one, so processes fill before new ones are used), else a new process.

        Raises:
            FaceWorkerLost: no worker could be started within `timeout`.
            RuntimeError: the pool is closed.
        """
        with self._cond:
            if self._closed:
                raise RuntimeError("the face worker pool is closed")
            channel = self._take_free()
            self._cond.notify_all()  # the keeper tops the free slots up
        if channel is None:
            self.counters.cold_waits += 1
            channel = self._start_cold(timeout)
        with self._cond:
            channel.owner.sessions += 1
            self._busy.add(channel)
            self.counters.handed_out += 1
        return channel

    def release(self, channel: FaceChannel, *, healthy: bool = True) -> None:
        """A session is done with `channel`: keep the slot for another session while its
        process has sessions left and is healthy; a process whose last session ends
        with no sessions left, or that failed, is stopped (in the background)."""
        process = channel.owner
        with self._cond:
            self._busy.discard(channel)
            if not healthy:
                if not process.lost:
                    self.counters.lost += 1
                process.lost = True
            usable = (healthy and not process.lost and not self._closed and process.alive
                      and process.sessions < self._quota())
            if usable:  # first in line: its sessions are used up before a fresh one's
                self._free.insert(0, channel)
                self.counters.recycled += 1
            in_use = any(c in self._busy for c in process.channels)
            retire = not usable and not in_use and process in self._processes
            if retire:
                self._processes.remove(process)
                self._free = [c for c in self._free if c.owner is not process]
                if healthy and not process.lost:
                    self.counters.retired += 1
            if retire:  # listed before the lock is let go: `close` joins it
                stop = threading.Thread(target=process.stop, name="face-retire", daemon=True)
                self._retiring = [t for t in self._retiring if t.is_alive()] + [stop]
            self._cond.notify_all()
        if retire:
            stop.start()

    def worker_pids(self) -> list[int]:
        """Every worker process's id, idle and busy (memory benches sum their RSS)."""
        with self._cond:
            processes = list(self._processes) + [c.owner for c in self._busy]
        return sorted({p.pid for p in processes if p.pid is not None and p.alive})

    @property
    def idle(self) -> int:
        """Free session slots on ready processes."""
        with self._cond:
            return len(self._free)

    def wait_warm(self, timeout: float = READY_TIMEOUT_SECS) -> bool:
        """Block until `warm` slots are free and ready (start-up, tests)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._free) < self.warm:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        """Stop every worker (server shutdown); safe twice."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            # a launch under way hands its worker over first (else the worker outlives
            # this process, writes "ready" to a closed pipe and leaves its memory behind)
            self._cond.wait_for(lambda: self._launching == 0, LAUNCH_WAIT_SECS)
            processes = (set(self._processes) | {c.owner for c in self._busy}
                         | self._launched)
            self._close_took_processes = True  # a launch that ends later stops its own
            self._launched.clear()
            self._processes.clear()
            self._free.clear()
            self._busy.clear()
            self._cond.notify_all()
        for process in processes:
            process.stop(timeout=1.0)
        for thread in self._retiring:
            thread.join(3.0)

    @property
    def steps_batched(self) -> bool:
        """A worker's sessions step their generator blocks together when due together
        (`batch_steps` with several faces a worker, each answered in its own thread)."""
        return self.batch_steps and self.faces_per_worker > 1 and not self.serial

    # --------------------------------------------------------------- internals
    def _quota(self) -> int:
        """Sessions one process is handed before it takes no more."""
        return self.sessions_per_worker * self.faces_per_worker

    def _take_free(self) -> FaceChannel | None:
        """A free slot of a live process with sessions left, the busiest first (the
        caller holds the lock); dead processes' slots are dropped on the way."""
        self._free = [c for c in self._free if c.owner.alive and not c.owner.lost]
        candidates = [c for c in self._free if c.owner.sessions < self._quota()]
        if not candidates:
            return None
        load = {p: sum(c.owner is p for c in self._busy) for p in self._processes}
        channel = max(candidates, key=lambda c: load.get(c.owner, 0))
        self._free.remove(channel)
        return channel

    def _launch(self, start_nice: int = 0) -> FaceProcess:
        """A new worker process, counted and kept in `_launched` until it is ready and
        taken into `_processes` (or `close` stops it: a server that ends while a worker
        starts leaves no orphan to write to a closed pipe, and no shared memory behind)."""
        with self._cond:
            self._launching += 1
        process: FaceProcess | None = None
        try:
            process = FaceProcess.launch(self._context, self.checkpoint, self.threads,
                                         self.prime, self._plates, slots=self.faces_per_worker,
                                         serial=self.serial, batch_steps=self.batch_steps,
                                         start_nice=start_nice)
        finally:
            # the launch ends and its worker is handed over in one step: `close`, which
            # waits for `_launching` to reach 0, then finds it in `_launched` and stops it
            # itself (were it stopped here, after `close` returned, the server could end
            # first and leave the worker's ring behind)
            with self._cond:
                self._launching -= 1
                closed, orphaned = self._closed, self._close_took_processes
                if process is not None:
                    self.counters.started += 1
                    if not orphaned:
                        self._launched.add(process)
                self._cond.notify_all()
        if orphaned:  # `close` gave up waiting for this launch (LAUNCH_WAIT_SECS)
            process.kill()
        if closed:  # (else `close` stops it, with the others, before it returns)
            raise RuntimeError("the face worker pool is closed")
        return process

    def _start_cold(self, timeout: float) -> FaceChannel:
        """Launch a process for a session that found no free slot; its other slots
        become free ones."""
        process = self._launch()
        try:
            process.wait_ready(timeout)
        except FaceWorkerLost:
            self._forget(process)
            raise
        with self._cond:
            self._launched.discard(process)
            self._processes.append(process)
            self._free.extend(process.channels[1:])
            self._cond.notify_all()
        return process.channels[0]

    def _forget(self, process: FaceProcess) -> None:
        """A launched process that did not come up (or the pool closed): killed."""
        with self._cond:
            self._launched.discard(process)
        process.kill()

    def _keep_warm(self) -> None:
        """The keeper thread: start processes, one at a time, until `warm` slots are free."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or len(self._free) < self.warm)
                if self._closed:
                    return
            process = None
            try:
                process = self._launch(WARM_START_NICE)
                process.wait_ready()
            except Exception as error:  # a worker that cannot start: log, wait, retry
                if process is not None:
                    self._forget(process)
                if self._closed:
                    return
                _log.error("a face worker could not start: %s", error)
                time.sleep(5.0)
                continue
            with self._cond:
                self._launched.discard(process)
                closing = self._closed
                if not closing:
                    self._processes.append(process)
                    self._free.extend(process.channels)
                    self._cond.notify_all()
            if closing:
                process.stop()
                return


def prime_plates(portrait: Portrait, sizes: tuple[int, ...] = (512, 256),
                 timeout: float = 120.0) -> dict[bytes, np.ndarray]:
    """`portrait`'s background plates at `sizes`, made in this process (once per
    server: seconds of a core each, which every worker would otherwise spend)."""
    for size in sizes:
        renderer = PortraitRenderer(portrait, size)
        if not renderer.plate_ready.wait(timeout):
            _log.warning("the %d px background plate took over %.0f s", size, timeout)
    return PLATES.finished()


def with_worker_face(pool: FaceWorkerPool | None, build: Callable[[WorkerFace | None], T]) -> T:
    """`build(face)` with a fresh `WorkerFace` on `pool` (None: no pool, the face runs
    in process); if the build fails, the face's worker goes back to the pool."""
    face = WorkerFace(pool) if pool is not None else None
    try:
        return build(face)
    except BaseException:
        if face is not None:
            face.close()
        raise


class WorkerFace:
    """A session's `FaceBackend` in a pooled worker process (see the module docstring)."""

    def __init__(self, pool: FaceWorkerPool,
                 on_restart: Callable[[str], None] | None = None) -> None:
        """`on_restart(reason)`: called (in the calling thread) after a lost worker
        was replaced; the request that met the loss is retried once."""
        self._pool = pool
        self._worker: FaceChannel | None = None
        #: called (in the calling thread) with the reason after a lost worker was replaced
        self.on_restart = on_restart
        #: the session's state a fresh worker is given: start(), then its size and table
        self._started: tuple[Portrait, int, Calibration | None, int] | None = None
        self._size: int | None = None
        self._calibration: Calibration | None = None
        #: workers replaced after a loss, and why the last one was
        self.restarts = 0
        self.last_loss = ""
        self._cpu_done = 0.0  # CPU seconds of the workers this face has let go
        #: wall seconds the workers spent on this face's requests, measured in the
        #: worker: what the session's level costs on this machine, waits for a core
        #: included, without the pipe or the server process's own waits
        self.work_secs = 0.0
        self._hops: deque[float] = deque(maxlen=500)

    @property
    def worker(self) -> FaceChannel:
        """The worker slot in use (taken from the pool on first use)."""
        if self._worker is None:
            self._worker = self._pool.acquire()
        return self._worker

    @property
    def pid(self) -> int | None:
        return None if self._worker is None else self._worker.pid

    @property
    def steps_batched(self) -> bool:
        return self._pool.steps_batched

    @property
    def cpu_secs(self) -> float:
        """CPU seconds the session's workers spent on its requests."""
        return self._cpu_done + (0.0 if self._worker is None else self._worker.cpu_secs)

    def hop_ms(self) -> list[float]:
        """The hand-over's own time (request wall time minus the worker's work) of the
        last requests, ms."""
        return list(self._hops)

    # ------------------------------------------------------------ the face
    def start(self, portrait: Portrait, size: int, calibration: Calibration | None,
              seed: int) -> FaceShape:
        self._started = (portrait, size, calibration, seed)
        self._size, self._calibration = None, calibration
        shape: FaceShape = self._request(lambda w: w.start(portrait, size, calibration, seed))
        return shape

    def set_size(self, size: int) -> Calibration:
        self._size = size
        table: Calibration = self._request(lambda w: w.call("set_size", size))
        self._calibration = table
        return table

    def set_calibration(self, calibration: Calibration) -> None:
        self._calibration = calibration
        self._request(lambda w: w.call("set_calibration", calibration))

    def calibration(self) -> Calibration:
        table: Calibration = self._request(lambda w: w.call("calibration"))
        return table

    def step(self, avatar: np.ndarray, user_audio: np.ndarray, user_motion: np.ndarray,
             present: np.ndarray) -> np.ndarray:
        motion: np.ndarray = self._request(
            lambda w: w.call("step", avatar, user_audio, user_motion, present))
        return motion

    def draw(self, motion: np.ndarray, size: int, jpeg_quality: int,
             video: VideoRequest | None = None) -> DrawnImage:
        drawn: DrawnImage = self._request(lambda w: w.draw(motion, size, jpeg_quality, video))
        return drawn

    def analyze_jpeg(self, data: bytes, timestamp_ms: int) -> np.ndarray | None:
        motion: np.ndarray | None = self._request(
            lambda w: w.call("analyze_jpeg", data, timestamp_ms))
        return motion

    def analyze_rgb(self, rgb: np.ndarray, timestamp_ms: int) -> np.ndarray | None:
        motion: np.ndarray | None = self._request(lambda w: w.analyze_rgb(rgb, timestamp_ms))
        return motion

    def inject_fault(self, kind: str) -> None:
        """Fault injection (tests, benches): see `FaceChannel.inject_fault`."""
        self.worker.inject_fault(kind)

    def close(self) -> None:
        """Give the worker back to the pool (safe twice)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            self._cpu_done += worker.cpu_secs
            self._pool.release(worker)

    # ----------------------------------------------------------- containment
    def _request(self, run: Callable[[FaceChannel], T]) -> T:
        """Run a request; after a lost or failed worker, replace it and retry once."""
        worker = self.worker
        try:
            result = run(worker)
        except (FaceWorkerLost, FaceWorkerFailed) as error:
            self._replace(worker, error)
            worker = self.worker
            result = run(worker)
        if worker.last_call is not None:
            self._hops.append(worker.last_call.hop_ms)
            self.work_secs += worker.last_call.work_ms / 1000.0
        return result

    def _replace(self, lost: FaceChannel, error: Exception) -> None:
        """Give up `lost`, take a fresh slot and give it the session's state. A dead or
        hung process is killed (its other sessions move too, at their next request);
        one that raised keeps serving its other sessions and retires when they end."""
        reason = str(error).splitlines()[0]
        _log.warning("face worker replaced: %s", reason)
        self._cpu_done += lost.cpu_secs
        if isinstance(error, FaceWorkerLost) or self._pool.faces_per_worker == 1:
            lost.kill()
        self._pool.release(lost, healthy=False)
        self._worker = None
        self.restarts += 1
        self.last_loss = reason
        fresh = self.worker
        if self._started is not None:
            portrait, size, _, seed = self._started
            fresh.start(portrait, self._size or size, self._calibration, seed)
        if self.on_restart is not None:
            self.on_restart(reason)


__all__ = ["WARM_START_NICE", "FaceWorkerPool", "PoolCounters", "WorkerFace", "with_worker_face"]
