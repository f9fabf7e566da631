"""A PNG of several `bench/live/live.py` runs side by side: what the face adds to the voice.

For each run (its `tag`): the voice-to-voice p50 of its face sessions and of its
voice-only sessions on the same server, and their difference (`avatar_adds_ms_p50`)
with the goal, so variants run one after the other on the same machine (whisper's
threads, a page-drawn face against pixels) read at a glance.

    python -m benchkit.live.plot_runs docs/drawn_asr_threads_s21.png bench/results/live_a.json ...

A `.json.gz` of `{"runs": [...]}` (bench/quoted/) is read as its runs. Prints one JSON
line of what it drew. Kept in benchkit so that bench/ holds the benches.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

from benchkit.bench_args import save_plot

#: the issue's goal: what a face may add to a reply's first audio (ms)
GOAL_ADDS_MS = 50


def read_runs(paths: list[Path]) -> list[dict[str, Any]]:
    """Each file's run (a live.py JSON) or runs (a `{"runs": [...]}` bundle, gzipped or not)."""
    runs: list[dict[str, Any]] = []
    for path in paths:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        report = json.loads(raw)
        runs.extend(report["runs"] if "runs" in report else [report])
    return runs


def plot(runs: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    """Draw `runs` to `out`; returns the figures drawn, by tag."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(max(6.0, 1.6 * len(runs) + 2), 4.2))
    drawn: dict[str, Any] = {}
    width = 0.27
    for i, run in enumerate(runs):
        face, voice = run.get("voice_to_voice_ms_p50"), run.get("voice_only_voice_to_voice_ms_p50")
        adds = run.get("avatar_adds_ms_p50")
        bars = ((face, "face sessions", "tab:blue"), (voice, "voice only", "tab:grey"),
                (adds, "the face adds", "tab:orange"))
        for j, (value, label, color) in enumerate(bars):
            if value is None:
                continue
            axis.bar(i + (j - 1) * width, value, width, color=color,
                     label=label if i == 0 else None)
            axis.annotate(f"{value:.0f}", (i + (j - 1) * width, value), ha="center",
                          va="bottom", fontsize=7)
        drawn[run.get("tag", str(i))] = {"face": face, "voice_only": voice, "adds": adds,
                                         "load_avg_1m": run.get("load_avg_1m")}
    axis.axhline(GOAL_ADDS_MS, color="tab:red", linestyle="--", linewidth=1,
                 label=f"goal: adds <= {GOAL_ADDS_MS} ms")
    axis.set_xticks(range(len(runs)), [r.get("tag", str(i)) for i, r in enumerate(runs)],
                    fontsize=8)
    axis.set_ylabel("voice to voice, p50 (ms)")
    axis.set_title("bench/live/live.py runs: face sessions, voice-only sessions, difference",
                   fontsize=9)
    save_plot(fig, axis, out)
    return drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("runs", type=Path, nargs="+", help="live.py JSONs, or bundles of them")
    args = parser.parse_args()
    print(json.dumps(plot(read_runs(args.runs), args.out)))


if __name__ == "__main__":
    main()
