"""Figure: the kiosk's answers to spoken questions through the real server on the
shipped defaults, judged by keywords and by the knowledge file (JSON out).

Every question of bench/answers/spoken_questions.json is said by each voice (the bundled
piper voice and espeak-ng, benchkit/answers/spoken_questions.py), optionally with the
hall's babble at `--snr` dB, and sent at real-time pace over a loopback websocket
to the product's server (`load_runtime` on `Settings.load()`: whisper, the
knowledge routing, the embedded LLM, the fact guard; voice only). A single question
is a new visit (a fresh session); a `session`'s turns are asked in order in one.

Each reply is judged twice:
- `invented`: a number, time, price, phone, name, e-mail or entrance the reply states
  (agent/answers/values.py) that the knowledge file alone does not hold (`FactGuard.known`
  over the file, without the persona: "The person at the service desk today is Sam" gives
  the persona's name as a fact), or a condition read backwards; 0 is the goal.
  `invented_guard_view` is the same over file + persona, as the pipeline's guard sees it;
- `correct`: the keyword judge of the text sets (benchkit/answers/llm_answers.py): a fact
  question's keywords, an unknown's "I don't know" or staff pointer, and no invented
  fact (the judge alone counts "...at the service desk today is Sam" as a staff pointer).

The transcript the server heard is kept (`heard`, word error against the question).

Resumable: rows are appended to `--raw` after every turn and a rerun skips what is
there, so the full set can be run in pieces (`--voices`, `--split`) under the lock.

`--asr-beam 1 5` asks every visit once per recognizer beam (`asr.beam_size`), in one
run on one server, the arms' visits interleaved (a visit's arm order turns round): the
server's shared `SpeechModels.asr` is set before each visit, and every session's
whisper reads it when the session starts (`seen_beam` records what it read). The
summary is then one per arm (`asr_beam_N`), with `changed`: the questions one arm got
right and the other wrong.

Usage: python bench/answers/spoken_answers.py [--voices piper espeak] [--split tune|heldout|all]
       [--snr 10] [--limit N] [--asr-beam N [N ...]]
       [--raw bench/results/spoken_answers_raw.json]
       [--out bench/results/spoken_answers.json] [--summarise-only]
The last stdout line is one JSON object.

Runs: ~15 min on its defaults (estimated for the 2-core host).
Quoted: docs/ANSWERS.md, "9. A beam of 5 for the recognizer, and two questions the rules missed": the spoken held-out half, beams 1 and 5 in one run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agent.answers.guard import FactGuard
from agent.answers.values import extract_facts
from agent.persona import read_prompt_file
from benchkit.answers.llm_answers import judge
from benchkit.answers.spoken_questions import VOICES, load_questions
from benchkit.answers.visits import ask_aloud, visits
from benchkit.paths import ROOT

RESULTS = ROOT / "bench" / "results" / "spoken_answers.json"
RAW = ROOT / "bench" / "results" / "spoken_answers_raw.json"


def invented(guard: FactGuard, reply: str) -> list[str]:
    """The facts `reply` states that the file does not hold, or holds the other way."""
    wrong = [f.text for f in extract_facts(reply) if not guard.known(f)]
    return wrong + [f.text for f in extract_facts(reply) if guard.flipped(f) is not None]


def key(row: dict[str, Any]) -> str:
    """A row's identity in the raw file (voice, noise, recognizer beam and question; a
    row from before the beam was recorded was greedy, beam 1)."""
    return (f"{row['voice']}|{row['noise']}|{row.get('asr_beam', 1)}|"
            f"{row.get('session', '')}|{row['q']}")


async def ask_all(todo: list[tuple[str, int, list[dict[str, Any]]]],
                  args: argparse.Namespace, spec: dict[str, Any],
                  done: list[dict[str, Any]]) -> dict[str, Any]:
    """Start the server, ask every visit in `todo` ((voice, recognizer beam, questions)),
    append rows to `done` and the raw file; return facts about the run."""
    from benchkit.runtime import bench_runtime, voice_only
    from benchkit.server import start_server
    from pipelines.server.runtime import ServerConfig
    from pipelines.settings import Settings
    from sdk.client import VoiceClient

    settings = voice_only(Settings.load())
    guard = FactGuard(read_prompt_file(settings.persona.knowledge_file))
    runtime, llm_server = await bench_runtime(settings)
    shipped_asr = runtime.models.asr
    seen: list[int] = []  # the beam each session's whisper was built with

    def on_session(session: Any) -> None:
        seen.append(session.processors["stt"]._model._params.beam_size)

    try:
        url, server, thread = start_server(
            runtime, ServerConfig.from_settings(settings, on_session=on_session))
        for n, (voice, beam, visit) in enumerate(todo):
            runtime.models.asr = replace(shipped_asr, beam_size=beam)
            client = await VoiceClient.connect(url, client_name="spoken-answers")
            try:
                for q in visit:
                    started = time.perf_counter()
                    result = await ask_aloud(client, voice, q["q"], snr_db=args.snr)
                    reply = result.reply_text
                    row = {"voice": voice, "noise": args.noise, "asr_beam": beam,
                           "seen_beam": seen[-1] if seen else None, "q": q["q"],
                           "kind": q["kind"],
                           "split": q["split"], "heard": result.transcript, "reply": reply,
                           "keywords": judge(q, reply, spec["refusal_any_of"],
                                             spec.get("redirect_any_of", [])),
                           "invented": invented(guard, reply),
                           "voice_to_voice_ms": result.voice_to_voice_ms,
                           "turn_s": round(time.perf_counter() - started, 2)}
                    if "session" in q:
                        row.update(session=q["session"], turn=q["turn"])
                    done.append(row)
                    args.raw.write_text(json.dumps(done, indent=1), encoding="utf-8")
                    print(f"[{n + 1}/{len(todo)}] {voice} beam {beam} "
                          f"{'ok ' if row['keywords'] else 'BAD'}"
                          f"{' INVENTED' if row['invented'] else ''} {q['q']!r} heard "
                          f"{row['heard']!r} -> {reply[:90]!r}", file=sys.stderr)
            finally:
                await client.close()
        server.should_exit = True
        thread.join(timeout=10)
    finally:
        runtime.models.asr = shipped_asr
        if llm_server is not None:
            llm_server.stop()
    return {"shipped_asr_beam": shipped_asr.beam_size}


def rejudge(rows: list[dict[str, Any]], spec: dict[str, Any]) -> None:
    """Judge every row's reply again with the current judge and knowledge file (a raw
    file from an earlier run keeps its replies; only the verdicts are redone)."""
    from pipelines.settings import Settings

    persona = Settings.load().persona
    knowledge = read_prompt_file(persona.knowledge_file)
    strict = FactGuard(knowledge)
    lenient = FactGuard(knowledge, read_prompt_file(persona.persona_file))
    by_q = {q["q"]: q for q in spec["questions"]}
    for row in rows:
        row["keywords"] = judge(by_q[row["q"]], row["reply"], spec["refusal_any_of"],
                                spec.get("redirect_any_of", []))
        row["invented"] = invented(strict, row["reply"])
        row["invented_guard_view"] = invented(lenient, row["reply"])
        row["correct"] = row["keywords"] and not row["invented"]


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Shares right per split, kind and voice, replies with an invented fact, word error."""
    from benchkit.answers.word_error import wer

    def share_of(picked: list[dict[str, Any]], field: str) -> float | None:
        return round(sum(r[field] for r in picked) / len(picked), 3) if picked else None

    def share(picked: list[dict[str, Any]]) -> float | None:
        return share_of(picked, "correct")

    out: dict[str, Any] = {}
    groups: dict[str, list[dict[str, Any]]] = {"all": rows}
    for split in ("tune", "heldout"):
        groups[split] = [r for r in rows if r["split"] == split]
        for voice in sorted({r["voice"] for r in rows}):
            groups[f"{split}_{voice}"] = [r for r in groups[split] if r["voice"] == voice]
    for name, picked in groups.items():
        if not picked and name != "all":
            continue  # a split or voice this run did not ask
        out[name] = {
            "n": len(picked),
            "facts_right": share([r for r in picked if r["kind"] == "fact"]),
            "unknowns_declined": share([r for r in picked if r["kind"] == "unknown"]),
            "replies_with_invented_fact": sum(bool(r["invented"]) for r in picked),
            "replies_with_invented_fact_guard_view": sum(bool(r["invented_guard_view"])
                                                         for r in picked),
            "keywords_only": share_of([r for r in picked], "keywords"),
            "heard_wer": (round(sum(wer(r["q"], r["heard"]) for r in picked) / len(picked), 3)
                          if picked else None),
        }
    return out


