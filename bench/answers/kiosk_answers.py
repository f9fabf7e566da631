"""Figure: bench/results/kiosk_answers.json, is the kiosk right and how soon it speaks, per prompt configuration.

Prompt configurations compared.

Embedded llama.cpp servers (the product's default model and threads), several
prompt configurations, asked in turn in ONE run so they share the machine's state:

- `shipped`: what the voice pipeline sent before retrieval: the spoken-style
  persona + the whole knowledge file as the system prompt, the question as the
  user message;
- `retrieval`: the default before the fact notes: the same system prompt and
  `agent.answers.routing.plan_turn` per message: anything no fact is about
  answered with a fixed sentence, no LLM; small talk and store questions as they are;
- `retrieval_facts`: that, plus the best fact in a system message after the
  question, read on the turn (the old `llm_retrieval_facts=1`);
- `knowledge`: `retrieval` with today's knowledge file (restrictions written as
  answers: "Pets: no pets, except service animals");
- `fact_note`: the default before the answer rules: today's knowledge file, the best
  fact in front of the session's first store question, on the server as it ships
  (prompt-state cache, every note warmed at start-up);
- `answer_rules`: the default now, as `pipelines.turns.knowledge_injector` sends it:
  `fact_note`, with a yes/no store question answered by its fact's own words and an
  amount no fact states by "I don't know", without the LLM (agent/answers/shape.py);
  in a session, a reply given without the LLM is read by the server before the next
  turn, as `KnowledgeInjector` has it read while the reply is spoken;
- `answer_rules_no_prefill`: the same without that read-ahead;
- `hybrid_rules`: `answer_rules` with retrieval by meaning too (the default now:
  `KnowledgeIndex(encoder=...)`, agent/sentence_embedding.py).

With `--guard`, each configuration is also reported as `<name>+guard`: its answers as
the voice pipeline speaks them now, each cut by the real first-clause aggregator and
checked chunk by chunk by the fact guard (agent/answers/guard.py, over the system prompt
the LLM read), judged again; `guard` counts the answers it changed, those it made
wrong (`broke`) and those it made right (`fixed`).

The first three read the knowledge file as it was (bench/answers/kiosk_knowledge_before.md).
Each configuration whose system prompt differs gets its own server (idle while
another answers), so a switch costs no cache miss.

Every question of bench/answers/llm_questions.json (facts, unknowns, off-topic; tune and
held-out splits) is asked `--repeats` times as a fresh one-turn conversation and
judged by the keyword judge of bench/answers/llm_compare.py (benchkit/answers/llm_answers.py). Configurations alternate every
`--block` questions (default: every question).

Then two scripted sessions per configuration (one opened by small talk, one by a
store question) replay several turns the way the pipeline does: the history holds
only questions and answers. Their first tokens show whether llama.cpp still reuses
the cached prefix (a miss re-reads ~900 tokens: several seconds, not tenths).

Latency is reported over all turns and over the turns the LLM answered (`llm_*`):
a fixed reply takes microseconds, which would flatter the first.

Usage: .venv/bin/python bench/answers/kiosk_answers.py [--repeats 2] [--configs fact_note answer_rules]
       [--guard]
       [--split tune|heldout|fresh|all] [--raw bench/results/kiosk_answers_raw.json]
The last stdout line is one JSON object; it is also written to bench/results/kiosk_answers.json.

Runs: ~20 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": 0.88 of 92 questions answered right, 61 never tuned on
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agent import (
    EmbeddedLLMServer,
    make_client,
    prefill,
    warm_up,
    warm_up_notes,
)
from agent.answers.guard import FactGuard
from agent.answers.index import KnowledgeIndex
from agent.answers.reading import spoken_answer
from agent.answers.routing import notes
from agent.sentence_embedding import SentenceEncoder
from benchkit.answers.kiosk_answers import (
    SESSION,
    SESSION_RULES,
    Config,
    Messages,
    ask,
    configs,
    note_tokens,
    rss_mb,
    start_server,
    summarise,
)
from benchkit.answers.llm_answers import QUESTIONS_FILE, judge
from benchkit.bench_args import write_json
from benchkit.paths import ROOT
from pipelines.settings import Settings
from pipelines.speech.first_clause import FirstClauseAggregator

RESULTS = ROOT / "bench" / "results" / "kiosk_answers.json"


async def run(chosen: dict[str, Config], repeats: int, spec: dict, settings: Settings,
              block: int = 1) -> tuple[dict, dict]:
    """Ask everything with each configuration, alternating every `block` questions so they
    share the machine's state (a server per kind, idle while the other answers); return
    (summary, raw)."""
    rows: dict[str, list[dict]] = {name: [] for name in chosen}
    sessions: dict[str, list[dict]] = {name: [] for name in chosen}
    questions = spec["questions"]
    cold: dict[str, float] = {}
    extra: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        servers: dict[str, EmbeddedLLMServer] = {}
        clients: dict[str, Any] = {}
        for kind in dict.fromkeys(config.server for config in chosen.values()):
            servers[kind] = await stack.enter_async_context(start_server(kind, settings))
            clients[kind] = make_client(servers[kind].base_url, settings.llm.api_key, timeout_s=120)
            stack.push_async_callback(clients[kind].close)
        for config in chosen.values():
            client, model = clients[config.server], servers[config.server].model_alias
            if config.server == "cached" and config.index is not None:
                # start-up, as pipelines/server/runtime.py does it: the system prompt and every note
                extra["notes_warm_up_s"] = round(await warm_up_notes(
                    client, model=model, system_prompt=config.system,
                    notes=["", *notes(config.index)]), 2)
                extra.update(note_tokens(servers[config.server], config.index))
        bar = tqdm(total=len(chosen) * (repeats * len(questions) + 2 * len(SESSION) - 1
                                        + len(SESSION_RULES)),
                   file=sys.stderr)
        for repeat in range(repeats):
            for start in range(0, len(questions), block):
                for name, config in chosen.items():
                    client, model = clients[config.server], servers[config.server].model_alias
                    # each block starts on its own system prompt: free when it is the same
                    # prompt as the last block's, one cache miss when it is not
                    cold[name] = await warm_up(client, model=model, system_prompt=config.system)
                    for question in questions[start:start + block]:
                        row = await ask(client, model, settings, config, [], question["q"])
                        row.update(q=question["q"], kind=question["kind"],
                                   split=question["split"], repeat=repeat)
                        row["correct"] = judge(question, row["answer"], spec["refusal_any_of"],
                                               spec.get("redirect_any_of", []))
                        rows[name].append(row)
                        bar.update()
        # three sessions: opened by small talk, by a store question; rule replies among LLM turns
        for session, script in enumerate((SESSION, SESSION[1:], SESSION_RULES)):
            for name, config in chosen.items():
                client, model = clients[config.server], servers[config.server].model_alias
                await warm_up(client, model=model, system_prompt=config.system)
                history: Messages = []
                for turn, question in enumerate(script):
                    row = await ask(client, model, settings, config, history, question)
                    row.update(q=question, turn=turn, session=session)
                    sessions[name].append(row)
                    # the pipeline stores only what was said: the question and the spoken answer
                    history += [{"role": "user", "content": question},
                                {"role": "assistant", "content": row["answer"]}]
                    if config.prefill and not row["llm"]:
                        # done while the reply is spoken: not part of any turn's time
                        row["prefill_s"] = round(await prefill(
                            client, model=model, messages=config.prefill_messages(history)), 3)
                    bar.update()
        bar.close()
        for kind, server in servers.items():  # the saved prompt states live in the server
            extra[f"server_rss_mb_{kind}"] = rss_mb(server.pid)
    summary = {name: {"server": chosen[name].server,
                      "system_prompt_warm_up_s": round(cold[name], 2),
                      **summarise(rows[name], sessions[name])} for name in chosen}
    summary["prompt_cache"] = extra
    return summary, {"rows": rows, "sessions": sessions}


async def spoken_chunks(text: str) -> list[str]:
    """`text` cut as the voice pipeline cuts a streamed reply for the TTS (a word a token)."""
    aggregator = FirstClauseAggregator()
    chunks = []
    for token in re.findall(r"\s*\S+", text):
        chunks += [a.text async for a in aggregator.aggregate(token)]
    last = await aggregator.flush()
    return chunks + ([last.text] if last is not None and last.text.strip() else [])


async def guarded(guard: FactGuard, text: str) -> str:
    """What pipelines/speech/fact_check.py lets the TTS say of `text`: chunks up to the
    first one with a fact the prompt lacks, then its replacement, then nothing."""
    said = []
    for chunk in await spoken_chunks(text):
        verdict = guard.check(chunk)
        if verdict.ok:
            said.append(chunk)
            continue
        said.append(verdict.fact if verdict.fact is not None else "Sorry, I don't know that. "
                    "A member of staff can tell you.")
        break
    return " ".join(said)


async def guard_rows(config: Config, rows: list[dict], spec: dict) -> tuple[list[dict], dict]:
    """`rows` with each LLM answer as the fact guard lets it be spoken, judged again."""
    sentences = ([spoken_answer(f) for f in config.index.facts] if config.index is not None
                 else None)
    guard = FactGuard.from_system_prompt(config.system, sentences=sentences)
    by_q = {q["q"]: q for q in spec["questions"]}
    out, changed, broke, fixed, checks = [], 0, 0, 0, []
    for row in rows:
        row = dict(row)
        if row["llm"]:
            start = time.perf_counter()
            answer = await guarded(guard, row["answer"])
            checks.append((time.perf_counter() - start) * 1000)
            if answer != row["answer"]:
                changed += 1
                row["unguarded"] = row["answer"]
                row["answer"] = answer
                if "q" in row and row["q"] in by_q and "correct" in row:
                    correct = judge(by_q[row["q"]], answer, spec["refusal_any_of"],
                                    spec.get("redirect_any_of", []))
                    broke += row["correct"] and not correct
                    fixed += correct and not row["correct"]
                    row["correct"] = correct
        out.append(row)
    checks.sort()
    return out, {"answers_changed": changed, "broke": broke, "fixed": fixed,
                 "cut_and_check_ms_p50": round(checks[len(checks) // 2], 3) if checks else None,
                 "changed": [{"q": r.get("q"), "said": r["unguarded"], "now": r["answer"]}
                             for r in out if "unguarded" in r]}


def rejudge(raw_path: Path, out: Path, spec: dict) -> int:
    """Re-judge the raw answers with the current judge; update `out`'s summaries."""
    raw = json.loads(raw_path.read_text(encoding="utf-8"))
    by_q = {q["q"]: q for q in spec["questions"]}
    for rows in raw["rows"].values():
        for row in rows:
            row["correct"] = judge(by_q[row["q"]], row["answer"], spec["refusal_any_of"],
                                   spec.get("redirect_any_of", []))
    raw_path.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    report = json.loads(out.read_text(encoding="utf-8"))
    for name, rows in raw["rows"].items():
        report["configs"][name].update(summarise(rows, raw["sessions"][name]))
    report["rejudged"] = True
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report))
    return 0


