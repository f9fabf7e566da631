"""A face worker process: `LocalFace`s behind pipes, their frames in shared memory.

Why a process: beside the voice pipeline, the face would share one interpreter
lock and one heap with it, and a fault in native code (the renderer, torch,
mediapipe) would end every session. In a worker the face's CPU runs beside the
pipeline, its memory goes back to the system when the worker exits, and a crash
ends only that worker (docs/LIVE_AVATAR.md).

One process draws for up to `slots` sessions at once. They share what a process
loads (the generator's weights, the background plates, torch, OpenCV, numba and
mediapipe runtimes); each session has its own `LocalFace`, its own channel and a
thread in the worker, so one session's slow request never queues behind
another's. A crash of the process ends all of its sessions (they are moved to a
fresh worker at their next request); a request that raises ends only its own.

A channel uses only the standard library:

- commands and small results (a block's motion, 58 floats a frame; a JPEG) go
  through a `multiprocessing` pipe, one request and one answer at a time;
- images go through `multiprocessing.shared_memory`: the worker draws each frame
  into the next slot of the channel's ring and answers with the slot's number; the
  parent copies the image out (0.1 ms at 512 px) before it asks for the next one.
  A decoded camera frame goes the other way through a slot of its own.

`FaceProcess` is the parent's handle on a worker, `FaceChannel` one session's line
to it, and `serve` the worker's main. Workers are started and handed out by
`FaceWorkerPool` (avatar/live/face_pool.py).

A request runs at its caller's priority: a caller thread niced below its process
(the session's yielding thread while the voice models think, `[avatar] worker_nice`)
sends how far, and the worker runs that request in a thread of its own niced as far,
so the face yields to whisper, the turn-end model and piper.
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


class FaceProcess:
    """The parent's handle on one worker process and its channels, one per session slot."""

    def __init__(self, process: BaseProcess, channels: list[FaceChannel]) -> None:
        self.process = process
        self.channels = channels
        self._ready = False
        self._ready_lock = threading.Lock()
        #: sessions this process has been handed (the pool retires it after its quota)
        self.sessions = 0
        #: set once a session met this process dead, hung or failing
        self.lost = False
        self.started_at = time.monotonic()

    @classmethod
    def launch(cls, context: BaseContext, checkpoint: Path, threads: int = 1,
               prime: Portrait | None = None,
               plates: dict[bytes, np.ndarray] | None = None, *, slots: int = 1,
               serial: bool = False) -> FaceProcess:
        """Start a worker for up to `slots` sessions at once (returns at once;
        `wait_ready` waits for its models).

        `prime`: the portrait most sessions show; the worker builds its renderers
        and does every first-call set-up before it says it is ready
        (`LocalFace.prime`), so a session that shows it starts in milliseconds.
        `plates`: background plates made already (`PLATES.finished()`).
        `serial`: answer one request at a time across the slots (one thread's worth
        of CPU) instead of each slot in a thread of its own."""
        if slots < 1:
            raise ValueError(f"a face process needs at least one slot, got {slots}")
        rings: list[FrameRing] = []
        ends: list[tuple[Connection, Connection]] = []
        try:
            for _ in range(slots):
                rings.append(FrameRing.create())
                ends.append(context.Pipe(duplex=True))
            process = context.Process(  # type: ignore[attr-defined]
                target=serve, name="avatar-face", daemon=True,
                args=([child for _, child in ends], [ring.name for ring in rings],
                      str(checkpoint), threads, prime, plates or {}, serial))
            process.start()
        except BaseException:
            for ring in rings:
                ring.close()
            raise
        for _, child in ends:
            child.close()  # the worker holds the only other end: EOF if it dies
        handle = cls(process, [])
        handle.channels = [FaceChannel(handle, parent, ring)
                           for (parent, _), ring in zip(ends, rings, strict=True)]
        return handle

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECS) -> None:
        """Block until the worker has loaded its models (it says so on channel 0).

        Raises:
            FaceWorkerLost: it died, or took longer than `timeout`.
        """
        with self._ready_lock:
            if self._ready:
                return
            first = self.channels[0]
            with first.lock:
                reply = first.receive(timeout, "starting")
            if reply[0] != "ready":
                raise FaceWorkerLost(f"the face worker failed to start: {reply[1]}")
            self._ready = True

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the worker to exit; kill it if it does not; free the rings (safe twice)."""
        if self.process.is_alive():
            for channel in self.channels:
                channel.send_exit()
            self.process.join(timeout)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the worker (if alive) and free its rings (safe twice)."""
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2.0)
        for channel in self.channels:
            channel.close()


