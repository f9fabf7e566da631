"""The face worker process's main: `serve` answers each session slot's requests.

Started by `FaceProcess.launch` (avatar/live/face_worker.py) as the target of a
worker process (forkserver or spawn), so `serve` must stay importable from here.
The process loads the generator once and shares it, the background plates and
its runtimes between its slots; each slot has its own `LocalFace` and a thread
that answers its pipe's requests in order (`_answer_slot`), a request at its
caller's niceness (avatar/live/thread_nice.py). Drawn images and camera frames
go through the slot's `FrameRing` (avatar/live/face_ring.py). With `batch_steps`,
the slots' faces share a `StepBatcher`: generator steps of sessions that fall due
together run as one batched pass (avatar/live/step_batcher.py).

The pipe protocol: a request is (method, args, nice) or ("exit", ()); a reply is
("ok", result, cpu_secs, work_ms), ("refused", AvatarError) for input refused on
purpose, or ("failed", text with the traceback). The first slot's pipe first
says ("ready", pid, how far its start-up was niced) or ("failed", text) once the
models are loaded (in a thread niced by its `start_nice`: a warm spare's start-up
yields to live sessions' frames).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from avatar.errors import AvatarError
from avatar.live.face import FaceShape, LocalFace
from avatar.live.face_ring import FrameRing
from avatar.live.step_batcher import StepBatcher
from avatar.live.thread_nice import NicedThreads, caller_nice
from avatar.live.video_codec import EncodedImage, VideoRequest
from avatar.portrait import Portrait
from avatar.render import Calibration

#: An error's traceback is cut to this many characters.
MAX_TRACE_CHARS = 4000


class _WorkerFace:
    """The worker's request handlers: a `LocalFace` plus the ring."""

    def __init__(self, face: LocalFace, ring: FrameRing,
                 batcher: StepBatcher | None = None) -> None:
        self.face = face
        self.ring = ring
        self.batcher = batcher
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

    def step_batches(self) -> dict[str, int] | None:
        """The process's `StepBatcher` counters, None without one (tests and benches)."""
        return None if self.batcher is None else self.batcher.counters.as_dict()

    def handler(self, method: str) -> Any:
        """The handler of `method`: ours first, then the face's own methods."""
        if method in ("start", "draw_into", "analyze_camera_slot", "inject_fault",
                      "thread_nice", "step_batches"):
            return getattr(self, method)
        if method in ("set_size", "set_calibration", "calibration", "step", "analyze_jpeg",
                      "analyze_rgb", "close"):
            return getattr(self.face, method)
        raise ValueError(f"the face worker has no request {method!r}")


def serve(conns: list[Connection], ring_names: list[str], checkpoint: str, threads: int,
          prime: Portrait | None = None, plates: dict[bytes, np.ndarray] | None = None,
          serial: bool = False, batch_steps: bool = False, start_nice: int = 0) -> None:
    """The worker's main: load once, say "ready" on the first channel, then answer each
    channel's requests in a thread of its own until every channel has said "exit" or
    closed (the parent died). The sessions share the generator's weights, the
    background plates and the process's runtimes; each has its own `LocalFace`.
    `batch_steps`: the faces share a `StepBatcher` (several channels, not `serial`:
    one at a time, a batch would wait for steps that cannot come). `start_nice`: how
    far the load and prime run niced below the threads that serve the sessions."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    import cv2
    import torch

    from avatar.generator.checkpoint import load_generator
    from avatar.render.layers import PLATES

    torch.set_num_threads(threads)
    cv2.setNumThreads(1)
    rings = [FrameRing.attach(name) for name in ring_names]

    def load() -> tuple[StepBatcher | None, list[LocalFace], int]:
        generator = load_generator(checkpoint)
        generator.model.eval()
        PLATES.seed(plates or {})
        batcher = StepBatcher() if batch_steps and len(conns) > 1 and not serial else None
        faces = [LocalFace(generator, batcher=batcher) for _ in conns]
        if prime is not None:
            with torch.inference_mode():
                faces[0].prime(prime)
                for face in faces[1:]:  # the first-call set-up is the process's, done
                    face.prime_renderers(prime)
        return batcher, faces, caller_nice()

    start_up = NicedThreads(threads)
    try:
        batcher, faces, loaded_nice = start_up.run(start_nice, load)
    except Exception as error:
        conns[0].send(("failed", f"{type(error).__name__}: {error}"))
        for ring in rings:
            ring.close()
        return
    finally:
        start_up.close()
    conns[0].send(("ready", os.getpid(), loaded_nice))
    in_turn = threading.Lock() if serial else None
    slots = [threading.Thread(target=_answer_slot, name=f"face-slot-{index}", daemon=True,
                              args=(conn, _WorkerFace(face, ring, batcher), threads,
                                    in_turn))
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
    niced = NicedThreads(threads)

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


__all__ = ["serve"]
