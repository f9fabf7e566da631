"""CPU load for tests: the hog and the load reading (benchkit/load.py, shared with the
benches), and a loud skip for a timing only a machine with a free core meets."""

from __future__ import annotations

import os

from benchkit.load import CpuHog, load_average

__all__ = ["CpuHog", "busy_machine_skip", "load_average"]


def busy_machine_skip(what: str) -> None:
    """Skip loudly when this machine is busier than its cores (the 1-minute load
    average above the core count): for a test whose precondition is a timing only a
    machine with a free core meets (a guess finished inside a 0.6 s pause). Call it
    only once that precondition has failed; on a machine with a core to spare it
    returns, and the test's own assertion then fails as it should."""
    import pytest

    load, cores = load_average(), os.cpu_count() or 1
    if load > cores:
        pytest.skip(f"SKIPPED LOUDLY: {what} did not happen in time with the load average at "
                    f"{load:.1f} on {cores} cores; it needs a core to spare, so it was NOT "
                    "tested on this run")
