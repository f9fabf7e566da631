"""Figure: bench/results/session_build.json and .png, what a session's start costs,
piece by piece: CPU, and the longest the interpreter lock was kept from a pacer
thread while each piece was built.

A session builds its VAD (silero), turn model (smart-turn) and HTTP clients (the
LLM service, the turn-end reader); the two models and the TLS context the clients use
are now the process's, built once (pipelines/turns/shared_models.py, agent/tls.py), and
each is measured beside pipecat's own way. Each piece is built `--rounds` times, with a 5 ms
pacer thread beside it (the server's 1 ms switch interval, as a WebRTC pacer runs):
`cpu_ms` is the process's CPU for the build, `pacer_late_ms_max` how late the pacer
woke at worst (a piece that keeps the lock in native code shows here), and
`resident_mb_for_4` how much resident memory four of it held at once took.

    .venv/bin/python bench/live/session_build.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchkit.bench_args import save_plot, write_figure
from benchkit.clocks import rss_mb
from benchkit.load import load_average
from benchkit.paths import RESULTS
from pipelines.server.interpreter_timing import SWITCH_INTERVAL_SECS

PACER_SECS = 0.005
LOCAL = "http://127.0.0.1:9/v1"


class Pacer:
    """A thread that wakes every PACER_SECS and notes how late it woke."""

    def __init__(self) -> None:
        self.late_ms: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pacer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        due = time.perf_counter()
        while not self._stop.is_set():
            due += PACER_SECS
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            late = (time.perf_counter() - due) * 1000.0
            self.late_ms.append(late)
            if late > 20.0:
                due = time.perf_counter()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def pieces() -> dict[str, Callable[[], Any]]:
    """Each piece a session builds, as the server builds it."""
    from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.services.openai.llm import OpenAILLMService

    from agent.turn_end_text import TurnEndReader
    from pipelines.speech.llm import LocalOpenAILLMService
    from pipelines.turns.shared_models import SharedSileroVAD, SharedSmartTurnAnalyzer

    settings = OpenAILLMService.Settings(model="smollm2")
    return {
        "smart-turn, pipecat's own model": lambda: LocalSmartTurnAnalyzerV3(
            params=SmartTurnParams()),
        "smart-turn, the process's model": lambda: SharedSmartTurnAnalyzer(
            params=SmartTurnParams()),
        "silero VAD, pipecat's own model": SileroVADAnalyzer,
        "silero VAD, the process's model": SharedSileroVAD,
        "LLM service (ours)": lambda: LocalOpenAILLMService(
            api_key="sk-no-key-required", base_url=LOCAL, settings=settings),
        "LLM service (pipecat's client)": lambda: OpenAILLMService(
            api_key="sk-no-key-required", base_url=LOCAL, settings=settings),
        "turn-end reader": lambda: TurnEndReader(base_url=LOCAL),
    }


def measure(build: Callable[[], Any], pacer: Pacer) -> tuple[float, float]:
    """(CPU ms, the pacer's worst lateness in ms) of one build."""
    time.sleep(0.1)
    pacer.late_ms.clear()
    started = time.process_time()
    build()
    cpu_ms = (time.process_time() - started) * 1000.0
    time.sleep(0.02)
    return cpu_ms, max(pacer.late_ms, default=0.0)


def resident_growth_mb(build: Callable[[], Any], count: int) -> float:
    """How much the process's resident memory grew for `count` of a piece held at
    once (as `count` live sessions hold theirs)."""
    gc.collect()
    before = rss_mb(os.getpid())
    held = [build() for _ in range(count)]
    grown = rss_mb(os.getpid()) - before
    del held
    return round(grown, 1)


def plot(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["pieces"])
    figure, axis = plt.subplots(figsize=(8.5, 4.5))
    y = np.arange(len(names))
    axis.barh(y - 0.2, [result["pieces"][n]["cpu_ms_median"] for n in names], height=0.4,
              label="CPU a build (median)")
    axis.barh(y + 0.2, [result["pieces"][n]["pacer_late_ms_max"] for n in names], height=0.4,
              label="pacer woken late, worst")
    axis.set_yticks(y, names)
    axis.invert_yaxis()
    axis.set_xlabel("ms")
    axis.set_title("a session's start, piece by piece")
    save_plot(figure, axis, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--held", type=int, default=4, help="pieces held at once for memory")
    parser.add_argument("--out", type=Path, default=RESULTS / "session_build.json")
    args = parser.parse_args()
    sys.setswitchinterval(SWITCH_INTERVAL_SECS)
    builds = pieces()
    for build in builds.values():  # first builds pay imports and one-off set-up
        build()
    load_start = load_average()
    pacer = Pacer()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in builds}
    for _ in tqdm(range(args.rounds), desc="rounds", file=sys.stderr):
        for name, build in builds.items():  # interleaved: the host's drift hits all alike
            samples[name].append(measure(build, pacer))
    pacer.stop()
    memory = {name: resident_growth_mb(build, args.held) for name, build in builds.items()}
    result = {"bench": "session_build", "rounds": args.rounds,
              "switch_interval_ms": SWITCH_INTERVAL_SECS * 1000,
              "pieces": {name: {"cpu_ms_median": round(float(np.median([c for c, _ in s])), 2),
                                "pacer_late_ms_max": round(max(late for _, late in s), 1),
                                f"resident_mb_for_{args.held}": memory[name]}
                         for name, s in samples.items()},
              "load_average_start": load_start, "load_average_end": load_average()}
    write_figure(args.out, result, plot)


if __name__ == "__main__":
    main()
