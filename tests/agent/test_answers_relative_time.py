""""What time" of a thing whose fact tells its time by another one ("closes 15 minutes
after the gallery"): the fact answers, not the don't-know line (agent/answers/rules.py
`time_rule`, agent/answers/shape.py `states_relative_time`; docs/ANSWERS.md, section 31).
A gallery's file written for it, through the real index and sentence encoder."""

from __future__ import annotations

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.shape import states_relative_time
from agent.sentence_embedding import SentenceEncoder

GALLERY = """Gallery name: The Lantern Gallery.
Opening hours: Wednesday to Sunday 11 a.m. to 6 p.m.; closed Monday and Tuesday.
Bookshop: the bookshop is by the main doors and closes 30 minutes after the gallery.
Talks: free talks on Saturdays in the east room.
"""


def test_a_time_told_by_another_is_a_time() -> None:
    assert states_relative_time("closes 30 minutes after the gallery")
    assert states_relative_time("arrive an hour before the show")
    assert not states_relative_time("free talks on Saturdays")
    assert not states_relative_time("open 30 minutes")


def test_what_time_of_a_relative_time_is_not_declined(encoder: SentenceEncoder) -> None:
    index = KnowledgeIndex(GALLERY.strip().splitlines(), encoder=encoder)
    plan = plan_turn(index, "What time does the bookshop close?")
    assert plan.reply != index.lines.dont_know
    assert plan.facts and plan.facts[0].startswith("Bookshop:")
    # a thing with no time told at all is still declined
    assert plan_turn(index, "What time do the talks start?").reply == index.lines.dont_know