class FaceChannel:
    """One session's line to a face process: its pipe and its image ring (thread-safe:
    one request at a time)."""

    def __init__(self, owner: FaceProcess, conn: Connection, ring: FrameRing) -> None:
        self.owner = owner
        self._conn = conn
        self._ring = ring
        self.lock = threading.Lock()
        self._next_slot = 0
        #: CPU seconds the worker spent on this channel's requests
        self.cpu_secs = 0.0
        #: the last request's costs
        self.last_call: CallTimes | None = None

    @property
    def pid(self) -> int | None:
        return self.owner.pid

    @property
    def alive(self) -> bool:
        return self.owner.alive

    # ------------------------------------------------------------------ requests
    def call(self, method: str, *args: Any, timeout: float = CALL_TIMEOUT_SECS) -> Any:
        """Run `method` in the worker and return its result.

        Raises:
            AvatarError: the worker refused the input on purpose (e.g. a bad camera
                frame): the same exception as in-process, the worker is fine.
            FaceWorkerFailed: any other exception in the worker.
            FaceWorkerLost: the worker died or did not answer within `timeout`.
        """
        self.owner.wait_ready()
        with self.lock:
            started = time.perf_counter()
            try:
                self._conn.send((method, args, caller_nice()))
            except (OSError, ValueError) as error:  # broken pipe: it is gone
                raise FaceWorkerLost(f"the face worker (pid {self.pid}) is gone: "
                                     f"{error}") from error
            reply = self.receive(timeout, method)
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

    def receive(self, timeout: float, doing: str) -> tuple[Any, ...]:
        """The next reply on this channel (the caller holds `lock`); a worker that does
        not answer within `timeout` is killed."""
        try:
            if not self._conn.poll(timeout):
                self.owner.kill()
                raise FaceWorkerLost(f"the face worker (pid {self.pid}) did not answer "
                                     f"{doing} within {timeout:.0f} s: stopped")
            reply: tuple[Any, ...] = self._conn.recv()
        except (EOFError, OSError) as error:
            self.owner.process.join(1.0)
            raise FaceWorkerLost(f"the face worker (pid {self.pid}) died (exit code "
                                 f"{self.owner.process.exitcode}) while {doing}") from error
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
        with self.lock:  # nobody else writes the slot while this request runs
            self._ring.camera(rgb.shape)[:] = rgb
        motion = self.call("analyze_camera_slot", rgb.shape, timestamp_ms)
        return motion

    def inject_fault(self, kind: str) -> None:
        """Fault injection for containment tests and benches: "raise" makes this
        slot's next drawing raise, "exit" makes the process die at its next drawing."""
        self.call("inject_fault", kind)

    def kill(self) -> None:
        """Kill the whole process this channel leads to (a hung or dead worker)."""
        self.owner.kill()

    # --------------------------------------------------------------- lifecycle
    def send_exit(self) -> None:
        """Tell this channel's slot to end (the process ends with its last slot)."""
        try:
            with self.lock:
                self._conn.send(("exit", ()))
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        """Close the pipe and free the ring (safe twice; the process is the owner's)."""
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


def serve(conns: list[Connection], ring_names: list[str], checkpoint: str, threads: int,
          prime: Portrait | None = None, plates: dict[bytes, np.ndarray] | None = None,
          serial: bool = False) -> None:
    """The worker's main: load once, say "ready" on the first channel, then answer each
    channel's requests in a thread of its own until every channel has said "exit" or
    closed (the parent died). The sessions share the generator's weights, the
    background plates and the process's runtimes; each has its own `LocalFace`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    import cv2
    import torch

    from avatar.generator.checkpoint import load_generator
    from avatar.render.layers import PLATES

    torch.set_num_threads(threads)
    cv2.setNumThreads(1)
    rings = [FrameRing.attach(name) for name in ring_names]
    try:
        generator = load_generator(checkpoint)
        generator.model.eval()
        PLATES.seed(plates or {})
        faces = [LocalFace(generator) for _ in conns]
        if prime is not None:
            with torch.inference_mode():
                faces[0].prime(prime)
                for face in faces[1:]:  # the first-call set-up is the process's, done
                    face.prime_renderers(prime)
    except Exception as error:
        conns[0].send(("failed", f"{type(error).__name__}: {error}"))
        for ring in rings:
            ring.close()
        return
    conns[0].send(("ready", os.getpid()))
    in_turn = threading.Lock() if serial else None
    slots = [threading.Thread(target=_answer_slot, name=f"face-slot-{index}", daemon=True,
                              args=(conn, _WorkerFace(face, ring), threads, in_turn))
             for index, (conn, face, ring) in enumerate(zip(conns, faces, rings, strict=True))]
    for slot in slots:
        slot.start()
    for slot in slots:
        slot.join()
    for ring in rings:
        ring.close()


def _answer_slot(conn: Connection, worker: _WorkerFace, threads: int,
                 in_turn: threading.Lock | None) -> None:
    """One slot's loop: answer its requests, in order, until "exit" or EOF. `in_turn`:
    a lock every slot holds while it works (the serial variant)."""
    import torch

    torch.set_num_threads(threads)
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

    def run(method: str, args: tuple[Any, ...], nice: int) -> tuple[Any, ...]:
        if nice <= 0:
            return answer(method, args)
        return niced.run(nice, answer, method, args)  # type: ignore[no-any-return]

    while True:
        try:
            method, args, *rest = conn.recv()
        except (EOFError, OSError):
            break
        if method == "exit":
            break
        nice = int(rest[0]) if rest else 0
        if in_turn is None:
            reply = run(method, args, nice)
        else:
            with in_turn:
                reply = run(method, args, nice)
        try:
            conn.send(reply)
        except (OSError, ValueError):
            break
    niced.close()
    worker.face.close()


__all__ = ["CallTimes", "FaceChannel", "FaceProcess", "FrameRing", "caller_nice", "serve"]
