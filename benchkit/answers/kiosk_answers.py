"""The library part of bench/answers/kiosk_answers.py: the prompt configurations compared,
one turn asked of an embedded server, the scripted sessions, and the summary keys.

Why here: the script keeps the run (who asks when) and its flags; what a
configuration sends, how an answer is timed and what the JSON holds live here.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent import (
    EmbeddedLLMServer,
    ReplyTiming,
    build_system_prompt,
    stream_reply,
)
from agent.answers.index import KnowledgeIndex
from agent.answers.routing import notes, plan_turn, with_notes
from avatar.procfs import rss_bytes
from benchkit.answers.llm_answers import SENTENCE_END
from benchkit.paths import ROOT
from benchkit.stats import nearest_rank
from pipelines.settings import Settings
from pipelines.voice_pipeline import spoken_system_prompt

#: agent/data/kiosk_knowledge.md as it was before its restrictions were written as
#: answers ("Pets: service animals only."): the baseline configurations read it
KNOWLEDGE_BEFORE = ROOT / "bench" / "answers" / "kiosk_knowledge_before.md"
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
                *(with_notes(self.index, history) or history)]

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
            messages = with_notes(self.index, messages) or messages
        return [{"role": "system", "content": self.system}, *messages], None


def configs(settings: Settings) -> dict[str, Config]:
    """Every configuration the bench knows, by name."""
    before = settings.persona.model_copy(update={"knowledge_file": KNOWLEDGE_BEFORE})
    full_before = spoken_system_prompt(build_system_prompt(before))
    full = spoken_system_prompt(build_system_prompt(settings.persona))
    # the earlier configurations route without the answer rules (agent/answers/shape.py)
    plain_before = KnowledgeIndex.from_file(KNOWLEDGE_BEFORE, note_facts=0, answer_rules=False)
    noted_before = KnowledgeIndex.from_file(KNOWLEDGE_BEFORE, note_facts=1, answer_rules=False)
    plain = KnowledgeIndex.from_file(settings.persona.knowledge_file, note_facts=0, answer_rules=False)
    noted = KnowledgeIndex.from_file(settings.persona.knowledge_file, note_facts=1, answer_rules=False)
    ruled = KnowledgeIndex.from_file(settings.persona.knowledge_file, note_facts=1, answer_rules=True)
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


def start_server(kind: str, settings: Settings) -> EmbeddedLLMServer:
    """The embedded server as the product starts it ("cached") or as it did before the
    fact notes (any other kind: a 512-token batch, no prompt-state cache)."""
    if kind == "cached":
        return EmbeddedLLMServer.from_settings(settings.llm)
    server = EmbeddedLLMServer.from_settings(settings.llm.model_copy(update={"prompt_cache_mb": 0}))
    server.n_batch = 512
    return server


async def ask(client: Any, model: str, settings: Settings, config: Config,
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
                                    max_tokens=settings.llm.max_tokens,
                                    temperature=settings.llm.temperature, timing=timing):
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
        by_kind: dict[str, float | None] = {}
        for kind in ("fact", "unknown", "offtopic"):
            def of_kind(r: dict, k: str = kind, f: Callable[[dict], bool] = in_split) -> bool:
                return f(r) and r["kind"] == k
            by_kind[f"{kind}_correct"] = share(of_kind)
        out[split] = {"kiosk_correct": share(in_split), **by_kind}
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
    """Resident memory of a process, MB (Linux); None when it is gone."""
    resident = rss_bytes(pid) if pid is not None else 0
    return round(resident / 2**20) if resident else None


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
