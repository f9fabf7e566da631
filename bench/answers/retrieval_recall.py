"""Figure: bench/results/retrieval_recall.json, does the kiosk find the fact behind a question, by words, by meaning, or both.

Every question of bench/answers/llm_questions.json (facts labelled with their fact in
bench/answers/retrieval_questions.json; unknowns and off-topic ones should find none) and
the paraphrases of bench/answers/retrieval_questions.json (cars, refunds, toilets, fees,
worded without the fact's label or its words) are put to three retrievals over the
shipped knowledge file, in one run:

- `words`: BM25 over stemmed words with the synonym table (`KnowledgeIndex` without
  an encoder: the kiosk before);
- `meaning`: the cosine of all-MiniLM-L6-v2 embeddings alone (a fact is about the
  question at `semantic_min`);
- `hybrid`: the product's default (`KnowledgeIndex(encoder=...)`: the cosine plus
  0.1 x the capped BM25 score; a fact is about the question when either says so).

Per split: recall@1 and @2 over the questions a fact answers (found, and a right
fact ranked first / in the first two), and the share of questions no fact answers
that find none (`none_found`: those go to the fixed "I can help with the store"
reply instead of the LLM). Plus the time a retrieval takes (p50/p95 over every
question, words against hybrid) and the encoder's load time.

Usage: .venv/bin/python bench/answers/retrieval_recall.py [--out bench/results/retrieval_recall.json]
The last stdout line is one JSON object.

Runs: ~2 min on its defaults (estimated for the 2-core host).
Quoted: docs/ANSWERS.md, "7. What a question asks for decides what may answer it": hybrid retrieval p50 11.9 ms, recall@1 1.00 on tune, held-out and fresh, paraphrases 0.655
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from agent import PersonaSettings
from agent.answers.index import KnowledgeIndex
from agent.sentence_embedding import SentenceEncoder
from benchkit.answers.llm_answers import QUESTIONS_FILE
from benchkit.bench_args import write_json
from benchkit.paths import ROOT

RESULTS = ROOT / "bench" / "results" / "retrieval_recall.json"
LABELS = ROOT / "bench" / "answers" / "retrieval_questions.json"
SPLITS = ("tune", "heldout", "fresh", "paraphrase")


def questions() -> list[dict]:
    """Every question with its split and the substrings of the facts that answer it."""
    spec = json.loads(LABELS.read_text(encoding="utf-8"))
    out = []
    for q in json.loads(QUESTIONS_FILE.read_text(encoding="utf-8"))["questions"]:
        gold = spec["labels"][q["q"]] if q["kind"] == "fact" else []
        out.append({"q": q["q"], "gold": gold, "split": q["split"]})
    return out + spec["questions"]


Ranker = Callable[[str], tuple[list[int], bool]]


def ranker(index: KnowledgeIndex, mode: str) -> Ranker:
    """The facts in rank order for a question, and whether any is about it."""
    def rank(question: str) -> tuple[list[int], bool]:
        if mode == "meaning":
            scores = index.semantic_scores(question) or []
            found = max(scores) >= index.semantic_min
        else:
            scores, found = index.hybrid_scores(question)
        return sorted(range(len(scores)), key=lambda i: -scores[i]), found
    return rank


def evaluate(index: KnowledgeIndex, rank: Ranker, qs: list[dict]) -> tuple[dict, list[dict]]:
    """Recall@1/@2 and none_found per split; the rows (for the misses)."""
    rows = []
    for q in qs:
        order, found = rank(q["q"])
        gold = {i for i, fact in enumerate(index.facts) if any(g in fact for g in q["gold"])}
        rows.append({"q": q["q"], "split": q["split"], "answerable": bool(gold),
                     "found": found, "first": index.facts[order[0]][:60],
                     "at1": found and order[0] in gold,
                     "at2": found and bool(set(order[:2]) & gold)})
    summary = {}
    for split in (*SPLITS, "all"):
        rs = [r for r in rows if split == "all" or r["split"] == split]
        facts = [r for r in rs if r["answerable"]]
        none = [r for r in rs if not r["answerable"]]
        summary[split] = {
            "facts": len(facts), "recall_at_1": round(sum(r["at1"] for r in facts) / len(facts), 3),
            "recall_at_2": round(sum(r["at2"] for r in facts) / len(facts), 3),
            "unanswerable": len(none),
            "none_found": round(sum(not r["found"] for r in none) / len(none), 3) if none else None,
        }
    return summary, rows


def timings(index: KnowledgeIndex, qs: list[dict], repeats: int = 5) -> dict:
    """ms per `retrieve` (p50, p95) over every question, `repeats` rounds."""
    times = []
    for _ in range(repeats):
        for q in qs:
            start = time.perf_counter()
            index.retrieve(q["q"])
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 3),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 3)}


def main() -> int:
    """Run the three retrievals on every question and print the summary JSON last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_before = os.getloadavg()
    start = time.perf_counter()
    encoder = SentenceEncoder()
    load_s = time.perf_counter() - start
    path = PersonaSettings().knowledge_file
    words = KnowledgeIndex.from_file(path)
    start = time.perf_counter()
    hybrid = KnowledgeIndex.from_file(path, encoder=encoder)
    index_s = time.perf_counter() - start
    qs = questions()
    configs = {"words": (words, ranker(words, "words")),
               "meaning": (hybrid, ranker(hybrid, "meaning")),
               "hybrid": (hybrid, ranker(hybrid, "hybrid"))}
    report: dict = {"bench": "retrieval_recall", "knowledge_file": str(path.relative_to(ROOT)),
                    "facts": len(words.facts), "questions": len(qs),
                    "semantic_min": hybrid.semantic_min, "lexical_weight": hybrid.lexical_weight,
                    "encoder_load_s": round(load_s, 2), "index_facts_s": round(index_s, 3),
                    "configs": {}, "misses": {}}
    for name, (index, rank) in configs.items():
        summary, rows = evaluate(index, rank, qs)
        report["configs"][name] = summary
        report["misses"][name] = [
            {"q": r["q"], "split": r["split"], "first": r["first"] if r["found"] else None}
            for r in rows if (r["answerable"] and not r["at1"]) or (not r["answerable"] and r["found"])]
    report["retrieve_time"] = {"words": timings(words, qs), "hybrid": timings(hybrid, qs)}
    load_after = os.getloadavg()
    report["load_average_1m_before"] = round(load_before[0], 2)
    report["load_average_1m_after"] = round(load_after[0], 2)
    write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
