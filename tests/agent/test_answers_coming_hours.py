"""A question about coming at a time ("How early can I drop in on a weekday?") that names no
thing a service's timed fact is about is answered from the place's hours, the timed fact that
speaks of the most days (agent/answers/rules.py `time_rule`), not from a service's weekday
times; a question naming the service keeps the service's. On a bookshop's file written for
this test, through the real index, sentence encoder and the system's WordNet."""

from __future__ import annotations

import pytest

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.thesaurus import SYSTEM_WORDNET, Thesaurus
from agent.sentence_embedding import SentenceEncoder

pytestmark = pytest.mark.skipif(
    not (SYSTEM_WORDNET / "index.noun").is_file(),
    reason=f"no WordNet in {SYSTEM_WORDNET}: apt-get install wordnet-base")

BOOKS = """Shop name: Quayside Books.
Opening hours: Monday to Friday 7 a.m. to 7 p.m.; Saturday 9 a.m. to 5 p.m.; Sunday closed.
Story time: for children every weekday from 10 a.m. to 11 a.m.
Returns: unread books can be returned within 30 days with the receipt.
"""


@pytest.fixture(scope="module")
def books(encoder: SentenceEncoder) -> KnowledgeIndex:
    """The file's index as the product builds it: words, meaning and WordNet."""
    return KnowledgeIndex(BOOKS.strip().splitlines(), encoder=encoder,
                          thesaurus=Thesaurus.system())


def test_coming_at_a_time_is_answered_from_the_place_s_hours(books: KnowledgeIndex) -> None:
    reply = plan_turn(books, "How early can I pop in on a weekday before my shift?").reply or ""
    assert "7 a.m." in reply and "10 a.m." not in reply, reply
    # the service named: its own times
    reply = plan_turn(books, "What time can I come for story time?").reply or ""
    assert "10 a.m." in reply, reply
