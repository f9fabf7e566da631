"""A PNG of one `bench/live/live.py` run (default mode): what the face adds, turn by turn
and stage by stage.

Left: each turn's voice-to-voice in the order asked, face sessions and voice-only
sessions, with each arm's median. Right: the median of each stage's own length
(VAD's stop after the question's end, the transcript after it, the reply's first text,
piper's first text and audio, the transport, the client), face beside voice only, and
the title's `avatar_adds_ms_p50` with its 90 % interval and halves where the run has
them (benchkit/live/live_summary.py `adds_spread`).

    python -m benchkit.live.plot_turns bench/results/live_TAG.json docs/NAME.png

Reads a `.json.gz` too. Prints one JSON line of the stage medians drawn. Kept in
benchkit so that bench/ holds the benches.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchkit.bench_args import save_plot

#: consecutive stage marks (ms after the question's end), each segment's label
SEGMENTS = (("", "vad_stop", "VAD's stop"), ("vad_stop", "transcript", "transcript"),
            ("transcript", "llm_first_text", "reply's first text"),
            ("llm_first_text", "tts_text", "to piper"), ("tts_text", "tts_audio", "piper's audio"),
            ("tts_audio", "wire_audio", "to the transport"),
            ("wire_audio", "client_audio", "to the client"))


def segment_medians(rows: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Each segment's median length (ms) per arm: the turn's own stages, not the
    differences of the stages' medians."""
    out: dict[str, dict[str, float | None]] = {}
    for start, end, label in SEGMENTS:
        out[label] = {}
        for arm, video in (("face", True), ("voice_only", False)):
            lengths = [r["stages"][end] - (r["stages"][start] if start else 0.0)
                       for r in rows if r["video"] == video and r.get("stages")
                       and r["stages"].get(end) is not None
                       and (not start or r["stages"].get(start) is not None)]
            out[label][arm] = round(float(np.median(lengths)), 1) if lengths else None
    return out


def plot(run: dict[str, Any], out: Path) -> dict[str, Any]:
    """Draw `run` to `out`; returns the segment medians drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = run["rows"]
    fig, (turns, stages) = plt.subplots(1, 2, figsize=(11, 4.2),
                                        gridspec_kw={"width_ratios": [1.2, 1]})
    for video, label, color in ((True, "face", "tab:blue"), (False, "voice only", "tab:grey")):
        values = [r["voice_to_voice_ms"] for r in rows if r["video"] == video]
        turns.plot(range(1, len(values) + 1), values, "o" if video else "s", color=color,
                   ms=4, label=f"{label}: p50 {np.median(values):.0f} ms")
        turns.axhline(float(np.median(values)), color=color, linewidth=1, linestyle="--")
    turns.set_yscale("log")
    shown = [r["voice_to_voice_ms"] for r in rows]
    ticks = [t for t in (300, 400, 500, 600, 800, 1000, 1500, 2000, 3000, 5000)
             if min(shown) * 0.9 <= t <= max(shown) * 1.1]
    turns.set_yticks(ticks, [str(t) for t in ticks])
    turns.minorticks_off()
    turns.set_xlabel("turn of its kind, in the order asked")
    turns.set_ylabel("voice to voice (ms, log)")
    turns.legend(fontsize=8)
    medians = segment_medians(rows)
    labels = list(medians)
    at = np.arange(len(labels))
    for j, (arm, color) in enumerate((("face", "tab:blue"), ("voice_only", "tab:grey"))):
        values = [medians[k][arm] or 0.0 for k in labels]
        stages.barh(at + (0.2 if j else -0.2), values, 0.4, color=color,
                    label=arm.replace("_", " "))
        for y, value in zip(at, values, strict=True):
            stages.annotate(f"{value:.0f}", (value, y + (0.2 if j else -0.2)), va="center",
                            fontsize=7)
    stages.set_yticks(at, labels, fontsize=8)
    stages.invert_yaxis()
    stages.set_xlabel("median length of each stage (ms)")
    stages.legend(fontsize=8)
    adds = run.get("avatar_adds_ms_p50")
    interval = run.get("avatar_adds_ms_p50_interval_90")
    halves = run.get("avatar_adds_ms_p50_by_half")
    title = f"the face adds {adds} ms p50 (goal <= 50)"
    if interval:
        title += f", 90 % interval {interval[0]:.0f}-{interval[1]:.0f}"
    if halves:
        title += f", halves {halves[0]} / {halves[1]}"
    load = run.get("load_avg") or [None]
    fig.suptitle(f"bench/live/live.py {run.get('tag')}: {title}; "
                 f"{len(rows) // 2} turns a side, load {load[0]}", fontsize=9)
    save_plot(fig, turns, out)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a live.py JSON of the default mode (rows kept)")
    parser.add_argument("out", type=Path, help="the PNG to write")
    args = parser.parse_args()
    raw = gzip.decompress(args.run.read_bytes()) if args.run.suffix == ".gz" \
        else args.run.read_bytes()
    print(json.dumps(plot(json.loads(raw), args.out)))


if __name__ == "__main__":
    main()
