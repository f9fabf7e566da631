"""Figure: whisper's encoder window, speed and words (JSON; --out bench/results/asr_window.json).

Whisper's encoder window: the whole 30 s, or the utterance plus 2 s (at least 20 s).

faster-whisper pads every utterance to 30 s before the encoder, so a 2 s
question costs as much as a 30 s one (~380 ms of the voice-to-voice budget on
a quiet 2-core machine). `pipelines.speech.models.fit_encoder_window` cuts the
padding (ASRParams.encoder_min_secs). This bench transcribes the same clips
with both, alternating clip by clip in one process, and reports:

- asr_ms_p50 / _p95 per variant (wall time of one greedy transcription, the
  `asr_final_ms` of the pipeline once the VAD has stopped);
- wer_human: word error rate on real human speech (the human clips of
  bench/voice/barge_in_set.py, with the texts given in BARGE_IN_SET.md, and three
  LibriVox sentences against the book);
- wer_tts on the kiosk questions spoken by piper (known text);
- identical: clips whose transcripts are the same word for word.

Usage: python bench/voice/asr_window.py [--min-secs 20] [--out bench/results/asr_window.json]
The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchkit.barge_in_set import barge_in_clips
from benchkit.real_media import speech_clips
from benchkit.stats import percentile
from benchkit.voice import QUESTIONS, synthesize
from benchkit.word_error import LIBRIVOX_TEXT, wer, words


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-secs", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import soundfile

    from pipelines.speech.models import ASRParams, GreedyWhisper, SpeechModels

    load_start = os.getloadavg()
    models = SpeechModels.bundled(asr=ASRParams(encoder_min_secs=args.min_secs))
    full = SpeechModels.bundled(asr=ASRParams(encoder_min_secs=0.0))
    variants = {"window_30s": GreedyWhisper(full.whisper, full.asr),
                "fitted": GreedyWhisper(models.whisper, models.asr)}

    clips: list[dict[str, Any]] = []
    for question in QUESTIONS:
        pcm = np.frombuffer(synthesize(models, question), np.int16)
        clips.append({"name": f"tts: {question}", "kind": "tts", "text": question, "pcm": pcm})
    for path in speech_clips():
        if path.stem in LIBRIVOX_TEXT:
            audio, _ = soundfile.read(str(path), dtype="int16")
            clips.append({"name": path.stem, "kind": "human", "text": LIBRIVOX_TEXT[path.stem],
                          "pcm": audio})
    for clip in barge_in_clips():
        if clip.source == "human" and clip.text:
            clips.append({"name": clip.name, "kind": "human", "text": clip.text,
                          "pcm": np.frombuffer(clip.pcm, np.int16)})

    for model in variants.values():  # warm both up
        list(model.transcribe(np.zeros(16000, np.float32))[0])
    rows = []
    for clip in clips:
        audio = clip["pcm"].astype(np.float32) / 32768.0
        row: dict[str, Any] = {"name": clip["name"], "kind": clip["kind"], "text": clip["text"],
                               "secs": round(len(audio) / 16000, 2)}
        for name, model in variants.items():
            started = time.perf_counter()
            segments, _ = model.transcribe(audio, language="en")
            heard = " ".join(s.text.strip() for s in segments)
            row[name] = {"ms": round((time.perf_counter() - started) * 1000, 1), "heard": heard,
                         "wer": round(wer(clip["text"], heard), 3)}
        rows.append(row)
        print(f"{clip['name'][:40]:40s} " + " | ".join(
            f"{n} {row[n]['ms']:.0f} ms {row[n]['heard'][:40]!r}" for n in variants),
            file=sys.stderr)

    def summary(name: str) -> dict[str, Any]:
        ms = [r[name]["ms"] for r in rows]
        human = [r for r in rows if r["kind"] == "human"]
        tts = [r for r in rows if r["kind"] == "tts"]
        return {
            "asr_ms_p50": percentile(ms, 50), "asr_ms_p95": percentile(ms, 95),
            "wer_human": round(float(np.mean([r[name]["wer"] for r in human])), 3),
            "wer_tts": round(float(np.mean([r[name]["wer"] for r in tts])), 3),
        }

    result = {
        "min_secs": args.min_secs, "clips": len(rows),
        "human_clips": sum(r["kind"] == "human" for r in rows),
        "summary": {name: summary(name) for name in variants},
        "identical": sum(words(r["window_30s"]["heard"]) == words(r["fitted"]["heard"])
                         for r in rows),
        "load_avg_start": [round(v, 2) for v in load_start],
        "load_avg_end": [round(v, 2) for v in os.getloadavg()],
        "rows": rows,
    }
    fitted, whole = result["summary"]["fitted"], result["summary"]["window_30s"]
    result["speedup_p50"] = round(whole["asr_ms_p50"] / fitted["asr_ms_p50"], 2)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
