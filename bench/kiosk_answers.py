"""Is the kiosk right, and how soon does it start speaking: prompt configurations compared.

Embedded llama.cpp servers (the product's default model and threads), several
prompt configurations, asked in turn in ONE run so they share the machine's state:

- `shipped`: what the voice pipeline sent before retrieval: the spoken-style
  persona + the whole knowledge file as the system prompt, the question as the
  user message;
- `retrieval`: the default before the fact notes: the same system prompt and
  `agent.knowledge_retrieval.plan_turn` per message: anything no fact is about
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
  amount no fact states by "I don't know", without the LLM (agent/question_shape.py);
  in a session, a reply given without the LLM is read by the server before the next
  turn, as `KnowledgeInjector` has it read while the reply is spoken;
- `answer_rules_no_prefill`: the same without that read-ahead.

The first three read the knowledge file as it was (bench/kiosk_knowledge_before.md).
Each configuration whose system prompt differs gets its own server (idle while
another answers), so a switch costs no cache miss.

Every question of bench/llm_questions.json (facts, unknowns, off-topic; tune and
held-out splits) is asked `--repeats` times as a fresh one-turn conversation and
judged by bench/llm_compare.py's keyword judge. Configurations alternate every
`--block` questions (default: every question).

Then two scripted sessions per configuration (one opened by small talk, one by a
store question) replay several turns the way the pipeline does: the history holds
only questions and answers. Their first tokens show whether llama.cpp still reuses
the cached prefix (a miss re-reads ~900 tokens: several seconds, not tenths).

Latency is reported over all turns and over the turns the LLM answered (`llm_*`):
a fixed reply takes microseconds, which would flatter the first.

Usage: .venv/bin/python bench/kiosk_answers.py [--repeats 2] [--configs fact_note answer_rules]
       [--split tune|heldout|fresh|all] [--raw bench/results/kiosk_answers_raw.json]
The last stdout line is one JSON object; it is also written to bench/results/kiosk_answers.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agent import (
    AgentSettings,
    EmbeddedLLMServer,
    ReplyTiming,
    build_system_prompt,
    make_client,
    prefill,
    stream_reply,
    warm_up,
    warm_up_notes,
)
from agent.knowledge_retrieval import KnowledgeIndex, first_note, notes, plan_turn
from benchkit.llm_answers import QUESTIONS_FILE, SENTENCE_END, judge
from benchkit.paths import ROOT
from benchkit.stats import nearest_rank
from pipelines.voice_pipeline import spoken_system_prompt

RESULTS = ROOT / "bench" / "results" / "kiosk_answers.json"
#: agent/data/kiosk_knowledge.md as it was before its restrictions were written as
#: answers ("Pets: service animals only."): the baseline configurations read it
KNOWLEDGE_BEFORE = ROOT / "bench" / "kiosk_knowledge_before.md"
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

#: A session where rule replies (a fact, the outside reply) come between LLM turns.
SESSION_RULES = (
    "Can I bring my dog into the store?",
    "Tell me a joke.",
    "Where are the restrooms?",
    "Do you take checks?",
    "What time do you close on Sunday?",
    "Thanks, bye.",
)

Messages = list[dict[str, str]]


#: Store facts after the question, as `llm_retrieval_facts=1` sent them before the
#: prompt-state cache (kept to measure what a note read on the turn costs).
NOTE_AFTER = "Store facts for this question: {facts}"


@dataclass(frozen=True)
class Config:
    """A prompt configuration: the (cached) system prompt and, with retrieval, the plan
    for each message (a fixed reply without the LLM, or the LLM with the session's first
    store question noted), the server that answers and where a note goes."""

    system: str
    index: KnowledgeIndex | None = None
    #: "cached": the server as it ships now (prompt-state cache, warmed notes); any other
    #: name: one as shipped before the fact notes (n_batch 512, only the last prompt
    #: reused). Configurations with different system prompts need different servers, or
    #: every switch re-reads a system prompt.
    server: str = "plain"
    #: the note as a system message after the question (the old llm_retrieval_facts=1)
    note_after: bool = False
    #: in a session, have the server read a reply given without the LLM before the next
    #: turn, as `KnowledgeInjector` does while the reply is spoken
    prefill: bool = False

    def prefill_messages(self, history: Messages) -> Messages:
        """What `KnowledgeInjector.reply_recorded` has the server read: the history with
        the note the next request will carry."""
        assert self.index is not None
        return [{"role": "system", "content": self.system},
                *(first_note(self.index, history) or history)]

    def request(self, history: Messages, question: str) -> tuple[Messages, str | None]:
        """(the messages the pipeline would send, or the reply it would say instead)."""
        messages = [*history, {"role": "user", "content": question}]
        if self.index is None:
            return [{"role": "system", "content": self.system}, *messages], None
        plan = plan_turn(self.index, question)
        if plan.reply is not None:
            return [], plan.reply
        if self.note_after:
            facts = self.index.retrieve(question).facts[:1]
            messages.append({"role": "system", "content": NOTE_AFTER.format(facts=facts[0])})
        else:  # what pipelines/turns/knowledge_injector.py sends
            messages = first_note(self.index, messages) or messages
        return [{"role": "system", "content": self.system}, *messages], None


def configs(settings: AgentSettings) -> dict[str, Config]:
    """Every configuration the bench knows, by name."""
    before = settings.model_copy(update={"knowledge_file": KNOWLEDGE_BEFORE})
    full_before = spoken_system_prompt(build_system_prompt(before))
    full = spoken_system_prompt(build_system_prompt(settings))
    # the earlier configurations route without the answer rules (agent/question_shape.py)
    plain_before = KnowledgeIndex.from_file(KNOWLEDGE_BEFORE, note_facts=0, answer_rules=False)
    noted_before = KnowledgeIndex.from_file(KNOWLEDGE_BEFORE, note_facts=1, answer_rules=False)
    plain = KnowledgeIndex.from_file(settings.knowledge_file, note_facts=0, answer_rules=False)
    noted = KnowledgeIndex.from_file(settings.knowledge_file, note_facts=1, answer_rules=False)
    ruled = KnowledgeIndex.from_file(settings.knowledge_file, note_facts=1, answer_rules=True)
    return {
        "shipped": Config(system=full_before),
        # the default before the notes: fixed reply when no fact matches, else the LLM
        "retrieval": Config(system=full_before, index=plain_before),
        # ...with the best fact after each store question, read on the turn (the old setting)
        "retrieval_facts": Config(system=full_before, index=noted_before, note_after=True),
        # the knowledge file with its restrictions written as answers, no note
        "knowledge": Config(system=full, index=plain, server="plain, new knowledge"),
        # the default: that file, and the best fact in front of the first store question,
        # restored from the prompt-state cache
        "fact_note": Config(system=full, index=noted, server="cached"),
        # the default now: that, with yes/no questions answered by their fact's own words
        # and amounts no fact states by "I don't know", without the LLM
        "answer_rules": Config(system=full, index=ruled, server="cached", prefill=True),
        # ...without reading rule replies ahead (the next LLM turn reads them)
        "answer_rules_no_prefill": Config(system=full, index=ruled, server="cached"),
    }


def start_server(kind: str, settings: AgentSettings) -> EmbeddedLLMServer:
    """The embedded server as the product starts it ("cached") or as it did before the
    fact notes (any other kind: a 512-token batch, no prompt-state cache)."""
    if kind == "cached":
        return EmbeddedLLMServer.from_settings(settings)
    server = EmbeddedLLMServer.from_settings(settings.model_copy(update={"llm_prompt_cache_mb": 0}))
    server.n_batch = 512
    return server


async def ask(client: Any, model: str, settings: AgentSettings, config: Config,
              history: Messages, question: str) -> dict:
    """One turn: the answer, first token, first sentence (a fixed reply costs no LLM time)."""
    started = time.perf_counter()
    messages, reply = config.request(history, question)
    if reply is not None:  # answered without the LLM
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
    for split in ("tune", "heldout", "fresh", "all"):
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
        out[f"{key[:-2]}_p50_s"] = round(nearest_rank(values, 0.5), 3)
        out[f"{key[:-2]}_p95_s"] = round(nearest_rank(values, 0.95), 3)
        # the same over the turns the LLM answered (a fixed reply takes microseconds)
        out[f"llm_{key[:-2]}_p50_s"] = round(nearest_rank([r[key] for r in asked], 0.5), 3)
        out[f"llm_{key[:-2]}_p95_s"] = round(nearest_rank([r[key] for r in asked], 0.95), 3)
        later = [r[key] for r in sessions if r["turn"] > 0]  # the first turn follows a warm-up
        out[f"session_{key[:-2]}_p50_s"] = round(nearest_rank(later, 0.5), 3)
        out[f"session_{key[:-2]}_max_s"] = round(max(later), 3) if later else None
    # an LLM turn right after a reply the LLM did not write (it reads that reply first,
    # unless it was read ahead)
    after_rule = [r["ttft_s"] for r, before in zip(sessions[1:], sessions, strict=False)
                  if r["llm"] and r["session"] == before["session"] and not before["llm"]]
    out["session_llm_after_rule_ttft_s"] = [round(v, 3) for v in after_rule]
    out["words_p50"] = nearest_rank([float(r["words"]) for r in rows], 0.5)
    out["n_requests"] = len(rows)
    return out


def rss_mb(pid: int | None) -> int | None:
    """Resident memory of a process, MB (Linux)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            return next(round(int(line.split()[1]) / 1024) for line in status
                        if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None


def note_tokens(server: EmbeddedLLMServer, index: KnowledgeIndex) -> dict[str, float]:
    """Prompt tokens of the notes (llama.cpp's tokenizer): what a note read on the turn
    costs, and what the prompt-state cache saves."""
    def count(text: str) -> int:
        request = urllib.request.Request(
            server.base_url.removesuffix("/v1") + "/extras/tokenize",
            data=json.dumps({"input": text}).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as reply:
            return len(json.loads(reply.read())["tokens"])
    before = [count(note) for note in notes(index)]
    after = [count(NOTE_AFTER.format(facts=fact)) + 5 for fact in index.facts]  # + its turn marks
    return {"note_tokens_mean": round(sum(before) / len(before), 1), "note_tokens_max": max(before),
            "note_after_tokens_mean": round(sum(after) / len(after), 1)}


async def run(chosen: dict[str, Config], repeats: int, spec: dict, settings: AgentSettings,
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
            clients[kind] = make_client(servers[kind].base_url, settings.llm_api_key, timeout_s=120)
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
                                 "fact_note", "answer_rules", "answer_rules_no_prefill"])
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
    settings = AgentSettings.load()
    known = configs(settings)
    load_before = os.getloadavg()
    summary, raw = asyncio.run(run({n: known[n] for n in args.configs}, args.repeats, spec,
                                   settings, args.block))
    load_after = os.getloadavg()
    cache = summary.pop("prompt_cache")
    report = {
        "bench": "kiosk_answers",
        "model": settings.llm_embedded_model,
        "threads": settings.llm_thread_count(),
        "batch_threads": settings.llm_batch_thread_count(),
        "n_batch": {"plain": 512, "cached": EmbeddedLLMServer.from_settings(settings).n_batch},
        "prompt_cache_mb": settings.llm_prompt_cache_mb,
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
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
