"""Each fact indexed by the questions a visitor would ask of it, written by the bundled LLM.

A visitor asks "Where do I leave my coat?" of "Coat check: free coat check by the main
entrance."; the question and the fact share few words and are only middling near in
meaning. Questions are nearer questions: the LLM, given one fact at a time, writes a
few short questions a visitor might ask that the fact answers, and the index matches a
visitor's question against those too (`KnowledgeIndex.add_questions`: a fact scores
the best cosine of itself and its questions).

Written once per file: the questions are cached under the project's cache directory by
the hash of the facts, the model and this prompt (`cache_path`), so a restart with the
same file reads them back. Writing them costs the LLM ~1-2 s a fact on one thread, so
the server writes them in the background after start-up and routes with the plain
index until they are ready (docs/ANSWERS.md, what it measured).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import openai
from loguru import logger

from agent.bundled_models import default_cache_dir
from agent.llm_client import complete_reply

#: bump when the prompt changes: the cache key holds it
PROMPT_VERSION = 1
QUESTIONS_PER_FACT = 3
_PROMPT = (
    "A help kiosk knows this fact:\n{fact}\n\n"
    "Write {n} short questions a visitor might ask that this fact answers, each worded "
    "differently, in everyday words, one per line. Write only the questions."
)
_LINE = re.compile(r"^\W*(?:\d+[.)]\s*)?(.+?\?)\s*$")


def cache_path(facts: Sequence[str], model: str, cache_dir: Path | None = None) -> Path:
    """Where the questions of these facts, written by `model`, are kept."""
    key = hashlib.sha256(json.dumps([PROMPT_VERSION, model, list(facts)]).encode()).hexdigest()
    return (cache_dir or default_cache_dir()) / "answers" / f"fact-questions-{key[:24]}.json"


def load_cached(facts: Sequence[str], model: str,
                cache_dir: Path | None = None) -> dict[str, list[str]] | None:
    """The cached questions of these facts, or None when none are (or the file is bad)."""
    path = cache_path(facts, model, cache_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or set(data) != set(facts):
        return None
    return {fact: [q for q in data[fact] if isinstance(q, str)] for fact in facts}


def parse_questions(text: str, limit: int = QUESTIONS_PER_FACT) -> list[str]:
    """The questions in the LLM's reply: lines ending in "?", numbering dropped."""
    found = [m.group(1).strip() for line in text.splitlines() if (m := _LINE.match(line))]
    return list(dict.fromkeys(found))[:limit]


async def write_questions(client: openai.AsyncOpenAI, *, model: str, facts: Sequence[str],
                          per_fact: int = QUESTIONS_PER_FACT, cache_dir: Path | None = None,
                          progress: Callable[[int, int], None] | None = None,
                          ) -> dict[str, list[str]]:
    """The questions of every fact, from the cache or written by the LLM at `client`
    (one request a fact, temperature 0) and then cached; `progress(done, total)` is
    called after each fact."""
    cached = load_cached(facts, model, cache_dir)
    if cached is not None:
        return cached
    questions: dict[str, list[str]] = {}
    for done, fact in enumerate(facts, start=1):
        reply = await complete_reply(
            client, model=model, max_tokens=24 * per_fact, temperature=0.0,
            messages=[{"role": "user", "content": _PROMPT.format(fact=fact, n=per_fact)}])
        questions[fact] = parse_questions(reply, per_fact)
        if progress is not None:
            progress(done, len(facts))
    path = cache_path(facts, model, cache_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(questions, indent=1), encoding="utf-8")
    except OSError as error:
        logger.warning(f"fact questions not cached ({path}): {error}")
    return questions
