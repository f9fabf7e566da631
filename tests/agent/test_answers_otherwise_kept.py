"""A fact with a condition and an "otherwise" branch, said whole where the question states
no amount to choose a branch ("How far do you deliver for free?"): the other branch keeps
its "Otherwise," (agent/answers/reading.py `condition_answer`); before, "Delivery costs 8
dollars." read as said of every order. A garden centre's file written for it, through the
real index, sentence encoder and WordNet."""

from __future__ import annotations

import pytest

from agent.answers.index import KnowledgeIndex
from agent.answers.reading import condition_answer
from agent.answers.routing import plan_turn
from agent.answers.thesaurus import SYSTEM_WORDNET, Thesaurus
from agent.sentence_embedding import SentenceEncoder

pytestmark = pytest.mark.skipif(
    not (SYSTEM_WORDNET / "index.noun").is_file(),
    reason=f"no WordNet in {SYSTEM_WORDNET}: apt-get install wordnet-base")

DELIVERY = ("Delivery: free delivery for orders over 150 dollars within 10 miles; "
            "otherwise delivery costs 8 dollars.")
GARDEN_CENTRE = f"""Garden centre name: Green Thumb Garden Centre.
Opening hours: every day 8 a.m. to 6 p.m.
{DELIVERY}
Cafe: the cafe serves soup, sandwiches and cakes.
"""


@pytest.fixture(scope="module")
def garden_centre(encoder: SentenceEncoder, system_thesaurus: Thesaurus) -> KnowledgeIndex:
    return KnowledgeIndex(GARDEN_CENTRE.strip().splitlines(), encoder=encoder,
                          thesaurus=system_thesaurus)


def test_both_branches_said_keep_the_otherwise(garden_centre: KnowledgeIndex) -> None:
    said = plan_turn(garden_centre, "How far away do you deliver for free?").reply
    assert said is not None and "Otherwise, delivery costs 8 dollars." in said, said


def test_a_branch_chosen_by_the_amount_is_said_alone() -> None:
    assert condition_answer(DELIVERY, "My order is 40 dollars, what does delivery cost?") == (
        "Delivery costs 8 dollars.")
    said = condition_answer(DELIVERY, "My order is 200 dollars, is delivery free?")
    assert "free delivery" in said and "Otherwise" not in said
