"""Asking what it costs to have a thing done ("How much would it be to have my order
delivered?") is no question about the visitor's own case (agent/answers/routing.py
`own_case_rule`, which declines "Is my order ready?": no file holds one visitor's status):
it is answered from the fact it finds. On a garden centre's file written for this test,
through the real index and sentence encoder."""

from __future__ import annotations

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.sentence_embedding import SentenceEncoder

PLANTS = """Shop name: Fernhill Garden Centre.
Delivery: free delivery of orders within 10 miles; otherwise delivery costs 12 dollars.
Opening hours: Monday to Sunday 9 a.m. to 6 p.m.
"""


def test_having_a_thing_done_is_not_the_visitor_s_own_case(encoder: SentenceEncoder) -> None:
    index = KnowledgeIndex(PLANTS.strip().splitlines(), encoder=encoder)
    plan = plan_turn(index, "How much would it be to have my order delivered?")
    assert plan.facts and plan.facts[0].startswith("Delivery:"), plan
    # the visitor's own case is still declined
    assert not plan_turn(index, "Is my order ready yet?").facts
