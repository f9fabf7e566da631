"""Figure: none; lists the labelled barge-in clips: the table of bench/voice/BARGE_IN_SET.md.

Builds the clips that are missing (cut from recordings in pinned packages, plus
piper lines; benchkit/voice/barge_in_set.py) and prints each clip's label, source,
text, duration and origin, with counts per label and source; `--transcribe`
adds what the bundled whisper hears in each.

    python bench/voice/barge_in_set.py [--cache cache/barge_in_set] [--transcribe]

Runs: ~1 min on its defaults (estimated for the 2-core host).
Quoted: none: lists the labelled barge-in clips (bench/voice/BARGE_IN_SET.md)
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from benchkit import real_media
from benchkit.voice.barge_in_set import (
    CUTS,
    DEFAULT_CACHE,
    barge_in_clips,
    recording_source,
    whisper_transcripts,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--media-cache", type=Path, default=real_media.DEFAULT_CACHE)
    parser.add_argument("--no-tts", action="store_true", help="leave out the piper clips")
    parser.add_argument("--transcribe", action="store_true",
                        help="also run the bundled whisper on every clip")
    args = parser.parse_args()
    clips = barge_in_clips(args.cache, args.media_cache, include_tts=not args.no_tts)
    heard = (whisper_transcripts({c.name: np.frombuffer(c.pcm, dtype="<i2") for c in clips})
             if args.transcribe else {})
    rows = []
    for clip in clips:
        cut = next(c for c in CUTS if c.name == clip.name)
        source = recording_source(cut.recording)
        row = {"name": clip.name, "label": clip.label, "source": clip.source,
               "text": clip.text, "duration_s": round(clip.duration, 2), "path": str(clip.path),
               "from": (f"{source.registry}:{source.package}=={source.version} {source.member}"
                        if source else "piper (bundled voice)")}
        if heard:
            row["whisper"] = heard[clip.name]
        rows.append(row)
    durations = [r["duration_s"] for r in rows]
    summary = {
        "clips": len(rows),
        "per_label": dict(Counter(c.label for c in clips)),
        "per_source": dict(Counter(c.source for c in clips)),
        "per_label_and_source": dict(Counter(f"{c.label}/{c.source}" for c in clips)),
        "duration_s": {"min": min(durations), "median": float(np.median(durations)),
                       "max": max(durations), "total": round(sum(durations), 2)},
        "cache": str(args.cache / "clips"),
        "clip_list": rows,
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
