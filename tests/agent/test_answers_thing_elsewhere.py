"""A yes/no question whether there is, or the place has, a thing the file speaks of
somewhere, whose best fact does not hold it ("Is there a sale on Saturday?" of a file whose
refunds speak of a "purchase" and whose deliveries of Saturday): declined, not answered
with that fact's yes or no (agent/answers/rules.py `yes_no_thing_elsewhere_rule`). A
bakery's file written for it, through the real index, sentence encoder and WordNet."""

from __future__ import annotations

import pytest

from agent.answers.index import KnowledgeIndex, offered_thing
from agent.answers.routing import plan_turn
from agent.answers.thesaurus import SYSTEM_WORDNET, Thesaurus
from agent.sentence_embedding import SentenceEncoder

pytestmark = pytest.mark.skipif(
    not (SYSTEM_WORDNET / "index.noun").is_file(),
    reason=f"no WordNet in {SYSTEM_WORDNET}: apt-get install wordnet-base")

BAKERY = """Bakery name: Golden Crust Bakery.
Opening hours: Tuesday to Sunday 7 a.m. to 3 p.m.; closed on Monday.
Delivery: cakes are delivered Wednesday to Saturday.
Refunds: a refund within 2 days of purchase, with the receipt.
Cafe: the cafe serves coffee, tea and milk.
Seating: twenty seats inside and a bench outside.
"""


@pytest.fixture(scope="module")
def bakery(encoder: SentenceEncoder, system_thesaurus: Thesaurus) -> KnowledgeIndex:
    return KnowledgeIndex(BAKERY.strip().splitlines(), encoder=encoder, thesaurus=system_thesaurus)


def test_a_thing_its_best_fact_does_not_hold_is_declined(bakery: KnowledgeIndex) -> None:
    assert offered_thing(bakery, "Is there a sale on Saturday?") == "sale"
    # before: "Yes, cakes are delivered Wednesday to Saturday."
    assert plan_turn(bakery, "Is there a sale on Saturday?").reply == bakery.lines.dont_know


def test_a_thing_its_best_fact_holds_is_still_answered(bakery: KnowledgeIndex) -> None:
    said = plan_turn(bakery, "Is there a bench outside?").reply
    assert said is not None and said.startswith("Yes") and "bench" in said
    said = plan_turn(bakery, "Does the cafe have milk?").reply
    assert said is not None and said.startswith("Yes")
