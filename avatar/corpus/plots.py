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
    axes[-1].set_xlabel("time (s); shading = who is speaking (darker: backchannel/laugh)")
    fig.suptitle(f"{meta['dialogue_id']} ({meta.get('split', '')}): speaker vs listener motion")
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png


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


if __name__ == "__main__":
    main()
