"""Value questions in a visitor's wording: "where" asked without the word ("Which part of
the building ...?", "Whereabouts ...?", "What's the street?": agent/answers/shape.py
`asks_for_value`, `where_it_is_asked`), a place said as a shop's counter ("at every
checkout"), and an "it" that stands for a thing the question named before it ("If I order
a model kit now, how long till it arrives?": agent/answers/routing.py
`names_before_pronoun`), a question followed by the visitor's situation ("Is there a
planetarium? My kids love stars.": agent/answers/shape.py `last_sentence`); the fact that says the value answers them by rule. On a file of its
own (a science centre's, written for these tests), through the real index and encoder."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agent.answers.index import KnowledgeIndex
from agent.answers.pronouns import names_before_pronoun
from agent.answers.routing import plan_turn
from agent.answers.shape import asks_for_value, last_sentence, states_value, where_it_is_asked

CENTRE = """<!-- Facts for the help kiosk of a science centre, for tests. -->
Centre name: Brightwater Discovery Centre.
Address: 12 Foundry Road, Millbrook, opposite the bus station.
Robot show: "Metal Minds" runs until June 30 in the north wing.
Tickets: adults 12 dollars, children 6 dollars.
Model kits: sold at every checkout; kits ordered online arrive within 5 working days.
Planetarium: no, there is no planetarium here; the observatory on Hill Road has one.
"""
KITS = "Model kits: sold at every checkout; kits ordered online arrive within 5 working days."


@pytest.fixture(scope="module")
def centre(index_of_file: Callable[[str, str], KnowledgeIndex]) -> KnowledgeIndex:
    return index_of_file(CENTRE, "centre")


@pytest.mark.parametrize(("question", "kind"), [
    ("Which part of the building is the robot show in?", "place"),
    ("What side of the hall are the lockers on?", "place"),
    ("Whereabouts is the cafe?", "place"),
    ("What's the street again?", "place"),
    ("Which part is the best?", None),         # a part, not a part of somewhere
    ("What is the road toll?", None),          # a road's toll, not where it is
    ("What's the room rate?", None),
])
def test_where_asked_without_the_word(question: str, kind: str | None) -> None:
    assert asks_for_value(question) == kind


def test_whereabouts_asks_where_the_place_is() -> None:
    assert where_it_is_asked("Whereabouts are you exactly?") == ""


def test_the_fact_that_says_the_place_answers(centre: KnowledgeIndex) -> None:
    show = plan_turn(centre, "Which part of the building is the Metal Minds show in?")
    assert show.reply is not None and "north wing" in show.reply
    street = plan_turn(centre, "Whereabouts are you? What's the street?")
    assert street.reply is not None and "Foundry Road" in street.reply
    assert not street.reply.startswith("Address")


def test_a_counter_is_a_place() -> None:
    assert states_value("Stamps: sold at every checkout.", "place")
    assert states_value("Keys: ask at reception.", "place")


def test_an_it_after_its_thing_stands_for_that_thing(centre: KnowledgeIndex) -> None:
    assert names_before_pronoun(centre, "If I order a model kit now, how long till it arrives?",
                                KITS)
    assert not names_before_pronoun(centre, "And how long does it take?", KITS)
    kit = plan_turn(centre, "If I order a model kit online now, how long till it arrives?")
    assert kit.reply is not None and "5 working days" in kit.reply
    where = plan_turn(centre, "Where do I go to buy a model kit?")
    assert where.reply is not None and "checkout" in where.reply
    # a follow-up's "it" still leaves the turn to the model, which reads the visit
    assert plan_turn(centre, "And how long does it take?", "Where do I buy a model kit?").reply is None


def test_the_question_is_asked_before_the_situation_told_after_it(centre: KnowledgeIndex) -> None:
    message = "Is there a planetarium here? My kids are mad about the stars."
    assert last_sentence(message) == "Is there a planetarium here?"
    assert last_sentence("My kids love stars. Is there a planetarium?") == "Is there a planetarium?"
    assert last_sentence("I lost my ticket.") == "I lost my ticket."
    plan = plan_turn(centre, message)
    assert plan.reply is not None and plan.reply.startswith("No, ")
    assert "observatory" in plan.reply
