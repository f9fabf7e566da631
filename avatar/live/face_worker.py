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

This module is the parent's side: `FaceProcess` is the parent's handle on a
worker, `FaceChannel` one session's line to it. The worker's side, `serve` and its
slot threads, is avatar/live/face_worker_main.py; the ring is avatar/live/face_ring.py.
Workers are started and handed out by `FaceWorkerPool` (avatar/live/face_pool.py).

A request runs at its caller's priority: a caller thread niced below its process
(the session's yielding thread while the voice models think, `[avatar] worker_nice`)
sends how far, and the worker runs that request in a thread of its own niced as far,
so the face yields to whisper, the turn-end model and piper (avatar/live/thread_nice.py).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import numpy as np

from avatar.errors import FaceWorkerFailed, FaceWorkerLost
from avatar.live.face import DrawnImage, FaceShape
from avatar.live.face_ring import CAMERA_SLOT_BYTES, RING_SLOTS, FrameRing
from avatar.live.face_worker_main import serve
from avatar.live.thread_nice import caller_nice
from avatar.live.video_codec import VideoRequest
from avatar.portrait import Portrait
from avatar.render import Calibration

#: A worker that has not answered one request in this long is taken for hung.
CALL_TIMEOUT_SECS = 20.0
#: How long a new worker may take to load (fork, generator weights) before it is given up.
READY_TIMEOUT_SECS = 60.0
#: How long closing a channel waits for a request in flight on it (its worker is dead).
CLOSE_WAIT_SECS = 2.0
#: How long asking a slot to exit waits for the request in flight on it: a drawing ends in
#: well under this; a worker still loading (`wait_ready` holds channel 0) is not waited
#: for but killed, so a server that ends while a spare loads ends at once.
EXIT_WAIT_SECS = 0.5


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
        #: how far the worker's start-up ran niced below its sessions (known once ready)
        self.start_nice = 0

    @classmethod
    def launch(cls, context: BaseContext, checkpoint: Path, threads: int = 1,
               prime: Portrait | None = None,
               plates: dict[bytes, np.ndarray] | None = None, *, slots: int = 1,
               serial: bool = False, batch_steps: bool = False,
               start_nice: int = 0) -> FaceProcess:
        """Start a worker for up to `slots` sessions at once (returns at once;
        `wait_ready` waits for its models).

        `prime`: the portrait most sessions show; the worker builds its renderers
        and does every first-call set-up before it says it is ready
        (`LocalFace.prime`), so a session that shows it starts in milliseconds.
        `plates`: background plates made already (`PLATES.finished()`).
        `serial`: answer one request at a time across the slots (one thread's worth
        of CPU) instead of each slot in a thread of its own. `batch_steps`: the
        slots' generator steps that fall due together run as one batched pass
        (avatar/live/step_batcher.py; not with `serial`). `start_nice`: how far its
        load and prime run niced (a spare started beside live sessions; 0 for one a
        session waits for)."""
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
                      str(checkpoint), threads, prime, plates or {}, serial, batch_steps,
                      start_nice))
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
            self.start_nice = int(reply[2])
            self._ready = True

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the worker to exit; kill it if it does not (or is still loading: it is not
        waited for); free the rings (safe twice)."""
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
        #: one request at a time; re-entrant so that a request which finds its worker
        #: hung can kill the process (closing this channel) while it holds the lock
        self.lock = threading.RLock()
        self._close_once = threading.Lock()
        self._closed = False
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
        self.owner.wait_ready()  # before the lock, as `call` does
        with self.lock:  # the ring stays open until the frame is copied out
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
        """Tell this channel's slot to end (the process ends with its last slot). A
        request that holds the channel longer than EXIT_WAIT_SECS (the worker's load,
        in `wait_ready`) is not waited for: the caller kills the process instead."""
        if not self.lock.acquire(timeout=EXIT_WAIT_SECS):
            return
        try:
            self._conn.send(("exit", ()))
        except (OSError, ValueError):
            pass
        finally:
            self.lock.release()

    def close(self, wait_secs: float = CLOSE_WAIT_SECS) -> None:
        """Close the pipe and free the ring, once, from any thread (the process is the
        owner's). A request in flight on another thread is let finish first (its worker
        is dead by now, so it ends at once): its descriptor must not be freed, and
        perhaps reused by a fresh worker's pipe, under its read."""
        in_flight_done = self.lock.acquire(timeout=wait_secs)
        try:
            with self._close_once:
                if self._closed:
                    return
                self._closed = True
                self._conn.close()
                self._ring.close()
        finally:
            if in_flight_done:
                self.lock.release()


__all__ = ["CALL_TIMEOUT_SECS", "READY_TIMEOUT_SECS", "CallTimes", "FaceChannel", "FaceProcess"]
