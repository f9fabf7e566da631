"""Figure: none; lists the real paused utterances of bench/voice/turn_splits.py --real.

THE RULE that picks them, written before any turn was measured on them, is in
benchkit/voice/paused_utterances.py; this prints every utterance it keeps with its
recording, package file, span, speaker and pauses (the list in
bench/face/REAL_MEDIA.md); `--transcribe` adds what the bundled whisper hears.

    python bench/voice/paused_utterances.py [--transcribe]   # the list as JSON

Runs: ~1 min on its defaults (estimated for the 2-core host).
Quoted: none: lists the real paused utterances of turn_splits.py --real
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from benchkit import real_media
from benchkit.voice import barge_in_set
from benchkit.voice.paused_utterances import paused_utterances, source_of


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media-cache", type=Path, default=real_media.DEFAULT_CACHE)
    parser.add_argument("--transcribe", action="store_true",
                        help="also run the bundled whisper on every clip")
    args = parser.parse_args()
    clips = paused_utterances(args.media_cache)
    heard = (barge_in_set.whisper_transcripts(
        {clip.name: clip.audio(args.media_cache) for clip in clips}) if args.transcribe else {})
    rows = []
    for clip in clips:
        source = source_of(clip.recording)
        row = asdict(clip) | {"duration_s": round(clip.end - clip.start, 2),
                              "from": f"{source.package}=={source.version} {source.member}"}
        if heard:
            row["whisper"] = heard[clip.name]
        rows.append(row)
    print(json.dumps({"clips": len(rows), "with_pauses_per_clip": [len(c.pauses) for c in clips],
                      "rows": rows}, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
