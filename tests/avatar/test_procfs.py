"""avatar/procfs.py on the real /proc of this test process and of a child it starts:
memory, CPU seconds, the process tree, command, threads, files, and a process gone.

Why: the server's memory gauges, the fleet's memory ceiling and the benches read
through these functions only (issue 77), so a wrong field here would be wrong in all
of them at once. Linux only: /proc is the system edge read, nothing is mocked.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from avatar import procfs

if not Path("/proc/self/stat").is_file():
    pytest.skip("no /proc on this system (procfs reads Linux's)", allow_module_level=True)


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    """A Python child that holds 40 MB and sleeps, with a grandchild below it."""
    code = ("import subprocess, sys, time; block = bytearray(40 << 20); block[::4096] = "
            "b'x' * len(block[::4096]); subprocess.Popen([sys.executable, '-c', "
            "'import time; time.sleep(60)']); print('ready', flush=True); time.sleep(60)")
    process = subprocess.Popen([sys.executable, "-c", code, "marker-arg"],
                               stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline().strip() == b"ready"
    yield process
    for pid in procfs.descendants(process.pid):
        os.kill(pid, 9)
    process.kill()
    process.wait()


def test_memory_of_this_process() -> None:
    rss, pss = procfs.rss_bytes(), procfs.pss_bytes()
    assert procfs.rss_bytes(os.getpid()) > 10 << 20
    held = bytearray(64 << 20)
    held[::4096] = b"x" * len(held[::4096])  # every page touched: resident
    assert procfs.rss_bytes() - rss > 60 << 20
    assert procfs.pss_bytes() - pss > 60 << 20
    del held
    rollup = procfs.smaps_rollup()
    rss, pss = procfs.rss_bytes(), procfs.pss_bytes()
    assert 0 < rollup["Pss"] <= rollup["Rss"]
    # the same counters read a moment apart
    assert abs(rollup["Pss"] - pss) < 0.1 * pss and abs(rollup["Rss"] - rss) < 0.1 * rss


def test_a_child_holding_memory_is_seen_with_its_tree(child: subprocess.Popen[bytes]) -> None:
    assert procfs.rss_bytes(child.pid) > 40 << 20
    assert procfs.pss_bytes(child.pid) > 30 << 20
    below = procfs.descendants(child.pid)
    assert len(below) == 1
    assert procfs.process_tree(child.pid) == [child.pid, *below]
    parents = procfs.process_parents()
    assert parents[child.pid] == os.getpid() and parents[below[0]] == child.pid
    mine = procfs.descendants(os.getpid(), parents)
    assert child.pid in mine and below[0] in mine
    argv = procfs.command_line(child.pid)
    assert argv[0] == sys.executable and argv[-1] == "marker-arg"
    assert procfs.command_name(child.pid).startswith("python")


def test_cpu_seconds_count_work_and_reaped_children() -> None:
    before = procfs.cpu_seconds()
    assert before is not None and before == pytest.approx(
        sum(os.times()[:2]), abs=0.05)
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    after = procfs.cpu_seconds(os.getpid())
    assert after is not None and after - before >= 0.25
    subprocess.run([sys.executable, "-c", "sum(range(3_000_000))"], check=True)
    with_children = procfs.cpu_seconds(reaped_children=True)
    assert with_children is not None and with_children > (procfs.cpu_seconds() or 0.0)


def test_threads_and_files() -> None:
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert threading.get_native_id() in procfs.thread_ids()
        assert worker.native_id in procfs.thread_ids(os.getpid())
        assert procfs.thread_count() == len(procfs.thread_ids()) >= 2
    finally:
        stop.set()
        worker.join()
    files = procfs.open_file_count()
    with open(__file__, encoding="utf-8"):
        assert procfs.open_file_count() == files + 1
    assert any("python" in line for line in procfs.memory_maps())
    assert procfs.thread_run_queue_seconds() >= 0.0


def test_a_process_age_counts_from_its_start() -> None:
    started = time.monotonic()
    young = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)
        age = procfs.seconds_since_start(young.pid)
        assert age is not None and 0.3 <= age <= time.monotonic() - started + 0.1
        mine = procfs.seconds_since_start()
        assert mine is not None and mine > age
    finally:
        young.kill()
        young.wait()


def test_a_process_gone_reads_as_nothing() -> None:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    gone = done.pid
    assert procfs.rss_bytes(gone) == 0 and procfs.pss_bytes(gone) == 0
    assert procfs.cpu_seconds(gone) is None and procfs.smaps_rollup(gone) == {}
    assert procfs.command_line(gone) == [] and procfs.command_name(gone) == ""
    assert procfs.thread_count(gone) == 0 and procfs.thread_ids(gone) == []
    assert procfs.open_file_count(gone) == 0 and procfs.memory_maps(gone) == []
    assert procfs.descendants(gone) == [] and procfs.process_tree(gone) == [gone]
    assert procfs.seconds_since_start(gone) is None
