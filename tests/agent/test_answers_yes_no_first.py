"""A yes or no first where the fact says it in other words than a "yes," or a "no,"
(agent/answers/reading.py, agent/answers/settle.py): the place's own act in the question's
verb ("Will you match it?" and "we match ..."), an instruction in the verb the visitor asks
about ("Do I need to bring anything?" and "bring your repair ticket"), a way to pay ("Can I
pay with ...?" is not a question of cost), a thing that must be bought against a fact
that says it is free, a side taken only in the reason for asking ("so I don't have to"),
and a time of day against a bound ("done before 11 a.m."). Never a yes or no the fact does not settle: a thing asked that the
clause does not hold gets the fact without one. On a bike shop's file written for these
tests, through the real index, sentence encoder and the system's WordNet."""

from __future__ import annotations

import pytest

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.thesaurus import SYSTEM_WORDNET, Thesaurus
from agent.sentence_embedding import SentenceEncoder

pytestmark = pytest.mark.skipif(
    not (SYSTEM_WORDNET / "index.noun").is_file(),
    reason=f"no WordNet in {SYSTEM_WORDNET}: apt-get install wordnet-base")

BIKES = """Shop name: Hilltop Cycle Works.
Opening hours: Monday to Saturday 9 a.m. to 6 p.m.; Sunday closed.
Price match: we match a local competitor's advertised price on identical items.
Repairs: we service every make of bike; most repairs take two days.
Collecting a repair: bring your repair ticket to the workshop counter.
Payment: we accept cash, debit cards and bike loan scheme cards.
Test track: adults 3 dollars a go, children 6 to 15 pay 1 dollar, children under 6 get a free go.
Showroom: the showroom is upstairs; every floor has an elevator.
Bike fitting: fittings are done before 11 a.m.
"""


@pytest.fixture(scope="module")
def bikes(encoder: SentenceEncoder) -> KnowledgeIndex:
    """The file's index as the product builds it: words, meaning and WordNet ("lift")."""
    return KnowledgeIndex(BIKES.strip().splitlines(), encoder=encoder,
                          thesaurus=Thesaurus.system())


@pytest.mark.parametrize(("message", "answer"), [
    # the place's act, in the question's verb
    ("If the place down the road has the same helmet cheaper, will you match it?",
     "Yes, we match a local competitor's advertised price on identical items."),
    # an instruction in the verb asked about; why the visitor asks is not what
    ("Do I need to bring anything when I collect my bike?",
     "Yes, bring your repair ticket to the workshop counter."),
    # "pay with" asks how, not whether it costs: the fact names the card (its short form)
    ("Can I pay with my BLS card?",
     "Yes, we accept cash, debit cards and bike loan scheme cards."),
    # whether it must be bought, of a fact saying it is free
    ("Do I have to buy a go on the test track for my four year old?",
     "No, children under 6 get a free go."),
    # the side is taken in what is asked, not in why ("so I don't have to")
    ("Is there a lift so I don't have to take the stairs?",
     "Yes, the showroom is upstairs. Every floor has an elevator."),
    # a time of day against a bound on when the thing is done
    ("Can I come in for a bike fitting in the afternoon?",
     "No, fittings are done before 11 a.m."),
])
def test_a_yes_or_no_the_fact_says_in_other_words_comes_first(
        bikes: KnowledgeIndex, message: str, answer: str) -> None:
    plan = plan_turn(bikes, message)
    assert plan.reply == answer


@pytest.mark.parametrize(("message", "unsaid"), [
    # "we service every make of bike" does not say e-bikes: no yes
    ("Do you service electric scooters?", "Yes"),
    # the fact asks for the repair ticket, not a receipt
    ("Do I have to bring my receipt to collect a repair?", "Yes"),
])
def test_no_yes_where_the_clause_does_not_hold_the_thing_asked(
        bikes: KnowledgeIndex, message: str, unsaid: str) -> None:
    reply = plan_turn(bikes, message).reply or ""
    assert not reply.startswith(unsaid)
