"""A PNG of a `bench/live/live.py --against` run: what the face adds to each turn.

Left: voice-to-voice per turn (question's end to the reply's first audio at the client),
face sessions and voice-only sessions, before and after, with the medians and
`avatar_adds_ms_p50`. Right: where a face turn's time goes before the reply's audio
(whisper's reads, piper's first audio, the face's path from that audio to the client)
beside the voice-only figures, medians, both arms; for a run whose rows hold each
turn's stages (`stages_ms_p50`), each stage's face-minus-voice-only median instead,
so the stage the face slows stands out.

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

#: the stages of a run whose rows hold them (bench/live/live.py `stages_ms_p50`), as
#: labelled: ms after the question's end, and whisper's last read's own length
PANEL_STAGES = {"vad_stop": "VAD\nstop", "asr_final_start": "whisper's\nlast read\nstarts",
                "asr_final_ms": "its\nlength", "transcript": "transcript",
                "llm_first_text": "LLM's\nfirst text", "tts_text": "piper's\ntext",
                "tts_audio": "piper's\nfirst audio", "wire_audio": "to the\ntransport",
                "client_audio": "at the\nclient"}


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
    if any(arm.get("stages_ms_p50") for arm in arms.values()):
        drawn["stages_face_minus_voice"] = _stage_panel(stages, arms)
        return _finish(fig, out, drawn)
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
    return _finish(fig, out, drawn)


def _stage_panel(axes: Any, arms: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Right panel of a run whose rows hold stages (bench/live/live.py's
    `stages_ms_p50`): per stage, the face sessions' median minus the voice-only
    sessions' (ms after the question's end), before and after; returns them."""
    differences = {name: (arm.get("stages_ms_p50") or {}).get("face_minus_voice") or {}
                   for name, arm in arms.items()}
    keys = [k for k in PANEL_STAGES if any(k in d for d in differences.values())]
    width = 0.38
    for index, (name, diff) in enumerate(differences.items()):
        axes.bar([i + (index - 0.5) * width for i in range(len(keys))],
                 [diff.get(k) or 0 for k in keys], width, label=name)
    axes.axhline(0, color="black", linewidth=0.6)
    axes.set_xticks(range(len(keys)), [PANEL_STAGES[k] for k in keys], fontsize=7)
    axes.set_ylabel("face sessions minus voice only, medians (ms)")
    axes.legend(fontsize=8)
    return {name: {k: diff.get(k) for k in keys} for name, diff in differences.items()}


def _finish(fig: Any, out: Path, drawn: dict[str, Any]) -> dict[str, Any]:
    """Title, save, close; returns `drawn`."""
    fig.suptitle("What the face adds to a turn, measured from the Python client "
                 "(bench/live/live.py --against)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    import matplotlib.pyplot as plt

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
