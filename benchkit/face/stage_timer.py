"""Wall time per named stage of a single-threaded loop, by wrapping the callables
that do each stage (bench/face/face_cost.py).

Why wrapping rather than a sampling profiler: the question is "how many ms of a
frame go to the warp, the mouth, the VP8 encode", stage by stage as the product
names them, at 256 and 512 px, and those stages are each one call. The loop runs
on one thread (torch and OpenCV held to one), so a stage's wall time is its CPU.
A stage nested in another is booked to the inner one only (the outer one gets
its own time less its children's), so the stages add up to the total.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any


class StageTimer:
    """Seconds per stage, with nesting subtracted (see the module docstring)."""

    def __init__(self) -> None:
        self.secs: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[list[float]] = []  # per open stage: children's seconds

    def wrap(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """`function`, timed as `stage`."""
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._stack.append([0.0])
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.perf_counter() - started
                children = self._stack.pop()[0]
                self.secs[stage] += spent - children
                self.calls[stage] += 1
                if self._stack:
                    self._stack[-1][0] += spent
        return timed

    def patch(self, owner: Any, name: str, stage: str) -> None:
        """Replace `owner.name` (a class's method, a module's function, an object's
        attribute) with its timed version."""
        setattr(owner, name, self.wrap(stage, getattr(owner, name)))

    def reset(self) -> None:
        self.secs.clear()
        self.calls.clear()

    def per_frame_ms(self, frames: int) -> dict[str, float]:
        """Each stage's ms per frame over `frames` frames."""
        return {stage: round(secs * 1000.0 / frames, 3) for stage, secs in self.secs.items()}
