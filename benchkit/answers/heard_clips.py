"""Figure: the tuning halves' questions as the server hears them, every step of the hearing
kept (JSON lines out), for offline routing and for `business_answers.py --heard`.

Each question of bench/answers/businesses/<name>/{tune,probe}.json (never the held-out half) is
said by each voice (the bundled piper voice and espeak-ng, benchkit/answers/spoken_questions.py)
and heard as one whole clip through the server's own recognizer service
(`BundledWhisperSTTService.run_stt`): whisper tiny.en with the business's file as its prompt,
the file's choice among its hypotheses (`choose_heard`) and, where the voice pipeline asks for
it, whisper base's second opinion (`wants_second_opinion`, `second_opinion`), wired as
pipelines/voice_pipeline.py wires them. The server's own cut of streamed audio (its VAD, the
speculative guess) is not here: a whole clip is one utterance.

One row a clip: b, half, voice, q, kind, tiny (tiny's hypotheses, text and score, best first;
null where the service did not ask for a choice), chosen, wanted (base asked), base (base's
hypotheses, null where not asked), taken (base's hearing taken, or null), heard (the transcript
the visitor's turn gets) and ms (the hearing's wall time). Sections 25-30 of docs/ANSWERS.md
route such rows with `plan_turn` and judge them by the bench's keywords.

Resumable: rows already in `--out` are not heard again.

Usage: python -m benchkit.answers.heard_clips [--businesses store pharmacy museum clinic]
       [--halves tune probe] [--voices piper espeak] [--out bench/results/heard_clips.jsonl]
The last stdout line is one JSON object (counts and times).

Runs: ~5 min (the 608 clips of the four businesses' tune and probe halves, base beside tiny).
Quoted: docs/ANSWERS.md, "30. A heard word matched to a file word by its sound (issue 75; measured, not shipped)": 608 clips heard, a near hypothesis taken for 16, base asked for 83 and taken for 11
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchkit.paths import ROOT

BUSINESSES_DIR = ROOT / "bench" / "answers" / "businesses"
OUT = ROOT / "bench" / "results" / "heard_clips.jsonl"
#: the halves a hearing may be kept for: the held-out half is never heard here
HALVES = ("tune", "probe")


def hear_business(models: Any, business: str, halves: Sequence[str], voices: Sequence[str],
                  done: set[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    """The rows of one business's questions not yet in `done`, each clip heard anew."""
    from pipecat.frames.frames import TranscriptionFrame

    from agent.answers.heard import TurnPlans, choose_heard, second_opinion, wants_second_opinion
    from agent.answers.index import KnowledgeIndex
    from agent.asr_vocabulary import recognizer_prompt
    from benchkit.answers.spoken_questions import say
    from pipelines.settings import Settings
    from pipelines.speech.stt import BundledWhisperSTTService, SecondOpinion

    folder = BUSINESSES_DIR / business
    settings = Settings.load(None, persona={"persona_file": str(folder / "persona.md"),
                                            "knowledge_file": str(folder / "knowledge.md")})
    index = KnowledgeIndex.from_settings(settings.llm, settings.persona)
    if index is None:
        raise SystemExit("retrieval is off in these settings: nothing would choose a hearing")
    prompt = recognizer_prompt("\n".join(index.facts))
    rows = []
    for half in halves:
        for question in json.loads((folder / f"{half}.json").read_text(encoding="utf-8"))["questions"]:
            for voice in voices:
                if (business, half, voice, question["q"]) in done:
                    continue
                row: dict[str, Any] = {"b": business, "half": half, "voice": voice,
                                       "q": question["q"], "kind": question["kind"], "tiny": None,
                                       "chosen": None, "wanted": None, "base": None, "taken": None}
                plans = TurnPlans(index)

                def choose(hypotheses: Sequence[tuple[str, float]], row: dict[str, Any] = row,
                           plans: TurnPlans = plans) -> str:
                    row["tiny"] = [list(h) for h in hypotheses]
                    row["chosen"] = choose_heard(index, hypotheses, plan=plans)
                    return str(row["chosen"])

                def wanted(heard: str, row: dict[str, Any] = row, plans: TurnPlans = plans) -> bool:
                    row["wanted"] = wants_second_opinion(index, heard, plan=plans)
                    return bool(row["wanted"])

                def taken(hypotheses: Sequence[tuple[str, float]], row: dict[str, Any] = row,
                          plans: TurnPlans = plans) -> str | None:
                    row["base"] = [list(h) for h in hypotheses]
                    row["taken"] = second_opinion(index, hypotheses, plan=plans)
                    return row["taken"]

                second = (SecondOpinion(whisper=models.second_whisper, wanted=wanted, taken=taken)
                          if models.second_whisper is not None else None)

                async def hear(pcm: bytes, choose: Any = choose, second: Any = second) -> str:
                    stt = BundledWhisperSTTService(models=models, prompt=prompt, choose=choose,
                                                   second=second)
                    stt._load()
                    frames = [f async for f in stt.run_stt(pcm)]
                    return " ".join(f.text.strip() for f in frames
                                    if isinstance(f, TranscriptionFrame))

                pcm = say(voice, question["q"])
                started = time.perf_counter()
                row["heard"] = asyncio.run(hear(pcm))
                row["ms"] = round((time.perf_counter() - started) * 1000)
                rows.append(row)
                print(f"{business} {half} {voice} {question['q']!r} -> {row['heard']!r} "
                      f"({row['ms']} ms)", flush=True)
    return rows


def main() -> int:
    """Hear the clips, append their rows to `--out`, print the summary as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--businesses", nargs="+", default=None,
                        help="default: every folder of bench/answers/businesses")
    parser.add_argument("--halves", nargs="+", choices=HALVES, default=list(HALVES))
    parser.add_argument("--voices", nargs="+", choices=("piper", "espeak"),
                        default=["piper", "espeak"])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-second-opinion", action="store_true",
                        help="tiny.en alone (the setting `[asr] second_opinion = false`)")
    args = parser.parse_args()
    from pipelines.settings import Settings
    from pipelines.speech.models import ASRParams, SpeechModels

    businesses = args.businesses or sorted(p.name for p in BUSINESSES_DIR.iterdir()
                                           if (p / "knowledge.md").is_file())
    done: set[tuple[str, str, str, str]] = set()
    if args.out.exists():
        for line in args.out.read_text(encoding="utf-8").splitlines():
            kept = json.loads(line)
            done.add((kept["b"], kept["half"], kept["voice"], kept["q"]))
    started, load = time.strftime("%H:%M:%S", time.gmtime()), os.getloadavg()
    models = SpeechModels.bundled(asr=ASRParams.from_section(Settings.load(None).asr),
                                  second_opinion=not args.no_second_opinion)
    models.warm_up()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    with args.out.open("a", encoding="utf-8") as out:
        for business in businesses:
            for row in hear_business(models, business, args.halves, args.voices, done):
                out.write(json.dumps(row) + "\n")
                rows.append(row)
    ms = [r["ms"] for r in rows]
    print(json.dumps({
        "out": str(args.out), "heard": len(rows), "kept_before": len(done),
        "near_hypothesis_taken": sum(bool(r["tiny"]) and r["chosen"] != r["tiny"][0][0]
                                     for r in rows),
        "base_asked": sum(bool(r["wanted"]) for r in rows),
        "base_taken": sum(r["taken"] is not None for r in rows),
        "ms_p50": statistics.median(ms) if ms else None,
        "start_utc": started, "end_utc": time.strftime("%H:%M:%S", time.gmtime()),
        "load_start": [round(x, 2) for x in load],
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
