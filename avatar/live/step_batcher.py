"""One face worker's generator steps that fall due together, run as one batched pass.

A face worker serves several sessions, a thread each (avatar/live/face_worker_main.py),
each with its own `StreamingGenerator` on the shared weights. A block of this
128-wide model on one thread is mostly PyTorch's per-operation overhead, so the
blocks of several sessions in one pass (`streaming.step_windows`) cost little more
than one (figures: docs/FLEET.md, "The generator batched across a worker's sessions").

`StepBatcher` is shared by a worker's `LocalFace`s. A session thread's `step`
either runs its block at once, in its own thread, exactly as a face without a
batcher does (no other session is due), or joins a batch:

- each member's last step time and interval predict its next one; the members
  whose next step falls within `window_secs` of now (and that are not stepping
  already) are *due*;
- the first thread to step while others are due opens a batch and waits until
  every due member has joined it or `window_secs` has passed, whichever is first,
  then runs the batch in its own thread and hands each member its block; threads
  that step while a batch is open join it and wait for their block.

So a session waits at most `window_secs` for others, plus the batched pass; a
member that is slow or gone stops being due (it is due only until half an
interval past its predicted time). A block whose window or denoising raises fails
only its own session's step: each gets its own result or exception. Sessions on
block clocks of their own (not in phase) step alone, without waiting; so a batching
worker's sessions keep their block steps on one grid of the machine's monotonic
clock (`STEP_GRID_SECS`, `grid_offset`), which the session's clock holds to
(pipelines/face/face_clock.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from avatar.generator.streaming import StreamingGenerator, Window, step_windows

#: How long the first due session waits for the others' steps (seconds): a quarter
#: of a frame. Sessions paced in phase still step up to ~10 ms apart on a busy
#: machine, and a shorter wait lets most of them miss each other.
STEP_WINDOW_SECS = 0.010
#: The grid a batching worker's sessions keep their block steps on (s): one block of
#: the generator, 5 frames of 40 ms, so every session's steps fall due together.
STEP_GRID_SECS = 0.2
#: A member stays due until this many intervals after its last step (then it is
#: taken for paused or slow and nobody waits for it).
DUE_UNTIL_INTERVALS = 1.5


@dataclass
class BatcherCounters:
    """What the batcher did (tests and benches read it)."""

    steps: int = 0  # steps asked for
    alone: int = 0  # steps run at once in their own thread: no other member was due
    batches: int = 0  # batched passes run (two steps or more)
    batched_steps: int = 0  # steps run in a batched pass
    waited_alone: int = 0  # batches opened that nobody joined within the window

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Member:
    """A session's step times (its face is the key)."""

    last_at: float | None = None
    interval: float | None = None
    stepping: bool = False  # a step asked for and not yet answered

    def due(self, now: float, window: float) -> bool:
        """Its next step is expected within `window` of `now`."""
        if self.stepping or self.last_at is None or self.interval is None:
            return False
        expected = self.last_at + self.interval
        return expected - window <= now <= self.last_at + DUE_UNTIL_INTERVALS * self.interval


@dataclass
class _Request:
    member: object
    engine: StreamingGenerator
    window: Window
    done: bool = False
    result: np.ndarray | None = None
    error: BaseException | None = None


@dataclass
class _Batch:
    requests: list[_Request] = field(default_factory=list)
    expected: set[int] = field(default_factory=set)  # ids of the members waited for

    def complete(self) -> bool:
        return self.expected <= {id(r.member) for r in self.requests}


class StepBatcher:
    """The generator steps of one worker's faces, batched when they fall due together
    (thread-safe; see the module docstring)."""

    def __init__(self, *, window_secs: float = STEP_WINDOW_SECS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if window_secs < 0:
            raise ValueError(f"window_secs must be >= 0, got {window_secs}")
        self.window_secs = window_secs
        self._clock = clock
        self._cond = threading.Condition()
        self._members: dict[int, _Member] = {}  # by id() of the member (its face)
        self._open: _Batch | None = None  # the batch taking members now
        self.counters = BatcherCounters()

    def step(self, member: object, engine: StreamingGenerator, window: Window) -> np.ndarray:
        """`engine.step_window(window)` for `member` (one step at a time per member),
        batched with the steps of other members that fall due now.

        Raises:
            Exception: whatever the member's own window or block raised.
        """
        with self._cond:
            now = self._clock()
            me = self._members.setdefault(id(member), _Member())
            if me.last_at is not None:
                me.interval = now - me.last_at
            me.last_at, me.stepping = now, True
            self.counters.steps += 1
            request = _Request(member, engine, window)
            batch = self._open
            if batch is not None:  # a batch is gathering: join it
                batch.requests.append(request)
                self._cond.notify_all()
                while not request.done:
                    self._cond.wait()
                me.stepping = False
                if request.error is not None:
                    raise request.error
                assert request.result is not None
                return request.result
            due = {key for key, other in self._members.items()
                   if key != id(member) and other.due(now, self.window_secs)}
            if not due:
                self.counters.alone += 1
            else:
                batch = self._open = _Batch([request], due)
                deadline = now + self.window_secs
                while not batch.complete():
                    left = deadline - self._clock()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                self._open = None
                if len(batch.requests) == 1:
                    self.counters.waited_alone += 1
                else:
                    self.counters.batches += 1
                    self.counters.batched_steps += len(batch.requests)
        if batch is None or len(batch.requests) == 1:
            try:  # today's path, in this thread
                return engine.step_window(window.avatar_audio, window.user_audio,
                                          window.user_motion, window.user_present)
            finally:
                with self._cond:
                    me.stepping = False
        self._run(batch.requests)
        with self._cond:
            me.stepping = False
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def leave(self, member: object) -> None:
        """`member`'s session ended (or a new one starts on it): forget its step times."""
        with self._cond:
            self._members.pop(id(member), None)

    def _run(self, requests: list[_Request]) -> None:
        """The batched pass, in the calling thread; every request is answered."""
        try:
            results: list[np.ndarray | BaseException] = list(step_windows(
                [r.engine for r in requests], [r.window for r in requests]))
        except BaseException as error:  # not one engine's doing: each is told
            results = [error] * len(requests)
        with self._cond:
            for request, result in zip(requests, results, strict=True):
                if isinstance(result, BaseException):
                    request.error = result
                else:
                    request.result = result
                request.done = True
            self._cond.notify_all()

def grid_offset(t: float, grid: float = STEP_GRID_SECS) -> float:
    """How far the monotonic time `t` lies past the last point of the step grid
    (0 <= offset < grid): 0 for a step on the grid."""
    return t % grid


__all__ = ["STEP_GRID_SECS", "STEP_WINDOW_SECS", "BatcherCounters", "StepBatcher", "grid_offset"]
