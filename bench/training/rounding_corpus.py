"""Figure: bench/results/rounding_corpus.json / rounding_release.json and their PNGs:
does corpus version 3 (espeak turns with visemes, issue 35) teach the generator to
round its lips?

The same measure as bench/face/mouth_realism.py's rounding figures (funnel + pucker of the
generator's motion on piper's own speech, on /u ʊ w o ɔ/ frames against /i ɪ e ɛ/
frames, and how far the jaw opens while speaking), for each checkpoint named, in one
run. `rounding_corpus.json` was the probe (a teacher warm-started for 16 minutes on a
2.3 h corpus v3); `rounding_release.json` compares the shipped checkpoints, retrained
on the full corpus v3, with the previous release's (saved before the export):

    git show 95330ed:avatar/checkpoints/generator_student.safetensors > /tmp/prev_student.safetensors
    python bench/training/rounding_corpus.py --out bench/results/rounding_release.json \\
        --checkpoint previous_student=/tmp/prev_student.safetensors \\
        --checkpoint v3_student=avatar/checkpoints/generator_student.safetensors

Runs: ~10 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": funnel + pucker 0.38-0.42 on /u o w/, x3.6 the spread vowels
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from benchkit.bench_args import write_figure
from benchkit.face.mouth_realism import rounding_figures
from benchkit.paths import RESULTS


def plot(result: dict[str, Any], out: Path) -> None:
    """Rounded against spread vowels, per checkpoint, beside the corpus's own targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["checkpoints"])
    figure, axis = plt.subplots(figsize=(7, 4))
    for i, name in enumerate(names):
        figures = result["checkpoints"][name]
        axis.bar(i - 0.2, figures["rounded_mean"], 0.4, color="tab:blue",
                 label="/u o w/ frames" if i == 0 else None)
        axis.bar(i + 0.2, figures["spread_mean"], 0.4, color="tab:orange",
                 label="/i e/ frames" if i == 0 else None)
        axis.text(i, figures["rounded_mean"], f"x{figures['rounded_over_spread']}",
                  ha="center", va="bottom")
    axis.axhline(0.2, color="grey", ls="--", lw=0.8, label="goal: rounded mean 0.2")
    top = max(f["rounded_mean"] for f in result["checkpoints"].values())
    axis.set_ylim(0, max(0.25, top) * 1.3)  # room for the legend above the bars
    axis.set_xticks(range(len(names)), names)
    axis.set_ylabel("funnel + pucker (generator, piper speech)")
    axis.legend(fontsize=8)
    figure.suptitle("lip rounding by checkpoint (bench/training/rounding_corpus.py)", fontsize=10)
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--checkpoint", action="append", required=True, metavar="NAME=PATH",
                        help="a checkpoint to measure (repeat)")
    parser.add_argument("--out", type=Path, default=RESULTS / "rounding_corpus.json")
    args = parser.parse_args()
    checkpoints: dict[str, Path] = {}
    for item in args.checkpoint:
        name, sep, path = item.partition("=")
        if not sep or not Path(path).is_file():
            parser.error(f"--checkpoint wants NAME=PATH of a file, got {item!r}")
        checkpoints[name] = Path(path)
    load_before = os.getloadavg()
    result: dict[str, Any] = {
        "checkpoints": {name: {"path": str(path), **rounding_figures(checkpoint=path)}
                        for name, path in checkpoints.items()},
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "goals": {"rounded_over_spread_ge_3": 3.0, "rounded_mean_ge": 0.2},
    }
    write_figure(args.out, result, plot)


if __name__ == "__main__":
    main()