def changed(arms: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The questions (voice, visit, question) right in one arm and wrong in another:
    what each arm heard and replied."""
    by_arm = {b: {key({**r, "asr_beam": 0}): r for r in rows} for b, rows in arms.items()}
    out = []
    for k in sorted(set.intersection(*(set(rows) for rows in by_arm.values()))):
        rows = {b: by_arm[b][k] for b in by_arm}
        if len({r["correct"] for r in rows.values()}) > 1:
            first = next(iter(rows.values()))
            out.append({"voice": first["voice"], "q": first["q"],
                        **{f"beam{b}": {"correct": r["correct"], "heard": r["heard"],
                                        "reply": r["reply"]} for b, r in rows.items()}})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", nargs="+", default=list(VOICES), choices=list(VOICES))
    parser.add_argument("--split", choices=["tune", "heldout", "all"], default="all")
    parser.add_argument("--snr", type=float, default=None, help="hall babble at this SNR (dB)")
    parser.add_argument("--limit", type=int, default=0, help="first N visits a voice (0: all)")
    parser.add_argument("--asr-beam", type=int, nargs="+", default=None, metavar="N",
                        help="the recognizer's beam (asr.beam_size) for each arm, every "
                        "visit asked once per arm, interleaved (default: the settings')")
    parser.add_argument("--raw", type=Path, default=RAW)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--summarise-only", action="store_true")
    args = parser.parse_args()
    args.noise = "clean" if args.snr is None else f"snr{args.snr:g}"
    if args.asr_beam is None:
        from pipelines.settings import Settings

        args.asr_beam = [Settings.load().asr.beam_size]
    if any(not 1 <= b <= 16 for b in args.asr_beam) or len(set(args.asr_beam)) < len(args.asr_beam):
        parser.error(f"--asr-beam wants distinct beams of 1 to 16, got {args.asr_beam}")
    spec = load_questions()
    questions = [q for q in spec["questions"] if args.split == "all" or q["split"] == args.split]
    done: list[dict[str, Any]] = (json.loads(args.raw.read_text(encoding="utf-8"))
                                  if args.raw.is_file() else [])
    have = {key(r) for r in done}
    todo = []
    for voice in args.voices:
        groups = visits(questions)[: args.limit or None]
        for i, visit in enumerate(groups):
            shift = i % len(args.asr_beam)  # each arm goes first as often as the others
            for beam in args.asr_beam[shift:] + args.asr_beam[:shift]:
                wanted = {key({"voice": voice, "noise": args.noise, "asr_beam": beam, **q})
                          for q in visit}
                if not wanted <= have:
                    done[:] = [r for r in done if key(r) not in wanted]  # redone whole
                    todo.append((voice, beam, visit))
    load_start = os.getloadavg()
    args.raw.parent.mkdir(parents=True, exist_ok=True)
    facts: dict[str, Any] = {}
    started = time.perf_counter()
    if todo and not args.summarise_only:
        facts = asyncio.run(ask_all(todo, args, spec, done))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    rejudge(done, spec)
    arms = {b: [r for r in done if r.get("asr_beam", 1) == b] for b in args.asr_beam}
    summary = (summarise(arms[args.asr_beam[0]]) if len(arms) == 1 else
               {f"asr_beam_{b}": summarise(rows) for b, rows in arms.items()})
    result = {"questions_file": "bench/answers/spoken_questions.json", "voices": args.voices,
              "commit": commit, "asr_beams": args.asr_beam,
              "visits_asked_now": len(todo) if not args.summarise_only else 0,
              "run_s": round(time.perf_counter() - started, 1), **facts,
              "summary": summary,
              "changed": changed(arms) if len(arms) > 1 else [],
              "invented": [{k: r.get(k) for k in ("voice", "asr_beam", "q", "reply", "invented")}
                           for r in done if r["invented"]],
              "wrong": [{k: r.get(k) for k in ("voice", "asr_beam", "q", "heard", "reply")}
                        for r in done if not r["correct"]],
              "load_avg_start": [round(v, 2) for v in load_start],
              "load_avg_end": [round(v, 2) for v in os.getloadavg()]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
