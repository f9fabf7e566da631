"""Is the kiosk right, and how soon does it start speaking: the shipped prompt vs retrieval.

One embedded llama.cpp server (the product's default model and settings), two
prompt configurations, asked in turn in ONE run so they share the machine's state:

- `shipped`: what the voice pipeline sent before retrieval: the spoken-style
  persona + the whole knowledge file as the system prompt, the question as the
  user message;
- `retrieval`: the same system prompt (so the same cached prefix), and
  `agent.knowledge_retrieval.plan_turn` per message, as `pipelines.knowledge_injector`
  does live: the facts about the question in a short system message after it; small
  talk as it is; anything no fact is about answered with a fixed sentence, no LLM.

Every question of bench/llm_questions.json (facts, unknowns, off-topic; tune and
held-out splits) is asked `--repeats` times as a fresh one-turn conversation and
judged by bench/llm_compare.py's keyword judge. Configurations alternate every
`--block` questions (default: every question; they share the system prompt, so
switching costs no cache miss).

Then a scripted session per configuration replays several turns the way the
pipeline does: the history holds only questions and answers, the note rides on
the latest request only. Its first tokens show whether llama.cpp still reuses the
cached prefix (a miss re-reads ~900 tokens: several seconds, not tenths).

Latency is reported over all turns and over the turns the LLM answered (`llm_*`):
a fixed reply takes microseconds, which would flatter the first.

Usage: .venv/bin/python bench/kiosk_answers.py [--repeats 2] [--configs shipped retrieval]
       [--raw bench/results/kiosk_answers_raw.json]
The last stdout line is one JSON object; it is also written to bench/results/kiosk_answers.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent import (  # noqa: E402 - after the path tweak so the script runs from a clone
    AgentSettings,
    EmbeddedLLMServer,
    ReplyTiming,
    build_system_prompt,
    make_client,
    stream_reply,
    warm_up,
)
from agent.knowledge_retrieval import KnowledgeIndex, TurnPlan, plan_turn  # noqa: E402
from bench.llm_compare import QUESTIONS_FILE, SENTENCE_END, _percentile, judge  # noqa: E402
from pipelines.voice_pipeline import spoken_system_prompt  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "kiosk_answers.json"
#: A visitor's session for the cache check: facts, a follow-up, an unknown, off-topic.
SESSION = (
    "Hi there.",
    "What time do you open on Saturday?",
    "And on Sunday?",
    "Where are the restrooms?",
    "How much does a sofa cost?",
    "Tell me a joke.",
    "Can I pay with a personal check?",
    "Thanks, bye.",
)

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Config:
    """A prompt configuration: the (cached) system prompt and, with retrieval, the plan
    for each message (a note after it, or a fixed reply without the LLM)."""

    system: str
    plan: Callable[[str], TurnPlan] | None = None

    def request(self, history: Messages, question: str) -> tuple[Messages, str | None]:
        """(the messages the pipeline would send, or the reply it would say instead)."""
        request = [{"role": "system", "content": self.system}, *history,
                   {"role": "user", "content": question}]
        plan = self.plan(question) if self.plan else TurnPlan()
        return ([*request, plan.note] if plan.note else request), plan.reply


def configs(settings: AgentSettings) -> dict[str, Config]:
    """Every configuration the bench knows, by name."""
    index = KnowledgeIndex.from_file(settings.knowledge_file, note_facts=0)
    with_facts = KnowledgeIndex.from_file(settings.knowledge_file, note_facts=1)
    full = spoken_system_prompt(build_system_prompt(settings))
    return {
        "shipped": Config(system=full),
        # the default: fixed reply when no fact matches, the LLM as before otherwise
        "retrieval": Config(system=full, plan=lambda q: plan_turn(index, q)),
        # AVATAR_FORCING_LLM_RETRIEVAL_FACTS=1: the best fact after each store question
        "retrieval_facts": Config(system=full, plan=lambda q: plan_turn(with_facts, q)),
    }


async def ask(client: Any, model: str, settings: AgentSettings, config: Config,
              history: Messages, question: str) -> dict:
    """One turn: the answer, first token, first sentence (a fixed reply costs no LLM time)."""
    started = time.perf_counter()
    messages, reply = config.request(history, question)
    if reply is not None:
        spent = time.perf_counter() - started
        return {"answer": reply, "ttft_s": spent, "first_sentence_s": spent, "total_s": spent,
                "words": len(reply.split()), "llm": False}
    timing = ReplyTiming()
    first_sentence_s: float | None = None
    text = ""
    requested = time.perf_counter()
    async for delta in stream_reply(client, model=model, messages=messages,  # type: ignore[arg-type]
                                    max_tokens=settings.llm_max_tokens,
                                    temperature=settings.llm_temperature, timing=timing):
        text += delta
        if first_sentence_s is None and SENTENCE_END.search(text):
            first_sentence_s = time.perf_counter() - started
    total_s = time.perf_counter() - started
    # retrieval's own time (microseconds) counts: it runs before the request
    ttft = (requested - started) + (timing.first_token_s if timing.first_token_s is not None
                                    else timing.total_s)
    return {
        "answer": text.strip(),
        "ttft_s": ttft,
        # a reply with no full stop inside is spoken whole
        "first_sentence_s": first_sentence_s if first_sentence_s is not None else total_s,
        "total_s": total_s,
        "words": len(text.split()),
        "llm": True,
    }


def summarise(rows: list[dict], sessions: list[dict]) -> dict:
    """Accuracy by split and kind, latency p50/p95 of the one-turn and session requests."""
    def share(keep: Callable[[dict], bool]) -> float | None:
        picked = [r["correct"] for r in rows if keep(r)]
        return round(sum(picked) / len(picked), 3) if picked else None

    out: dict[str, Any] = {}
    for split in ("tune", "heldout", "all"):
        def in_split(r: dict, split: str = split) -> bool:
            return split == "all" or r["split"] == split
        out[split] = {
            "kiosk_correct": share(in_split),
            **{f"{kind}_correct": share(lambda r, k=kind, f=in_split: f(r) and r["kind"] == k)
               for kind in ("fact", "unknown", "offtopic")},
        }
    asked = [r for r in rows if r["llm"]]
    out["share_answered_without_llm"] = round(1 - len(asked) / len(rows), 3)
    for key in ("ttft_s", "first_sentence_s"):
        values = [r[key] for r in rows]
        out[f"{key[:-2]}_p50_s"] = round(_percentile(values, 0.5), 3)
        out[f"{key[:-2]}_p95_s"] = round(_percentile(values, 0.95), 3)
        # the same over the turns the LLM answered (a fixed reply takes microseconds)
        out[f"llm_{key[:-2]}_p50_s"] = round(_percentile([r[key] for r in asked], 0.5), 3)
        out[f"llm_{key[:-2]}_p95_s"] = round(_percentile([r[key] for r in asked], 0.95), 3)
        later = [r[key] for r in sessions if r["turn"] > 0]  # the first turn follows a warm-up
        out[f"session_{key[:-2]}_p50_s"] = round(_percentile(later, 0.5), 3)
        out[f"session_{key[:-2]}_max_s"] = round(max(later), 3) if later else None
    out["words_p50"] = _percentile([float(r["words"]) for r in rows], 0.5)
    out["n_requests"] = len(rows)
    return out


async def run(chosen: dict[str, Config], repeats: int, spec: dict, settings: AgentSettings,
              block: int = 1) -> tuple[dict, dict]:
    """Ask everything with each configuration on one server, alternating every `block`
    questions so they share the machine's state; return (summary, raw)."""
    rows: dict[str, list[dict]] = {name: [] for name in chosen}
    sessions: dict[str, list[dict]] = {name: [] for name in chosen}
    questions = spec["questions"]
    cold: dict[str, float] = {}
    async with EmbeddedLLMServer.from_settings(settings) as server:
        client = make_client(server.base_url, settings.llm_api_key, timeout_s=120)
        model = server.model_alias
        bar = tqdm(total=len(chosen) * (repeats * len(questions) + len(SESSION)),
                   file=sys.stderr)
        for repeat in range(repeats):
            for start in range(0, len(questions), block):
                for name, config in chosen.items():
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
        for name, config in chosen.items():
            await warm_up(client, model=model, system_prompt=config.system)
            history: Messages = []
            for turn, question in enumerate(SESSION):
                row = await ask(client, model, settings, config, history, question)
                row.update(q=question, turn=turn)
                sessions[name].append(row)
                # the pipeline stores only what was said: the question and the spoken answer
                history += [{"role": "user", "content": question},
                            {"role": "assistant", "content": row["answer"]}]
                bar.update()
        bar.close()
        await client.close()
    summary = {name: {"system_prompt_warm_up_s": round(cold[name], 2),
                      **summarise(rows[name], sessions[name])} for name in chosen}
    return summary, {"rows": rows, "sessions": sessions}


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
                        default=["shipped", "retrieval", "retrieval_facts"],
                        choices=["shipped", "retrieval", "retrieval_facts"])
    parser.add_argument("--block", type=int, default=1,
                        help="questions per configuration before switching (1: alternate "
                        "every question; raise it for configurations with different system "
                        "prompts, each switch re-reads the prompt)")
    parser.add_argument("--split", choices=["tune", "heldout", "all"], default="all")
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
    settings = AgentSettings.load()
    known = configs(settings)
    load_before = os.getloadavg()
    summary, raw = asyncio.run(run({n: known[n] for n in args.configs}, args.repeats, spec,
                                   settings, args.block))
    load_after = os.getloadavg()
    report = {
        "bench": "kiosk_answers",
        "model": settings.llm_embedded_model,
        "threads": settings.llm_threads,
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
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
