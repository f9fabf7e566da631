"""A question offering a choice of two, the second turned as a question too ("Is the
touch pool included or is it extra?"), is not answered "Yes" or "No": neither answers it
(agent/answers/shape.py, `is_yes_no_question`; docs/ANSWERS.md, section 24). A choice of
two things in one question ("Do you take cards or just cash?") is still asked yes or no.
The routing test runs on an aquarium's file written for it, through the real index and
sentence encoder."""

from __future__ import annotations

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.shape import asks_for_value, is_yes_no_question
from agent.sentence_embedding import SentenceEncoder

AQUARIUM = """Aquarium name: Bay Point Aquarium.
Tickets: adults 20 dollars, children under 4 get in free.
Touch pool: open every day from 10 a.m. to 3 p.m. on the lower level; a session costs 4 dollars extra.
Cafe: the cafe on the ground floor is open until 5 p.m.
"""


def test_a_choice_of_two_questions_is_not_a_yes_no_question() -> None:
    for asked in ("Is the touch pool included or is it extra?",
                  "Is the touch pool included or is it extra, and how much?",
                  "Can I just turn up or do I need to book?"):
        assert not is_yes_no_question(asked), asked
    assert asks_for_value("Is the touch pool included or is it extra, and how much?") == "price"
    for asked in ("Do you take cards or just cash?", "Is the cafe open?",
                  "Do I need a ticket for children or babies?"):
        assert is_yes_no_question(asked), asked


def test_a_choice_of_two_gets_the_fact_without_a_yes(encoder: SentenceEncoder) -> None:
    index = KnowledgeIndex(AQUARIUM.strip().splitlines(), encoder=encoder)
    reply = plan_turn(index, "Is the touch pool included or is it extra, and how much?").reply
    assert reply is not None and "4 dollars extra" in reply
    assert not reply.startswith(("Yes", "No")), reply
