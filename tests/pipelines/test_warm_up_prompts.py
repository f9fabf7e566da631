"""The start-up warm-up reads the system prompt and no more one-fact notes than the
prompt cache keeps (`llm.warm_notes`): a 200-fact file warmed every note in ~2 minutes
and kept the last 24 (docs/ANSWERS.md, "A long file")."""

from __future__ import annotations

from pathlib import Path

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import FACTS_NOTE
from agent.settings import LLMSettings
from pipelines.server.runtime import warm_up_prompts

LONG_FILE = Path(__file__).resolve().parents[2] / "bench/answers/long_file/knowledge.md"


def long_file_index() -> KnowledgeIndex:
    """The 200-fact bench file, by words (the warm-up needs no meaning)."""
    return KnowledgeIndex.from_file(LONG_FILE)


def test_the_warm_up_reads_the_first_notes_the_cache_keeps() -> None:
    index = long_file_index()
    assert len(index.facts) > 100
    most = LLMSettings().warm_notes
    prompts = warm_up_prompts(index, most)
    assert prompts[0] == ""  # the system prompt alone first
    assert prompts[1:] == [FACTS_NOTE.format(facts=fact) for fact in index.facts[:most]]


def test_no_knowledge_or_no_notes_warms_the_system_prompt_alone() -> None:
    assert warm_up_prompts(None, 24) == [""]
    assert warm_up_prompts(long_file_index(), 0) == [""]
    small = KnowledgeIndex(["Opening hours: 9 to 5.", "Phone: 555-0100."])
    assert len(warm_up_prompts(small, 24)) == 3
