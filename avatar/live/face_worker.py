"""One face worker process: a `LocalFace` behind a pipe, its frames in shared memory.

Why a process (issue 36): in one process the face, the voice pipeline and the
WebRTC encoders share one GIL and one heap. Beside two busy cores the face lost
half its images to contention inside our own process; the heap kept every
session's high-water mark; and a fault in native code (the renderer, torch,
mediapipe) killed every session. Here the face's CPU runs beside the pipeline,
not under its lock, its memory goes back to the system when the worker exits,
and a crash ends one worker.

The hand-over uses only the standard library:

- commands and small results (a block's motion, 58 floats a frame; a JPEG) go
  through a `multiprocessing` pipe, one request and one answer at a time;
- images go through `multiprocessing.shared_memory`: the worker draws each frame
  into the next slot of a ring and answers with the slot's number; the parent
  copies the image out (0.1 ms at 512 px) before it asks for the next one. A
  decoded camera frame goes the other way through a slot of its own.

`FaceWorker` is the parent's handle; `serve` is the worker's main loop. Workers
are started and handed out by `FaceWorkerPool` (avatar/live/face_pool.py).

A request runs at its caller's priority: a caller thread niced below its process
(the session's yielding thread while the voice models think, `[avatar] worker_nice`)
sends how far, and the worker runs that request in a thread of its own niced as far.
Without it the face's CPU, in its own process, never yielded to whisper, the
turn-end model and piper: only the parent's waiting thread was niced.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any

import numpy as np

from avatar.errors import AvatarError, FaceWorkerFailed, FaceWorkerLost
from avatar.live.face import DrawnImage, FaceShape, LocalFace
from avatar.live.video_codec import EncodedImage, VideoRequest
from avatar.portrait import Portrait
from avatar.render import Calibration

#: Image slots in the ring (one frame is in flight at a time; two keep a slot free).
RING_SLOTS = 2
#: The largest frame: 512 x 512 RGB.
SLOT_BYTES = 512 * 512 * 3
#: The camera slot: a decoded frame at most 320 px wide (ANALYSIS_WIDTH), up to 4:1 tall.
CAMERA_SLOT_BYTES = 320 * 1280 * 3
#: A worker that has not answered one request in this long is taken for hung.
CALL_TIMEOUT_SECS = 20.0
#: How long a new worker may take to load (fork, generator weights) before it is given up.
READY_TIMEOUT_SECS = 60.0
#: An error's traceback is cut to this many characters.
MAX_TRACE_CHARS = 4000


class FrameRing:
    """The shared memory of one worker: RING_SLOTS image slots, then a camera slot."""

    def __init__(self, memory: SharedMemory, owner: bool) -> None:
        self.memory = memory
        self._owner = owner

    @classmethod
    def create(cls) -> FrameRing:
        """A new ring (the parent's side: it unlinks it when the worker is done)."""
        return cls(SharedMemory(create=True, size=RING_SLOTS * SLOT_BYTES + CAMERA_SLOT_BYTES),
                   owner=True)

    @classmethod
    def attach(cls, name: str) -> FrameRing:
        """The ring the parent made (the worker's side)."""
        return cls(SharedMemory(name=name), owner=False)

    @property
    def name(self) -> str:
        return self.memory.name

    def slot(self, index: int, shape: tuple[int, ...]) -> np.ndarray:
        """Image slot `index` as an array of `shape` (a view: valid while the ring is open)."""
        return np.ndarray(shape, np.uint8, buffer=self.memory.buf, offset=index * SLOT_BYTES)

    def camera(self, shape: tuple[int, ...]) -> np.ndarray:
        """The camera slot as an array of `shape`."""
        return np.ndarray(shape, np.uint8, buffer=self.memory.buf,
                          offset=RING_SLOTS * SLOT_BYTES)

    def close(self) -> None:
        """Detach (and, on the parent's side, free) the memory; safe twice."""
        if self.memory is None:  # type: ignore[comparison-overlap]
            return
        memory, self.memory = self.memory, None  # type: ignore[assignment]
        memory.close()
        if self._owner:
            try:
                memory.unlink()
            except FileNotFoundError:
                pass


@dataclass
class CallTimes:
    """What the hand-over costs, per request, in milliseconds."""

    #: wall time of the request seen from the parent, minus the worker's own work
    hop_ms: float
    #: the worker's own time on the request
    work_ms: float


class FaceWorker:
    """The parent's handle on one worker process (thread-safe: one request at a time)."""

    def __init__(self, process: BaseProcess, conn: Connection, ring: FrameRing) -> None:
        self.process = process
        self._conn = conn
        self._ring = ring
        self._lock = threading.Lock()
        self._next_slot = 0
        self._ready = False
        #: sessions this worker has served (the pool recycles it after a bounded number)
        self.sessions = 0
        #: CPU seconds the worker spent on requests
        self.cpu_secs = 0.0
        #: the last request's costs
        self.last_call: CallTimes | None = None
        self.started_at = time.monotonic()

    @classmethod
    def launch(cls, context: BaseContext, checkpoint: Path, threads: int = 1,
               prime: Portrait | None = None,
               plates: dict[bytes, np.ndarray] | None = None) -> FaceWorker:
        """Start a worker (returns at once; `wait_ready` waits for its models).

        `prime`: the portrait most sessions show; the worker builds its renderers
        and does every first-call set-up before it says it is ready
        (`LocalFace.prime`), so a session that shows it starts in milliseconds.
        `plates`: background plates made already (`PLATES.finished()`)."""
        ring = FrameRing.create()
        parent_end, child_end = context.Pipe(duplex=True)
        process = context.Process(  # type: ignore[attr-defined]
            target=serve, name="avatar-face", daemon=True,
            args=(child_end, ring.name, str(checkpoint), threads, prime, plates or {}))
        try:
            process.start()
        except BaseException:
            ring.close()
            raise
        child_end.close()  # the worker holds the only other end: EOF if it dies
        return cls(process, parent_end, ring)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECS) -> None:
        """Block until the worker has loaded its models.

        Raises:
            FaceWorkerLost: it died, or took longer than `timeout`.
        """
        if self._ready:
            return
        with self._lock:
            reply = self._receive(timeout, "starting")
        if reply[0] != "ready":
            raise FaceWorkerLost(f"the face worker failed to start: {reply[1]}")
        self._ready = True

    # ------------------------------------------------------------------ requests
    def call(self, method: str, *args: Any, timeout: float = CALL_TIMEOUT_SECS) -> Any:
        """Run `method` in the worker and return its result.

        Raises:
            AvatarError: the worker refused the input on purpose (e.g. a bad camera
                frame): the same exception as in-process, the worker is fine.
            FaceWorkerFailed: any other exception in the worker.
            FaceWorkerLost: the worker died or did not answer within `timeout`.
        """
        self.wait_ready()
        with self._lock:
            started = time.perf_counter()
            try:
                self._conn.send((method, args, caller_nice()))
            except (OSError, ValueError) as error:  # broken pipe: it is gone
                raise FaceWorkerLost(f"the face worker (pid {self.pid}) is gone: "
                                     f"{error}") from error
            reply = self._receive(timeout, method)
            wall_ms = (time.perf_counter() - started) * 1000.0
        status = reply[0]
        if status == "ok":
            _, result, cpu_secs, work_ms = reply
            self.cpu_secs += cpu_secs
            self.last_call = CallTimes(hop_ms=max(0.0, wall_ms - work_ms), work_ms=work_ms)
            return result
        if status == "refused":
            raise reply[1]
        raise FaceWorkerFailed(f"the face worker (pid {self.pid}) failed in {method}: "
                               f"{reply[1]}")

    def _receive(self, timeout: float, doing: str) -> tuple[Any, ...]:
        try:
            if not self._conn.poll(timeout):
                self.kill()
                raise FaceWorkerLost(f"the face worker (pid {self.pid}) did not answer "
                                     f"{doing} within {timeout:.0f} s: stopped")
            reply: tuple[Any, ...] = self._conn.recv()
        except (EOFError, OSError) as error:
            self.process.join(1.0)
            raise FaceWorkerLost(f"the face worker (pid {self.pid}) died (exit code "
                                 f"{self.process.exitcode}) while {doing}") from error
        return reply

    # ---------------------------------------------------------------- the face
    def start(self, portrait: Portrait, size: int, calibration: Calibration | None,
              seed: int) -> FaceShape:
        shape: FaceShape = self.call("start", portrait, size, calibration, seed)
        return shape

    def draw(self, motion: np.ndarray, size: int, jpeg_quality: int,
             video: VideoRequest | None = None) -> DrawnImage:
        """The frame, copied out of the ring (its slot is free once this returns); its
        JPEG and video frame come by pipe (a few KB)."""
        slot = self._next_slot
        self._next_slot = (slot + 1) % RING_SLOTS
        shape, jpeg, draw_ms, encoded = self.call("draw_into", slot, motion, size,
                                                  jpeg_quality, video)
        return DrawnImage(self._ring.slot(slot, shape).copy(), jpeg, draw_ms, encoded)

    def analyze_rgb(self, rgb: np.ndarray, timestamp_ms: int) -> np.ndarray | None:
        """The camera frame goes through the ring's camera slot (the lock keeps the
        slot for this request until it is answered)."""
        rgb = np.ascontiguousarray(rgb, np.uint8)
        if rgb.nbytes > CAMERA_SLOT_BYTES:  # a very tall frame: by pipe (rare)
            motion: np.ndarray | None = self.call("analyze_rgb", rgb, timestamp_ms)
            return motion
        with self._lock:  # nobody else writes the slot while this request runs
            self._ring.camera(rgb.shape)[:] = rgb
        motion = self.call("analyze_camera_slot", rgb.shape, timestamp_ms)
        return motion

    def inject_fault(self, kind: str) -> None:
        """Fault injection for containment tests and benches: "raise" makes the
        worker's next drawing raise, "exit" makes it die at its next drawing."""
        self.call("inject_fault", kind)

    # --------------------------------------------------------------- lifecycle
    def stop(self, timeout: float = 2.0) -> None:
        """Ask the worker to exit; kill it if it does not; free the ring (safe twice)."""
        if self.process.is_alive():
            try:
                with self._lock:
                    self._conn.send(("exit", ()))
            except (OSError, ValueError):
                pass
            self.process.join(timeout)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the worker (if alive) and free the ring (safe twice)."""
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2.0)
        self._conn.close()
        self._ring.close()


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


# ------------------------------------------------------------------- worker side
class _NicedThreads:
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
        for pool in self._pools.values():
            pool.shutdown(wait=True)


class _WorkerFace:
    """The worker's request handlers: a `LocalFace` plus the ring."""

    def __init__(self, face: LocalFace, ring: FrameRing) -> None:
        self.face = face
        self.ring = ring
        self.fault: str | None = None

    def start(self, portrait: Portrait, size: int, calibration: Calibration | None,
              seed: int) -> FaceShape:
        return self.face.start(portrait, size, calibration, seed)

    def draw_into(self, slot: int, motion: np.ndarray, size: int, jpeg_quality: int,
                  video: VideoRequest | None = None,
                  ) -> tuple[tuple[int, ...], bytes | None, float, EncodedImage | None]:
        if self.fault == "exit":
            os._exit(70)  # a crash without Python's clean-up, as a native fault looks
        if self.fault == "raise":
            self.fault = None
            raise RuntimeError("fault injected: the drawing raised")
        drawn = self.face.draw(motion, size, jpeg_quality, video)
        self.ring.slot(slot, drawn.image.shape)[:] = drawn.image
        return drawn.image.shape, drawn.jpeg, drawn.draw_ms, drawn.video

    def analyze_camera_slot(self, shape: tuple[int, ...], timestamp_ms: int) -> np.ndarray | None:
        return self.face.analyze_rgb(self.ring.camera(shape).copy(), timestamp_ms)

    def inject_fault(self, kind: str) -> None:
        if kind not in ("raise", "exit"):
            raise ValueError(f"unknown fault {kind!r}: 'raise' or 'exit'")
        self.fault = kind

    def thread_nice(self) -> int:
        """How far the thread answering this request is niced below the process (for
        tests and benches, like `inject_fault`)."""
        return caller_nice()

    def handler(self, method: str) -> Any:
        """The handler of `method`: ours first, then the face's own methods."""
        if method in ("start", "draw_into", "analyze_camera_slot", "inject_fault",
                      "thread_nice"):
            return getattr(self, method)
        if method in ("set_size", "set_calibration", "calibration", "step", "analyze_jpeg",
                      "analyze_rgb", "close"):
            return getattr(self.face, method)
        raise ValueError(f"the face worker has no request {method!r}")


