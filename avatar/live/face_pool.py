"""Warm face workers for a server's sessions, and the session's side of one.

`FaceWorkerPool` starts workers (avatar/live/face_worker.py) before sessions
arrive, so the time from connect to first frame does not grow by a worker's
start-up. Workers fork from `multiprocessing`'s fork server, which imports
torch, OpenCV and mediapipe once (seconds) and then forks a ready interpreter
in milliseconds; each worker then loads the generator's 3 MB of weights. A
session takes an idle worker (`acquire`) and gives it back when it ends
(`release`): by default the worker then exits and a fresh one takes its place,
so every page a session touched goes back to the system (issue 27's creep
was allocator high-water marks that only a process's exit returns).

`WorkerFace` is the session's `FaceBackend`. When its worker dies (a kill, a
crash in native code), stops answering, or raises where it should not, it takes
a fresh worker from the pool, replays the session's portrait, size and render
table, and retries the request once: the session loses the generator's memory
of the last seconds (motion restarts from the portrait's reference), never its
queued reply audio. `restarts` counts this, so the caller can tell its client.

    pool = FaceWorkerPool(checkpoint_path, warm=2)   # at server start
    face = WorkerFace(pool)                          # per session
    session = AvatarSession(portrait, None, output_rate=24000, face=face)
    ...
    session.close()                                  # the worker goes back to the pool
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
from avatar.live.face_worker import READY_TIMEOUT_SECS, FaceWorker
from avatar.live.video_codec import VideoRequest
from avatar.portrait import Portrait
from avatar.render import Calibration, PortraitRenderer
from avatar.render.layers import PLATES

_log = logging.getLogger(__name__)
T = TypeVar("T")

#: Modules the fork server imports once, so each worker starts with them loaded.
PRELOAD = ["avatar.live.face_worker", "avatar.generator.checkpoint", "avatar.render",
           "avatar.face_analysis"]


@dataclass
class PoolCounters:
    """What the pool did (the server's /healthz and the benches read it)."""

    started: int = 0  # workers launched
    handed_out: int = 0  # sessions given a worker
    recycled: int = 0  # workers given back and kept for another session
    retired: int = 0  # workers stopped after their sessions (memory returned)
    lost: int = 0  # workers that died, hung or failed while a session used them
    cold_waits: int = 0  # sessions that found no warm worker and waited for one


class FaceWorkerPool:
    """Warm face workers, handed to sessions one each (thread-safe)."""

    def __init__(self, checkpoint: Path, *, warm: int = 1, sessions_per_worker: int = 1,
                 threads: int = 1, prime: Portrait | None = None,
                 start_method: str = "forkserver") -> None:
        """`warm`: idle workers kept ready; `sessions_per_worker`: sessions a worker
        serves before it is retired (1: a fresh process per session); `threads`:
        torch threads in each worker; `prime`: the portrait most sessions show, made
        ready in each worker before it is handed out (`LocalFace.prime`)."""
        if warm < 0 or sessions_per_worker < 1 or threads < 1:
            raise ValueError("warm >= 0, sessions_per_worker >= 1 and threads >= 1")
        self.checkpoint = Path(checkpoint)
        if not self.checkpoint.is_file():
            raise FileNotFoundError(f"generator checkpoint {self.checkpoint} does not exist")
        self.warm = warm
        self.sessions_per_worker = sessions_per_worker
        self.threads = threads
        self.prime = prime
        #: the prime portrait's background plates, made once here for every worker
        self._plates: dict[bytes, np.ndarray] = {}
        if prime is not None:
            self._plates = prime_plates(prime)
        self._context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self._context.set_forkserver_preload(PRELOAD)  # type: ignore[attr-defined]
        self._idle: deque[FaceWorker] = deque()
        self._starting = 0
        self._busy: set[FaceWorker] = set()
        self._cond = threading.Condition()
        self._closed = False
        self._retiring: list[threading.Thread] = []
        self.counters = PoolCounters()
        self._keeper = threading.Thread(target=self._keep_warm, name="face-pool", daemon=True)
        self._keeper.start()

    # ---------------------------------------------------------------- sessions
    def acquire(self, timeout: float = READY_TIMEOUT_SECS) -> FaceWorker:
        """A ready worker for a new session: a warm one at once, else a new one.

        Raises:
            FaceWorkerLost: no worker could be started within `timeout`.
            RuntimeError: the pool is closed.
        """
        with self._cond:
            if self._closed:
                raise RuntimeError("the face worker pool is closed")
            worker = self._idle.popleft() if self._idle else None
            self._cond.notify_all()  # the keeper tops the idle workers up
        if worker is None:
            self.counters.cold_waits += 1
            worker = self._launch()
        try:
            worker.wait_ready(timeout)
        except FaceWorkerLost:
            worker.kill()
            raise
        if not worker.alive:  # died while idle: try once more with a new one
            worker.kill()
            worker = self._launch()
            worker.wait_ready(timeout)
        worker.sessions += 1
        with self._cond:
            self._busy.add(worker)
            self.counters.handed_out += 1
        return worker

    def release(self, worker: FaceWorker, *, healthy: bool = True) -> None:
        """A session is done with `worker`: keep it for another session while it has
        sessions left and is healthy, else stop it (in the background)."""
        with self._cond:
            self._busy.discard(worker)
            keep = (healthy and not self._closed and worker.alive
                    and worker.sessions < self.sessions_per_worker)
            if keep:  # first in line: its sessions are used up before a fresh one's
                self._idle.appendleft(worker)
                self.counters.recycled += 1
            elif healthy:
                self.counters.retired += 1
            else:
                self.counters.lost += 1
            self._cond.notify_all()
        if not keep:
            retire = threading.Thread(target=worker.stop, name="face-retire", daemon=True)
            with self._cond:
                self._retiring = [t for t in self._retiring if t.is_alive()] + [retire]
            retire.start()

    def worker_pids(self) -> list[int]:
        """Every worker's process id, idle and busy (memory benches sum their RSS)."""
        with self._cond:
            workers = list(self._idle) + list(self._busy)
        return [w.pid for w in workers if w.pid is not None and w.alive]

    @property
    def idle(self) -> int:
        with self._cond:
            return len(self._idle)

    def wait_warm(self, timeout: float = READY_TIMEOUT_SECS) -> bool:
        """Block until `warm` workers are idle and ready (start-up, tests)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._idle) < self.warm:
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
            workers = list(self._idle) + list(self._busy)
            self._idle.clear()
            self._busy.clear()
            self._cond.notify_all()
        for worker in workers:
            worker.stop(timeout=1.0)
        for thread in self._retiring:
            thread.join(3.0)

    # --------------------------------------------------------------- internals
    def _launch(self) -> FaceWorker:
        worker = FaceWorker.launch(self._context, self.checkpoint, self.threads, self.prime,
                                   self._plates)
        with self._cond:
            self.counters.started += 1
        return worker

    def _keep_warm(self) -> None:
        """The keeper thread: start workers, one at a time, until `warm` are idle."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or len(self._idle) < self.warm)
                if self._closed:
                    return
            worker = None
            try:
                worker = self._launch()
                worker.wait_ready()
            except Exception as error:  # a worker that cannot start: log, wait, retry
                if worker is not None:
                    worker.kill()
                if self._closed:
                    return
                _log.error("a face worker could not start: %s", error)
                time.sleep(5.0)
                continue
            with self._cond:
                if self._closed:
                    closing = True
                else:
                    closing = False
                    self._idle.append(worker)
                    self._cond.notify_all()
            if closing:
                worker.stop()
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
        self._worker: FaceWorker | None = None
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
    def worker(self) -> FaceWorker:
        """The worker in use (taken from the pool on first use)."""
        if self._worker is None:
            self._worker = self._pool.acquire()
        return self._worker

    @property
    def pid(self) -> int | None:
        return None if self._worker is None else self._worker.pid

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
        """Fault injection (tests, benches): see `FaceWorker.inject_fault`."""
        self.worker.inject_fault(kind)

    def close(self) -> None:
        """Give the worker back to the pool (safe twice)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            self._cpu_done += worker.cpu_secs
            self._pool.release(worker)

    # ----------------------------------------------------------- containment
    def _request(self, run: Callable[[FaceWorker], T]) -> T:
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

    def _replace(self, lost: FaceWorker, error: Exception) -> None:
        """Retire `lost`, take a fresh worker and give it the session's state."""
        reason = str(error).splitlines()[0]
        _log.warning("face worker replaced: %s", reason)
        self._cpu_done += lost.cpu_secs
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


__all__ = ["FaceWorkerPool", "PoolCounters", "WorkerFace", "with_worker_face"]
