"""A PNG of a `bench/live/live.py --against` run: what the face adds to each turn.

Left: voice-to-voice per turn (question's end to the reply's first audio at the client),
face sessions and voice-only sessions, before and after, with the medians and
`avatar_adds_ms_p50`. Right: where a face turn's time goes before the reply's audio
(whisper's reads, piper's first audio, the face's path from that audio to the client)
beside the voice-only figures, medians, both arms.

    python -m benchkit.live.plot_against bench/quoted/live_X.json.gz docs/live_X.png

Reads the JSON the bench saved (plain or gzipped); prints one JSON line of what it
drew.

A plot of a saved run (about a second), kept in benchkit so that bench/ holds the
benches themselves; drew docs/thinking_hold_s76.png (docs/LIVE_AVATAR.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
from pathlib import Path
from typing import Any

#: turns slower than this are left out of the left panel (counted in its title)
CLIP_MS = 3000
#: the right panel's medians, in order
STAGES = ("stt_reads_ms_p50_avatar", "stt_reads_ms_p50_voice_only",
          "tts_first_audio_ms_p50_avatar", "tts_first_audio_ms_p50_voice_only",
          "face_path_ms_p50")


def load(path: Path) -> dict[str, Any]:
    """The run's JSON, gzipped or not; it must hold both arms."""
    raw = path.read_bytes()
    report = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    if "before" not in report or "after" not in report:
        raise SystemExit(f"{path}: not an --against run (no before/after arms)")
    return dict(report)


def face_path_ms(arm: dict[str, Any]) -> float | None:
    """Median of the face's path: the reply's first TTS audio into the face to its first
    loud audio at the client (None: the arm's server did not record it)."""
    values = [row["ff"]["client_first_loud_ms"] for row in arm.get("rows", [])
              if isinstance(row.get("ff"), dict) and row["ff"].get("client_first_loud_ms")
              is not None]
    return round(statistics.median(values), 1) if values else None


def stt_reads_ms(arm: dict[str, Any], video: bool) -> float | None:
    """Median of whisper's reads (pipecat's `processing` metrics of the STT service, every
    read of a turn pooled: the early guesses and the final one), in face sessions
    (`video`) or voice-only ones (None: no metrics recorded)."""
    values = [value for row in arm.get("rows", []) if row.get("video") == video
              for name, kind, value in row.get("metrics", [])
              if "STT" in name and kind == "processing"]
    return round(statistics.median(values), 1) if values else None


def plot(report: dict[str, Any], out: Path) -> dict[str, Any]:
    """Draw the two panels to `out`; returns the figures drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = {"before": report["before"], "after": report["after"]}
    fig, (turns, stages) = plt.subplots(1, 2, figsize=(13, 4.8))
    drawn: dict[str, Any] = {}
    for x, (name, arm) in enumerate(arms.items()):
        for offset, key, colour in ((-0.15, "voice_to_voice_ms", "tab:blue"),
                                    (0.15, "voice_only_voice_to_voice_ms", "tab:grey")):
            values = arm.get(key) or []
            turns.scatter([x + offset] * len(values), values, color=colour, s=14,
                          label=("face" if "only" not in key else "voice only") if x == 0 else None)
            if values:
                turns.hlines(statistics.median(values), x + offset - 0.1, x + offset + 0.1,
                             color=colour)
        adds = arm.get("avatar_adds_ms_p50")
        turns.annotate(f"face adds {adds} ms p50\nload {arm.get('load_avg_1m')}",
                       (x, 0), xytext=(x - 0.3, 60), fontsize=8)
        drawn[name] = {"avatar_adds_ms_p50": adds, "face_path_ms_p50": face_path_ms(arm),
                       "stt_reads_ms_p50_avatar": stt_reads_ms(arm, True),
                       "stt_reads_ms_p50_voice_only": stt_reads_ms(arm, False),
                       "tts_first_audio_ms_p50_avatar": arm.get("tts_first_audio_ms_p50_avatar"),
                       "tts_first_audio_ms_p50_voice_only":
                           arm.get("tts_first_audio_ms_p50_voice_only")}
    revisions = {"before": str(report.get("against"))[:10],
                 "after": str(report.get("after_rev"))[:10]}
    turns.set_xticks(range(len(arms)), [f"{name}\n{revisions[name]}" for name in arms],
                     fontsize=8)
    turns.set_ylabel("question's end to the reply's first audio (ms)")
    # a turn the LLM stalled on (10 s and more) would flatten the rest: clipped, counted
    every = [v for arm in arms.values() for key in ("voice_to_voice_ms",
             "voice_only_voice_to_voice_ms") for v in arm.get(key) or []]
    clipped = sum(v > CLIP_MS for v in every)
    turns.set_ylim(0, min(max(every, default=CLIP_MS) * 1.05, CLIP_MS))
    if clipped:
        turns.set_title(f"{clipped} turn(s) over {CLIP_MS} ms not shown", fontsize=8)
    turns.legend(fontsize=8)
    labels = ["whisper's reads\n(face sessions)", "whisper's reads\n(voice only)",
              "piper's first\naudio (face\nsessions)", "piper's first\naudio (voice\nonly)",
              "the face's path:\nits reply audio\nin to the client"]
    # only the stages the arms' servers recorded
    recorded = [i for i, key in enumerate(STAGES)
                if any(figures[key] is not None for figures in drawn.values())]
    labels = [labels[i] for i in recorded]
    width = 0.38
    for index, (name, figures) in enumerate(drawn.items()):
        values = [figures[STAGES[i]] or 0 for i in recorded]
        stages.bar([i + (index - 0.5) * width for i in range(len(labels))], values, width,
                   label=name)
    stages.set_xticks(range(len(labels)), labels, fontsize=7)
    stages.set_ylabel("median (ms)")
    stages.legend(fontsize=8)
    fig.suptitle("What the face adds to a turn, measured from the Python client "
                 "(bench/live/live.py --against)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="the --against run's JSON (.json or .json.gz)")
    parser.add_argument("out", type=Path, help="the PNG to write")
    args = parser.parse_args()
    drawn = plot(load(args.report), args.out)
    print(json.dumps({"png": str(args.out), **drawn}))


if __name__ == "__main__":
    main()
