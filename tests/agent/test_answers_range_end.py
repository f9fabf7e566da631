""""What's the most ...?" of a fact that states a range ("from 10 to 200 dollars"): the fact
is said, both ends with it, not left to the model, which gave the low end for "the most"
(agent/answers/rules.py `range_end_rule`; docs/ANSWERS.md, section 31). A toy shop's file
written for it, through the real index and sentence encoder."""

from __future__ import annotations

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.sentence_embedding import SentenceEncoder

TOYS = """Shop name: Tin Soldier Toys.
Opening hours: Monday to Saturday 10 a.m. to 6 p.m.
Vouchers: sold at the till, from 15 to 200 dollars.
Parties: birthday parties for up to 12 children on Sundays.
"""


def test_an_end_of_a_range_asked_is_answered_with_the_range(encoder: SentenceEncoder) -> None:
    index = KnowledgeIndex(TOYS.strip().splitlines(), encoder=encoder)
    for question in ("What's the most I can put on a voucher?",
                     "What is the cheapest voucher?"):
        said = plan_turn(index, question).reply
        assert said is not None and "200" in said and "15" in said, (question, said)


def test_a_fact_with_no_range_is_not_said_for_an_end(encoder: SentenceEncoder) -> None:
    index = KnowledgeIndex(TOYS.strip().splitlines(), encoder=encoder)
    plan = plan_turn(index, "What's the most children I can bring to a party?")
    assert plan.reply is None or "12" in plan.reply
