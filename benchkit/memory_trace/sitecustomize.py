"""Loaded by Python at start-up when this folder is on PYTHONPATH (bench/session_churn.py
`--trace-memory`): the bench's server process traces its allocations with tracemalloc
and dumps a snapshot on SIGUSR2, so a bench can compare the heap after warm-up with
the heap at the end and name the allocation sites that grew.

Only the server under test traces (its command line has `--serve-port`): its face
workers, fork server and the LLM server start with the same environment and must
keep their speed. Nothing in the product imports this.
"""

from __future__ import annotations

import os
import signal
import sys
import tracemalloc

_FOLDER = os.environ.get("AVATAR_FORCING_BENCH_SNAPSHOTS")

if _FOLDER and "--serve-port" in sys.argv:
    _INTO: str = _FOLDER
    tracemalloc.start(int(os.environ.get("AVATAR_FORCING_BENCH_TRACE_FRAMES", "8")))
    _taken = [0]

    def _dump(signum: int, frame: object) -> None:
        """Write snapshot N (the bench reads them in order)."""
        _taken[0] += 1
        snapshot = tracemalloc.take_snapshot()
        path = os.path.join(_INTO, f"snapshot-{_taken[0]:02d}.pickle")
        snapshot.dump(path + ".partial")
        os.replace(path + ".partial", path)

    signal.signal(signal.SIGUSR2, _dump)
