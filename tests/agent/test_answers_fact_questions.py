"""Each fact indexed by the questions a visitor would ask of it (agent/answers/fact_questions.py):
written by a real embedded LLM (the bundled SmolLM2, which loads in a second), cached by the
facts' hash and read back, and matched by the index with the real sentence encoder."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent import EmbeddedLLMServer, make_client
from agent.answers.fact_questions import cache_path, load_cached, parse_questions, write_questions
from agent.answers.index import KnowledgeIndex
from agent.sentence_embedding import SentenceEncoder

FACTS = ["Coat check: free coat check by the main entrance; no large suitcases.",
         "Guided tours: free guided tours start at the information desk at 11 a.m. and 2 p.m."]


def test_the_questions_are_read_out_of_the_reply() -> None:
    reply = "1. Where can I leave my coat?\n2) Is the coat check free?\nSure!\n- Can I check a bag?"
    assert parse_questions(reply) == ["Where can I leave my coat?", "Is the coat check free?",
                                      "Can I check a bag?"]
    assert parse_questions("No questions here.") == []


def test_questions_are_written_once_and_cached_by_the_facts(
        smollm2_server: EmbeddedLLMServer, tmp_path: Path) -> None:
    client = make_client(smollm2_server.base_url, "none", timeout_s=60)
    done: list[int] = []
    written = asyncio.run(write_questions(client, model=smollm2_server.model_alias, facts=FACTS,
                                          cache_dir=tmp_path, progress=lambda d, _: done.append(d)))
    assert set(written) == set(FACTS) and done == [1, 2]
    assert all(q.endswith("?") for qs in written.values() for q in qs)
    assert cache_path(FACTS, smollm2_server.model_alias, tmp_path).is_file()
    assert load_cached(FACTS, smollm2_server.model_alias, tmp_path) == written
    # another file (or model) is another key
    assert load_cached(FACTS[:1], smollm2_server.model_alias, tmp_path) is None
    assert load_cached(FACTS, "another-model", tmp_path) is None


def test_a_fact_is_found_by_a_question_written_for_it() -> None:
    index = KnowledgeIndex(FACTS, encoder=SentenceEncoder())
    asked = "Where do I put my jacket?"
    before = index.semantic_scores(asked)
    assert before is not None
    index.add_questions({FACTS[0]: ["Where can I leave my jacket?", "Is there a cloakroom?"]})
    after = index.semantic_scores(asked)
    assert after is not None and after[0] > before[0] and after[1] == before[1]
    assert index.retrieve(asked).facts[0] == FACTS[0]
