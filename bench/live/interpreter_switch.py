"""Figure: bench/results/interpreter_switch.json and .png, how late a 20 ms pacer thread
runs beside busy Python threads, at Python's default switch interval and at the
server's (pipelines/server/interpreter_timing.py).

Why: the server's WebRTC voice is written by a pacer thread every 20 ms, and that
thread needs the interpreter lock, which the server's other threads (VAD, turn-end
model, whisper, piper, the face's channels, aiortc's decoders) hold in turns of the
switch interval. Here `--busy` threads run pure-Python loops while one thread
wakes every 20 ms, as the pacer does, and records how late each wake-up took it;
each interval runs `--rounds` times, alternating, in one process.

    .venv/bin/python bench/live/interpreter_switch.py [--busy 6] [--secs 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchkit.bench_args import save_plot, write_figure
from benchkit.load import load_average
from benchkit.paths import RESULTS
from pipelines.server.interpreter_timing import SWITCH_INTERVAL_SECS

PYTHON_DEFAULT_SECS = 0.005
PACKET_SECS = 0.02


def _busy(stop: threading.Event) -> None:
    total = 0
    while not stop.is_set():
        for i in range(2000):
            total += i * i


def _pacer(stop: threading.Event, lateness: list[float]) -> None:
    due = time.monotonic()
    while not stop.is_set():
        due += PACKET_SECS
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        lateness.append(time.monotonic() - due)


def measure(interval: float, busy: int, secs: float) -> dict[str, Any]:
    """The pacer's lateness (ms) over `secs` beside `busy` busy threads."""
    sys.setswitchinterval(interval)
    stop, lateness = threading.Event(), []
    threads = [threading.Thread(target=_busy, args=(stop,)) for _ in range(busy)]
    threads.append(threading.Thread(target=_pacer, args=(stop, lateness)))
    for thread in threads:
        thread.start()
    time.sleep(secs)
    stop.set()
    for thread in threads:
        thread.join()
    late = 1000 * np.asarray(lateness[5:])
    return {"switch_interval_ms": interval * 1000, "packets": len(late),
            "late_ms_p50": round(float(np.percentile(late, 50)), 1),
            "late_ms_p99": round(float(np.percentile(late, 99)), 1),
            "late_ms_max": round(float(late.max()), 1),
            "late_over_10ms_share": round(float((late > 10).mean()), 3)}


def plot(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["runs"]
    figure, axis = plt.subplots(figsize=(7, 3.5))
    labels = [f"{run['switch_interval_ms']:g} ms\n(round {i // 2 + 1})" for i, run in enumerate(runs)]
    x = np.arange(len(runs))
    for offset, key in ((-0.25, "late_ms_p50"), (0, "late_ms_p99"), (0.25, "late_ms_max")):
        axis.bar(x + offset, [run[key] for run in runs], width=0.25, label=key.replace("late_ms_", ""))
    axis.set_xticks(x, labels)
    axis.set_ylabel("pacer wake-up late (ms)")
    axis.set_title(f"a 20 ms pacer beside {result['busy_threads']} busy Python threads")
    save_plot(figure, axis, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--busy", type=int, default=6)
    parser.add_argument("--secs", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "interpreter_switch.json")
    args = parser.parse_args()
    load_start = load_average()
    runs = [measure(interval, args.busy, args.secs)
            for _ in range(args.rounds) for interval in (PYTHON_DEFAULT_SECS, SWITCH_INTERVAL_SECS)]
    result = {"bench": "interpreter_switch", "busy_threads": args.busy, "secs": args.secs,
              "load_average_start": load_start, "load_average_end": load_average(), "runs": runs}
    write_figure(args.out, result, plot)


if __name__ == "__main__":
    main()
