"""benchkit/kiosk/turn_cpu.py: Chromium's processes are told apart by type, and a window of
the timeline gives its CPU to the process that spent it (a real busy child beside a
sleeping one), not to one that started later or ended early."""

from __future__ import annotations

import subprocess
import sys
import time

from benchkit.kiosk.turn_cpu import CpuTimeline, chromium_group, shares


def test_chromium_processes_are_grouped_by_type() -> None:
    assert chromium_group("/usr/lib/chromium/chromium --headless --remote-debugging-pipe") \
        == "chromium browser"
    assert chromium_group("/usr/lib/chromium/chromium --type=renderer --lang=en") \
        == "chromium renderer"
    assert chromium_group("/usr/lib/chromium/chromium --type=gpu-process") == "chromium gpu-process"
    assert chromium_group("/usr/lib/chromium/chromium --type=utility "
                          "--utility-sub-type=audio.mojom.AudioService") == "chromium audioservice"
    assert chromium_group("/work/.venv/bin/python -m pipelines.cli serve") is None


def test_a_window_gives_the_cpu_to_the_process_that_spent_it() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with CpuTimeline(lambda: {busy.pid: "busy", idle.pid: "idle"}, period=0.02,
                         resolve_every=0.01) as timeline:
            time.sleep(0.3)
            start = time.monotonic()
            time.sleep(0.6)
            end = time.monotonic()
            busy.kill()  # an ended process keeps what it spent
            busy.wait()
            time.sleep(0.2)
        window = timeline.secs(start, end)
        after = timeline.secs(end + 0.1, time.monotonic())
    finally:
        busy.kill()
        idle.kill()
    assert window["busy"] > 0.1 and window["busy"] > 5 * window.get("idle", 0.0)
    assert after.get("busy", 0.0) < window["busy"]
    assert list(shares(window, end - start))[0] == "busy"
