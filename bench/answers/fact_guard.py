"""Figure: bench/results/fact_guard.json, what the fact check costs a reply chunk before it is spoken.

The voice pipeline checks every chunk of a reply against the store facts before the
TTS gets it (pipelines/speech/fact_check.py -> agent/answers/guard.py): that time is
added to the first audio of every reply. Timed here on the chunks a reply is cut
into (the real first-clause aggregator over the knowledge file's own sentences said
as replies, and replies with invented facts), over the shipped system prompt:
`FactGuard.check` per chunk (p50, p95, max), and building the guard (once a session).

Usage: .venv/bin/python bench/answers/fact_guard.py [--repeats 200]
The last stdout line is one JSON object; it is also written to bench/results/fact_guard.json.

Runs: ~1 min on its defaults (estimated for the 2-core host).
Quoted: docs/ANSWERS.md, "Figures": 0.015 ms a chunk p50, 0.035 ms p95; 3.4 ms to build a session's guard
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from agent import PersonaSettings, build_system_prompt, read_prompt_file
from agent.answers.guard import FactGuard
from agent.answers.index import split_facts
from agent.answers.reading import spoken_answer
from benchkit.bench_args import write_json
from benchkit.paths import ROOT
from pipelines.speech.first_clause import FirstClauseAggregator

RESULTS = ROOT / "bench" / "results" / "fact_guard.json"
#: replies as the 0.5B model writes them, true and invented (issue: a name, a price)
REPLIES = [
    "We are open Monday to Saturday from nine a.m. to eight p.m., and on Sunday from ten to six.",
    "Delivery is free for orders over three hundred dollars within twenty miles; otherwise "
    "it costs forty-nine dollars.",
    "You can call customer service at five five five, zero one four two.",
    "The store manager is John Smith, and he is usually at the service desk by entrance A.",
    "A queen mattress costs four hundred ninety-nine dollars on the first floor.",
    "Hi there! I'm Sam, how can I help you today?",
    "You're welcome, have a great day!",
]


async def chunks(text: str) -> list[str]:
    """`text` cut as the pipeline cuts a streamed reply (a word a token)."""
    aggregator = FirstClauseAggregator()
    out = []
    for token in text.split(" "):
        out += [a.text async for a in aggregator.aggregate(f" {token}")]
    last = await aggregator.flush()
    return out + ([last.text] if last is not None and last.text.strip() else [])


def main() -> int:
    """Time the check of every chunk `--repeats` times; print the JSON last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_before = os.getloadavg()
    prompt = build_system_prompt(PersonaSettings())
    knowledge = read_prompt_file(PersonaSettings().knowledge_file)
    replies = [spoken_answer(f) for f in split_facts(knowledge) if ":" in f] + REPLIES
    pieces = [c for reply in replies for c in asyncio.run(chunks(reply))]
    builds = []
    for _ in range(20):
        start = time.perf_counter()
        guard = FactGuard(prompt)
        builds.append((time.perf_counter() - start) * 1000)
    times = []
    for _ in range(args.repeats):
        for piece in pieces:
            start = time.perf_counter()
            guard.check(piece)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    builds.sort()
    flagged = [p for p in pieces if not guard.check(p).ok]
    load_after = os.getloadavg()
    report = {
        "bench": "fact_guard",
        "chunks": len(pieces),
        "repeats": args.repeats,
        "check_ms_p50": round(times[len(times) // 2], 4),
        "check_ms_p95": round(times[int(0.95 * (len(times) - 1))], 4),
        "check_ms_max": round(times[-1], 4),
        "build_ms_p50": round(builds[len(builds) // 2], 3),
        "flagged_chunks": flagged,
        "load_average_1m_before": round(load_before[0], 2),
        "load_average_1m_after": round(load_after[0], 2),
    }
    write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