def main() -> int:
    """Run every configuration in one session and print the summary JSON last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--configs", nargs="+",
                        default=["fact_note", "answer_rules"],
                        choices=["shipped", "retrieval", "retrieval_facts", "knowledge",
                                 "fact_note", "answer_rules", "answer_rules_no_prefill",
                                 "hybrid_rules"])
    parser.add_argument("--guard", action="store_true",
                        help="also report each configuration's answers as the fact guard "
                        "lets them be spoken (<name>+guard)")
    parser.add_argument("--block", type=int, default=1,
                        help="questions per configuration before switching (1: alternate "
                        "every question; raise it for configurations with different system "
                        "prompts, each switch re-reads the prompt)")
    parser.add_argument("--split", choices=["tune", "heldout", "fresh", "all"], default="all")
    parser.add_argument("--raw", type=Path, default=None, help="write every answer here (JSON)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--rejudge", type=Path, default=None,
                        help="judge the answers of an earlier --raw file again (after a "
                        "judge fix) and rewrite --out's accuracy; asks no LLM")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    spec = json.loads(QUESTIONS_FILE.read_text(encoding="utf-8"))
    if args.rejudge:
        return rejudge(args.rejudge, args.out, spec)
    spec["questions"] = [q for q in spec["questions"]
                         if args.split == "all" or q["split"] == args.split]
    settings = Settings.load()
    known = configs(settings)
    if "hybrid_rules" in args.configs:
        known["hybrid_rules"] = dataclasses.replace(known["answer_rules"], index=KnowledgeIndex.from_file(
            settings.persona.knowledge_file, note_facts=1, answer_rules=True,
            encoder=SentenceEncoder()))
    load_before = os.getloadavg()
    summary, raw = asyncio.run(run({n: known[n] for n in args.configs}, args.repeats, spec,
                                   settings, args.block))
    load_after = os.getloadavg()
    if args.guard:
        for name in args.configs:
            rows, counts = asyncio.run(guard_rows(known[name], raw["rows"][name], spec))
            sessions, _ = asyncio.run(guard_rows(known[name], raw["sessions"][name], spec))
            summary[f"{name}+guard"] = {"server": known[name].server, "guard": counts,
                                        **summarise(rows, sessions)}
    cache = summary.pop("prompt_cache")
    report = {
        "bench": "kiosk_answers",
        "model": settings.llm.embedded_model,
        "threads": settings.llm.thread_count(),
        "batch_threads": settings.llm.batch_thread_count(),
        "n_batch": {"plain": 512, "cached": EmbeddedLLMServer.from_settings(settings.llm).n_batch},
        "prompt_cache_mb": settings.llm.prompt_cache_mb,
        "prompt_cache": cache,
        "questions": len(spec["questions"]),
        "repeats": args.repeats,
        "split": args.split,
        "load_average_1m_before": round(load_before[0], 2),
        "load_average_1m_after": round(load_after[0], 2),
        "load_average_5m_after": round(load_after[1], 2),
        "configs": summary,
    }
    if args.raw:
        args.raw.parent.mkdir(parents=True, exist_ok=True)
        args.raw.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
