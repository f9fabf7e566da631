"""A fact's "no" is the answer only to a question about what it says there is none of
(agent/answers/reading.py `says_none_asked`): "no booking needed" answers "Do I have to
book?", not "Can I come on Thursday?", and the guard does not turn a right "Yes" round with
it. Days named in groups ("every weekday", "the weekend") are days too
(agent/answers/days.py). On a bike workshop's file written for these tests, through the real
index and sentence encoder."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agent.answers.days import days_named
from agent.answers.guard import contradicted
from agent.answers.index import KnowledgeIndex
from agent.answers.reading import fact_answer_word, says_none_asked, spoken_answer
from agent.answers.routing import plan_turn

REPAIRS = ("Puncture repairs: walk-in puncture repairs every weekday from 9 a.m. to 5 p.m.; "
           "no booking needed.")
ANIMALS = "Animals: no animals inside, except assistance dogs."
WORKSHOP = f"""<!-- Facts for the help kiosk of a bike workshop, for tests. -->
Workshop name: Spokes and Sprockets.
{REPAIRS}
{ANIMALS}
Bike wash: a self-service bike wash in the yard costs 2 dollars.
"""


@pytest.fixture(scope="module")
def workshop(index_of_file: Callable[[str, str], KnowledgeIndex]) -> KnowledgeIndex:
    return index_of_file(WORKSHOP, "workshop")


def test_days_named_in_groups() -> None:
    assert days_named("every weekday from 9 a.m.") == {0, 1, 2, 3, 4}
    assert days_named("Are you open at the weekend?") == {5, 6}
    assert days_named("on weekends") == {5, 6}
    assert days_named("Monday to Wednesday") == {0, 1, 2}  # as before


@pytest.mark.parametrize(("question", "word"), [
    ("Do I have to book a puncture repair?", "no"),     # the thing not needed, asked
    ("Do I need a booking to get a puncture fixed?", "no"),
    ("Can I get a puncture fixed on Thursday?", "yes"),  # the days the fact lists
    ("Can I get a puncture fixed on a Sunday?", "no"),
])
def test_a_no_answers_only_what_it_says_there_is_none_of(question: str, word: str) -> None:
    assert fact_answer_word(REPAIRS, question) == word
    assert spoken_answer(REPAIRS, question).startswith(f"{word.capitalize()}, ")


def test_a_no_does_not_answer_its_exception() -> None:
    """"no animals inside, except assistance dogs": a "no" to a cat, none to an assistance dog."""
    assert fact_answer_word(ANIMALS, "Can I bring my cat inside?") == "no"
    assert not says_none_asked("no animals inside, except assistance dogs",
                               "Are assistance dogs allowed?")
    assert fact_answer_word(ANIMALS, "Are assistance dogs allowed?") is None


def test_the_guard_keeps_a_yes_the_facts_no_does_not_answer() -> None:
    """The model's "Yes" to a question about the repairs' days is right: the guard leaves it;
    a "Yes" to whether a booking is needed is turned into the fact, with its "No"."""
    thursday = "Can I get a puncture fixed on Thursday?"
    assert contradicted("Yes, you can drop by on Thursday.", thursday, [REPAIRS]) is None
    booking = "Do I have to book a puncture repair?"
    turned = contradicted("Yes, you need to book ahead.", booking, [REPAIRS])
    assert turned is not None and turned.startswith("No, ")


def test_the_rules_say_the_days_not_the_booking(workshop: KnowledgeIndex) -> None:
    """Routed through the real index: a question about a day is answered by the days, not by
    the fact's "no booking needed"."""
    plan = plan_turn(workshop, "Can I get a puncture fixed on a Sunday?")
    assert plan.reply is not None and plan.reply.startswith("No, ")
    assert "booking" not in plan.reply
