"""A value question is about what its rarer words name, not a common word it shares with
another fact (agent/answers/index.py `rarer_words_lead_to`, used by routing's
`value_rule`): "I need new paintbrushes, where should I head?" shares "new" with "New
Year's Day", and "paintbrushes" (met as the file's "paint") names the sections fact. On a
hardware shop's file written for these tests, through the real index, sentence encoder and
the system's WordNet where it is installed."""

from __future__ import annotations

import pytest

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.thesaurus import Thesaurus
from agent.sentence_embedding import SentenceEncoder

SECTIONS = ("Sections: lumber and paint in hall one; lighting and plumbing in hall two; garden "
            "tools outside by the yard gate.")
SHOP = f"""Shop name: Ridgeway Hardware.
{SECTIONS}
Holidays: closed on New Year's Day.
Opening hours: Monday to Saturday 8 a.m. to 6 p.m.
Key cutting: keys are cut at the service counter while you wait.
"""
ASKED = "I need new paintbrushes, where should I head?"


@pytest.fixture(scope="module")
def shop(encoder: SentenceEncoder) -> KnowledgeIndex:
    return KnowledgeIndex(SHOP.strip().splitlines(), encoder=encoder,
                          thesaurus=Thesaurus.system())


def test_the_rarer_words_lead_where_a_common_word_leads_elsewhere(shop: KnowledgeIndex) -> None:
    assert not shop.words_lead_to(ASKED, SECTIONS)  # "new" leads to the holidays
    assert shop.means_little(ASKED, SECTIONS)  # and the sentences are far apart
    assert shop.rarer_words_lead_to(ASKED, SECTIONS)
    assert not shop.rarer_words_lead_to("Where should I head?", SECTIONS)  # no rarer word


def test_a_place_question_is_answered_by_its_rarer_words_fact(shop: KnowledgeIndex) -> None:
    plan = plan_turn(shop, ASKED)
    assert plan.facts == (SECTIONS,)
    assert plan.reply is not None and "Lumber and paint are in hall one." in plan.reply
