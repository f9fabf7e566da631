"""CPU load for tests and benches: a hog that holds cores, and a reading of the load.

Why in benchkit: bench/live/adapt.py takes cores away with the same hog the tests use
(tests/load.py re-exports it), so "under load" means the same in both.

A kiosk shares its machine with a browser, updates and other sessions, so the
product is tested with cores taken away (`CpuHog`), and the suite as a whole
can run under a hog (`pytest --cpu-hog 1`, `make test-loaded`). Busy loops in
subprocesses at the default priority, like any neighbour: no pinning, no nice.
"""

from __future__ import annotations

import os
import subprocess
import sys
from types import TracebackType

#: A process that spins forever (killed by `CpuHog.stop`).
_SPIN = "while True:\n    pass\n"


class CpuHog:
    """`cores` busy-loop processes; a context manager, `stop()` safe twice."""

    def __init__(self, cores: int = 1) -> None:
        if cores < 0:
            raise ValueError(f"cores must be >= 0, got {cores}")
        self.cores = cores
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> CpuHog:
        """Start spinning (no-op when running)."""
        while len(self._procs) < self.cores:
            self._procs.append(subprocess.Popen([sys.executable, "-c", _SPIN],
                                                stdin=subprocess.DEVNULL))
        return self

    def stop(self) -> None:
        """Kill every spinner and reap it."""
        procs, self._procs = self._procs, []
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait(timeout=10)

    @property
    def running(self) -> bool:
        """True while the spinners are alive."""
        return bool(self._procs) and all(p.poll() is None for p in self._procs)

    def __enter__(self) -> CpuHog:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def load_average() -> float:
    """The 1-minute load average (0.0 where the OS has none)."""
    try:
        return float(os.getloadavg()[0])
    except OSError:
        return 0.0
