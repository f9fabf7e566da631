"""A yes/no question whose subject is a pronoun for a thing the visitor named before it in
the same message ("I have a guide dog, is he allowed in?"): the question with that thing
in the pronoun's place is near the fact in meaning, so the fact is not taken as far from
the message and the question is not declined (agent/answers/pronouns.py
`with_thing_named`, rules.py `_far_from`). A gallery's file written for it, through the
real index and sentence encoder."""

from __future__ import annotations

from agent.answers.index import KnowledgeIndex
from agent.answers.pronouns import with_thing_named
from agent.answers.routing import plan_turn
from agent.sentence_embedding import SentenceEncoder

GALLERY = """Gallery name: Northlight Gallery.
Opening hours: Tuesday to Sunday 10 a.m. to 5 p.m.
Animals: no pets inside, except service animals.
Photography: photos are allowed without flash.
Cloakroom: free cloakroom by the entrance for coats and bags.
"""


def test_the_pronoun_is_written_as_the_thing_named_before_it() -> None:
    assert with_thing_named("I'm deaf and have a hearing dog, is he allowed in?") == (
        "is a hearing dog allowed in?")
    assert with_thing_named("My son is nine, can he come on his own?") == (
        "can a son come on his own?")
    # nothing named before it, or no pronoun subject: nothing to write
    assert with_thing_named("Is he allowed in?") is None
    assert with_thing_named("I have a hearing dog, are dogs allowed in?") is None


def test_the_question_is_answered_from_the_fact_about_that_thing(encoder: SentenceEncoder) -> None:
    index = KnowledgeIndex(GALLERY.strip().splitlines(), encoder=encoder)
    plan = plan_turn(index, "I'm deaf and have a hearing dog, is he allowed in?")
    assert plan.reply != index.lines.dont_know
    assert plan.facts and plan.facts[0].startswith("Animals:")