def serve(conn: Connection, ring_name: str, checkpoint: str, threads: int,
          prime: Portrait | None = None, plates: dict[bytes, np.ndarray] | None = None) -> None:
    """The worker's main loop: load, say "ready", then answer requests until "exit"
    or until the parent's end of the pipe closes (the parent died)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    import cv2
    import torch

    from avatar.generator.checkpoint import load_generator
    from avatar.render.layers import PLATES

    torch.set_num_threads(threads)
    cv2.setNumThreads(1)
    ring = FrameRing.attach(ring_name)
    try:
        generator = load_generator(checkpoint)
        generator.model.eval()
        PLATES.seed(plates or {})
        face = LocalFace(generator)
        if prime is not None:
            with torch.inference_mode():
                face.prime(prime)
        worker = _WorkerFace(face, ring)
    except Exception as error:
        conn.send(("failed", f"{type(error).__name__}: {error}"))
        ring.close()
        return
    conn.send(("ready", os.getpid()))
    niced = _NicedThreads(threads)

    def answer(method: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """One request in the calling thread: its reply (the work's own CPU and time)."""
        started, cpu = time.perf_counter(), time.thread_time()
        with torch.inference_mode():  # per thread, like torch's thread count
            try:
                result = worker.handler(method)(*args)
            except AvatarError as error:  # refused on purpose: the caller's problem
                return ("refused", error)
            except Exception as error:
                trace = traceback.format_exc()[-MAX_TRACE_CHARS:]
                return ("failed", f"{type(error).__name__}: {error}\n{trace}")
        return ("ok", result, time.thread_time() - cpu, (time.perf_counter() - started) * 1000.0)

    while True:
        try:
            method, args, *rest = conn.recv()
        except (EOFError, OSError):
            break
        if method == "exit":
            break
        nice = int(rest[0]) if rest else 0
        conn.send(answer(method, args) if nice <= 0 else
                  niced.run(nice, answer, method, args))
    niced.close()
    worker.face.close()
    ring.close()


__all__ = ["CallTimes", "FaceWorker", "FrameRing", "caller_nice", "serve"]
