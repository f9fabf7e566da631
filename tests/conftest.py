"""Suite-wide options: `--cpu-hog N` runs the selected tests with N cores held by
busy loops (tests/load.py), the CI check that behaviour holds on a busy machine
(`make test` runs the face and voice e2e tests with one core taken; `make test-loaded` that part alone)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.load import CpuHog, load_average


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--cpu-hog", type=int, default=0, metavar="N",
                     help="hold N cores with busy loops for the whole run (default 0)")


@pytest.fixture(scope="session", autouse=True)
def cpu_hog(request: pytest.FixtureRequest) -> Iterator[CpuHog]:
    """The run's CPU hog (no spinner unless --cpu-hog N); it is checked alive at
    the end, so a run that claims to have been loaded really was."""
    hog = CpuHog(int(request.config.getoption("--cpu-hog")))
    with hog:
        yield hog
        if hog.cores:
            assert hog.running, "the CPU hog died during the run: the run was not loaded"


def pytest_report_header(config: pytest.Config) -> str:
    cores = int(config.getoption("--cpu-hog"))
    return (f"load average at start: {load_average():.2f}; "
            f"CPU hog: {cores} core(s) busy for the whole run" if cores else
            f"load average at start: {load_average():.2f}")
