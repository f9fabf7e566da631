"""Figure: bench/results/turn_splits*.json, how often one paused spoken request is cut into two turns.

Spoken with the bundled piper voice, each request is two or three pieces with
a silent pause between them ("I'd like a coffee and" [pause] "a croissant").
Each is streamed at real-time pace to the real voice server (whisper, smart-turn,
the embedded LLM); a *split* is a `user-stopped-speaking` event during a pause:
the server ended the turn before the user had finished. Variants run in the same
process one after the other (`VARIANTS`): pipecat's smart-turn alone, with one
0.8 s hold on words that promise more (the last release), and the default: 0.8 s,
and 1.6 s after a word no sentence ends on (pipelines/turns/turn_hold.py). Also the
extra wait the hold costs on requests that end cleanly (voice-to-voice on the
control questions).

Prints one JSON object (last line); writes bench/results/turn_splits.json.

    .venv/bin/python bench/voice/turn_splits.py [--pauses 0.6 1.0]

`--real` streams real recorded speech instead: the first 10 clips
(`REAL_UTTERANCES`, benchkit/real_media.py: the five LibriVox sentences, two
meeting utterances, three 9 s stretches of a lecture), then the 21 utterances
that benchkit/voice/paused_utterances.py's fixed rule keeps (one speaker, >= 2 s, a
0.3-1.5 s pause inside: AMI meetings, the rest of the lecture and meeting, a
vlog, a Praat sentence); 31 clips. Each is one utterance with the speaker's own
pauses inside it. A split is a turn end before the clip's speech is over (the
later of its last loud frame and, where known, its last silero speech window);
`premature_turn_ends` is the share of clips split, with its 95 % Wilson
interval; `pause_split_rate` the share of the rule's pauses (0.3-1.5 s) in
which a turn ended early (`splits_elsewhere`: early turn ends in no such pause). `joined` counts split clips that still reached the
LLM as one user message (pipelines/turns/turn_join.py); `split_after` is what the
server had heard when it ended the turn, `split_at_s` when (from the clip's
start). The last release's hold and the default run on two servers in one
process, clip by clip in turn (who goes first alternates), so both see the same
machine; each row records the 1-minute load. Writes
bench/results/turn_splits_real_large.json (`--original`: the first 10 only,
bench/results/turn_splits_real.json).

    .venv/bin/python bench/voice/turn_splits.py --real [--original] [--semantic] [--held-out]
    .venv/bin/python bench/voice/turn_splits.py --plot bench/results/turn_end_real.json \
        bench/results/turn_end_held_out.json     # bench/results/turn_end_sets.png

`--held-out` runs the same on the held-out clips instead (benchkit/voice/held_out_media.py:
recordings found after every hold was chosen, reported and never tuned on), without
the questions, writing bench/results/turn_end_held_out.json.

`--semantic` compares the word holds alone (`semantic_turn = false`, the default until
issue 25) with the same plus the LLM's end-of-turn reading (`TurnParams.semantic_turn`,
pipelines/turns/semantic_turn.py; the shipped default), and asks both the kiosk's
questions and statements (benchkit/visitor.py), instead of the last release, writing
bench/results/turn_end_real.json; each row then records
the readings (verdict, p_end, p_close) and their cost, and the summary
`voice_heard_before_done`, the share of clips in which the bot's voice reached the
speaker before they were done. The offline sweep of the same clips is bench/voice/turn_end.py.

Last run (31 clips, load 0.4-1.4): premature_turn_ends 9 of 31 = 0.29 (95 %
0.16-0.47) with the default (the word tiers plus the hold where whisper did not
hear a sentence end), 13 of 31 with the word tiers alone; 8 of the 9 split clips
joined. `end_ms`: when the turn ended after the speech. Causes and what would fix
them: docs/LATENCY.md, "A hold where whisper did not hear a sentence end".

Runs: ~10 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": paused utterances cut in two 0.13 (0.29 without the reading); held out 0.23
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchkit.paths import RESULTS, ROOT
from benchkit.server import start_server
from benchkit.visitor import QUESTIONS, STATEMENTS, synthesize
from benchkit.voice.turn_splits import (
    CONTROLS,
    RATE,
    SEMANTIC,
    VARIANTS,
    internal_pauses,
    median_or_none,
    pauses_split,
    plot_detectors,
    real_clips,
    run_real,
    run_request,
    run_variant,
    split_summary,
    variant_name,
)


async def main_real(args: argparse.Namespace) -> dict[str, Any]:
    """Premature turn ends on real recordings (see the module docstring)."""
    from benchkit.runtime import bench_runtime, voice_only
    from pipelines.server.app import ServerConfig
    from pipelines.settings import Settings
    from pipelines.voice_pipeline import TurnParams

    clips = real_clips(args.original, held_out=args.held_out)
    lead = 0.3
    # the server's runtime, voice only, no knowledge routing (as these figures always had)
    runtime, llm_server = await bench_runtime(voice_only(Settings.load(), knowledge=False))
    models = runtime.models
    rows = []
    questions: list[dict[str, Any]] = []
    # the last release, then the default; or the default, then the default + semantic
    variants: list[tuple[Any, ...]] = [VARIANTS[-1], SEMANTIC] if args.semantic else VARIANTS[-2:]
    servers = []
    try:
        load = os.getloadavg()
        for variant in variants:  # one server each, clip by clip in turn
            hold, unfinished, uncertain, *semantic = variant
            sessions: list[Any] = []
            turn = TurnParams(incomplete_hold_secs=hold, unfinished_hold_secs=unfinished,
                              uncertain_hold_secs=uncertain, semantic_turn=bool(semantic))
            url, server, thread = start_server(runtime, ServerConfig(
                turn=turn, max_sessions=2, on_session=sessions.append))
            servers.append((variant_name(*variant), url, server, thread, sessions))
        for index, clip in enumerate(clips):
            order = servers if index % 2 == 0 else servers[::-1]  # alternate who goes first
            for variant, url, _, _, sessions in order:
                pcm = np.concatenate([np.zeros(int(lead * RATE), np.int16), clip["audio"]])
                speech_end = (None if clip["speech_end_s"] is None
                              else lead + clip["speech_end_s"])
                result = await run_real(url, pcm.tobytes(), sessions, speech_end, lead)
                split_pauses, elsewhere = pauses_split(clip["rule_pauses"], result["split_at_s"])
                rows.append({"variant": variant, "clip": clip["clip"], "set": clip["set"],
                             "from": clip["from"], "start": clip["start"],
                             "end": round(clip["end"], 3), "speaker": clip["speaker"],
                             "pauses_s": internal_pauses(pcm.tobytes()),
                             "rule_pauses": clip["rule_pauses"], **result,
                             "split_pauses": split_pauses, "splits_elsewhere": elsewhere,
                             "load_1m": round(os.getloadavg()[0], 2)})
                print(f"real: {rows[-1]}", file=sys.stderr, flush=True)
        if args.semantic and not args.held_out:  # complete questions: what a reading costs
            kinds = {**{t: "question" for t in [*QUESTIONS, *CONTROLS]},
                     **{t: "statement" for t in STATEMENTS}}
            for index, text in enumerate(kinds):
                question = synthesize(models, text)
                for variant, url, *_ in (servers if index % 2 == 0 else servers[::-1]):
                    result = await run_request(url, [question], 0.0)
                    questions.append({"variant": variant, "question": text,
                                      "kind": kinds[text], **result,
                                      "load_1m": round(os.getloadavg()[0], 2)})
                    print(f"question: {questions[-1]}", file=sys.stderr, flush=True)
    finally:
        for _, _, server, thread, _ in servers:
            server.should_exit = True
            thread.join(timeout=10)
        if llm_server is not None:
            llm_server.stop()
    summary = {}
    for hold_secs in variants:
        name = variant_name(*hold_secs)
        mine = [r for r in rows if r["variant"] == name]
        asked = [q["v2v_ms"] for q in questions
                 if q["variant"] == name and q["kind"] == "question"]
        stated = [q["v2v_ms"] for q in questions
                  if q["variant"] == name and q["kind"] == "statement"]
        summary[name] = split_summary(mine) | {
            "by_set": {s: split_summary([r for r in mine if r["set"] == s])
                       for s in dict.fromkeys(r["set"] for r in mine)}} | ({
            "question_v2v_ms_p50": median_or_none(asked), "questions_asked": len(asked),
            "questions_answered": sum(v is not None for v in asked),
            "statement_v2v_ms_p50": median_or_none(stated), "statements_said": len(stated),
            "statements_answered": sum(v is not None for v in stated)} if asked else {})
    default = summary[variant_name(*variants[-1])]
    loads = [r["load_1m"] for r in rows]
    return {"utterances": len(clips),
            "with_internal_pauses": sum(bool(c["rule_pauses"]) for c in clips),
            **{k: v for k, v in default.items() if k != "by_set"}, "variants": summary,
            "rows": rows, "questions": questions, "load_avg_start": [round(x, 2) for x in load],
            "load_avg_end": [round(x, 2) for x in os.getloadavg()],
            "load_1m_during": {"min": min(loads), "median": float(np.median(loads)),
                               "max": max(loads)} if loads else None}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from benchkit.runtime import bench_runtime, voice_only
    from pipelines.settings import Settings

    runtime, llm_server = await bench_runtime(voice_only(Settings.load(), knowledge=False))
    models = runtime.models
    try:
        load = os.getloadavg()
        variants = [await run_variant(models, runtime, *variant, args.pauses)
                    for variant in VARIANTS]
    finally:
        if llm_server is not None:
            llm_server.stop()
    return {"variants": variants, "pauses": args.pauses, "load_avg_start": [round(x, 2) for x in load],
            "load_avg_end": [round(x, 2) for x in os.getloadavg()],
            "control_v2v_ms_median": {v["variant"]: float(np.median([x for x in v["control_v2v_ms"] if x]))
                                      for v in variants}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pauses", type=float, nargs="+", default=[0.6, 1.0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--real", action="store_true", help="real recordings (see above)")
    parser.add_argument("--original", action="store_true",
                        help="with --real: only the first 10 clips (REAL_UTTERANCES)")
    parser.add_argument("--semantic", action="store_true",
                        help="with --real: the default against the default + the LLM's reading")
    parser.add_argument("--held-out", action="store_true",
                        help="with --real: the held-out clips only (never tuned on), no questions")
    parser.add_argument("--plot", nargs="+", type=Path, metavar="RESULT_JSON",
                        help="only draw bench/results/turn_end_sets.png from --real --semantic results")
    arguments = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if arguments.plot:
        plot_detectors({path.stem: json.loads(path.read_text()) for path in arguments.plot},
                       RESULTS / "turn_end_sets.png")
        print(json.dumps({"plot": "bench/results/turn_end_sets.png"}))
        raise SystemExit(0)
    if arguments.real:
        real = asyncio.run(main_real(arguments))
        out = arguments.out or ROOT / "bench" / "results" / (
            "turn_end_held_out.json" if arguments.held_out else
            "turn_end_real.json" if arguments.semantic else
            "turn_splits_real.json" if arguments.original else "turn_splits_real_large.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(real, indent=2) + "\n")
        print(json.dumps({k: v for k, v in real.items() if k != "rows"}))
        raise SystemExit(0)
    arguments.out = arguments.out or ROOT / "bench" / "results" / "turn_splits.json"
    output = asyncio.run(main(arguments))
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(output, indent=2) + "\n")
    print(json.dumps({k: v for k, v in output.items() if k != "variants"}
                     | {"split_rate": {v["variant"]: v["split_rate"] for v in output["variants"]}}))
