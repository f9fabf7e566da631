"""Plots of corpus dialogues for docs/CORPUS.md (and for eyeballing the rules).

Run: python -m avatar.corpus.plots data/corpus docs/ [--split train --index 0]
Why: motion rules are only trustworthy once seen: speaker and listener traces
with the turns shaded show at a glance whether mouths move with speech, nods
fall in pauses and smiles are answered.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from avatar.audio_features import FPS
from avatar.motion import MotionTrack

_COLORS = {"a": "tab:blue", "b": "tab:orange"}


def plot_dialogue(dialogue_dir: Path, out_png: Path, start_s: float = 0.0,
                  length_s: float = 40.0) -> Path:
    """Speaker/listener jawOpen, smile, pitch, blink over time with turns shaded."""
    # pyplot only when drawing: choosing the Agg backend is process-wide, must come
    # before pyplot loads, and pyplot costs about a second to import
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meta = json.loads((dialogue_dir / "meta.json").read_text())
    tracks = {r: MotionTrack.load(dialogue_dir / f"motion_{r}.npz") for r in "ab"}
    f0 = int(start_s * FPS)
    f1 = min(len(tracks["a"]), int((start_s + length_s) * FPS))
    t = np.arange(f0, f1) / FPS
    rows = [("jawOpen", "jawOpen"), ("smile", "mouthSmileLeft"), ("head pitch (deg)", "pitch"),
            ("head yaw (deg)", "yaw"), ("eyeBlink", "eyeBlinkLeft"), ("browInnerUp", "browInnerUp")]
    fig, axes = plt.subplots(len(rows), 1, figsize=(13, 11), sharex=True)
    for ax, (label, col) in zip(axes, rows, strict=True):
        for seg in meta["segments"]:
            if seg["t1"] < start_s or seg["t0"] > start_s + length_s:
                continue
            alpha = 0.18 if seg["kind"] == "speech" else 0.35
            ax.axvspan(seg["t0"], seg["t1"], color=_COLORS[seg["speaker"]], alpha=alpha, lw=0)
        for r in "ab":
            voice = meta["voices"][r]["id"]
            ax.plot(t, tracks[r].column(col)[f0:f1], color=_COLORS[r], lw=1.1,
                    label=f"{r}: {voice}")
        ax.set_ylabel(label)
        if col == "pitch":
            for r in "ab":
                for ev in meta["events"][r]:
                    if ev["type"] == "nod" and start_s <= ev["t"] <= start_s + length_s:
                        ax.annotate("nod" if ev["cause"] == "partner_pause" else "",
                                    (ev["t"], ax.get_ylim()[1]), color=_COLORS[r], fontsize=7)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[-1].set_xlim(t[0], t[-1])
    axes[-1].set_xlabel("time (s); shading = who is speaking (darker: backchannel/laugh)")
    fig.suptitle(f"{meta['dialogue_id']} ({meta.get('split', '')}): speaker vs listener motion")
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png


def plot_stats(split_dir: Path, out_png: Path, max_dialogues: int = 40) -> dict[str, float]:
    """Corpus-level checks: turn gaps, jaw speaking vs listening, blinks, event rates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dirs = sorted(p for p in split_dir.iterdir() if (p / "meta.json").is_file())[:max_dialogues]
    gaps: list[float] = []
    jaw_talk: list[np.ndarray] = []
    jaw_listen: list[np.ndarray] = []
    blink_gaps: list[np.ndarray] = []
    events: dict[str, int] = {}
    minutes = 0.0
    for d in dirs:
        meta = json.loads((d / "meta.json").read_text())
        minutes += float(meta["duration_s"]) / 60.0
        speech = sorted((s for s in meta["segments"] if s["kind"] == "speech"),
                        key=lambda s: s["t0"])
        for prev, nxt in zip(speech, speech[1:], strict=False):
            if prev["speaker"] != nxt["speaker"] and prev["turn"] != nxt["turn"]:
                gaps.append(nxt["t0"] - prev["t1"])
        for r in "ab":
            track = MotionTrack.load(d / f"motion_{r}.npz")
            talking = np.zeros(len(track), bool)
            for s in speech:
                if s["speaker"] == r:
                    talking[int(s["t0"] * FPS): int(s["t1"] * FPS)] = True
            jaw = track.column("jawOpen")
            jaw_talk.append(jaw[talking])
            jaw_listen.append(jaw[~talking])
            blink = track.column("eyeBlinkLeft") > 0.5
            onsets = np.nonzero(blink[1:] & ~blink[:-1])[0]
            blink_gaps.append(np.diff(onsets) / FPS)
            for ev in meta["events"][r]:
                key = f"{ev['type']}:{ev['cause']}"
                events[key] = events.get(key, 0) + 1
    talk, listen, bg = (np.concatenate(jaw_talk), np.concatenate(jaw_listen),
                        np.concatenate(blink_gaps))
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    axes[0, 0].hist(gaps, bins=40, color="tab:green")
    axes[0, 0].axvline(0, color="k", lw=0.8)
    axes[0, 0].set_title(f"turn-transition gaps (s), n={len(gaps)}; < 0 = overlap")
    bins = np.linspace(0, 0.6, 50)
    axes[0, 1].hist(talk, bins=bins, alpha=0.6, density=True, label="speaking")
    axes[0, 1].hist(listen, bins=bins, alpha=0.6, density=True, label="listening")
    axes[0, 1].set_title("jawOpen while speaking vs listening")
    axes[0, 1].legend()
    axes[1, 0].hist(bg, bins=40, color="tab:purple")
    axes[1, 0].set_title(f"time between blinks (s), median {np.median(bg):.1f}")
    keys = sorted(events)
    axes[1, 1].barh(keys, [events[k] / minutes / 2 for k in keys], color="tab:gray")
    axes[1, 1].set_title("reactions per person per minute (type:cause)")
    fig.suptitle(f"{split_dir.name}: {len(dirs)} dialogues, {minutes:.0f} min")
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return {"gap_median_s": float(np.median(gaps)), "overlap_share": float(np.mean(
        np.array(gaps) < 0)), "jaw_talk_median": float(np.median(talk)),
        "jaw_listen_median": float(np.median(listen)), "blink_gap_median_s": float(np.median(bg)),
        "minutes": minutes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--split", default="train")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--start", type=float, default=0.0)
    parser.add_argument("--length", type=float, default=40.0)
    args = parser.parse_args()
    dirs = sorted(p for p in (args.root / args.split).iterdir() if (p / "meta.json").is_file())
    path = plot_dialogue(dirs[args.index], args.out_dir / "corpus_example.png", args.start,
                         args.length)
    print(path)
    print(plot_stats(args.root / args.split, args.out_dir / "corpus_stats.png"))


if __name__ == "__main__":
    main()
