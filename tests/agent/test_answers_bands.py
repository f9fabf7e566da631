"""Bands of an age or a count, names in one clause of several, the "it" of "How much is it
to ...?", durations in working days and places "in front of": each read in general
English (agent/answers/bands.py, reading.py, routing.py), on a file of its own (a small
zoo's, written for these tests) through the real index and sentence encoder."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agent.answers.bands import asked_number, band_for, bands_of
from agent.answers.index import KnowledgeIndex
from agent.answers.pronouns import refers_back
from agent.answers.reading import spoken_answer
from agent.answers.routing import plan_turn
from agent.answers.shape import states_value

ZOO = """<!-- Facts for the help kiosk of a small zoo, for tests. -->
Zoo name: Larchmont Zoo.
Admission: adults 24 dollars, kids 3 to 12 pay 12 dollars, kids under 3 get in free, visitors 65 and over pay 15 dollars.
Cards: we accept Visa, Mastercard and Discover; no, we do not accept American Express.
Parking: no, the zoo has no lot of its own; the Elm Street garage two blocks north charges 4 dollars an hour.
Bicycles: bike racks stand in front of the main gate.
Photos: prints of your visit are ready within 2 working days.
Members: members get in free all year.
Feeding: the sea lions are fed at 11 a.m. and 3 p.m. at the north pool.
"""

PRICES = "adults 24 dollars, kids 3 to 12 pay 12 dollars, kids under 3 get in free, visitors 65 and over pay 15 dollars"


@pytest.fixture(scope="module")
def zoo(index_of_file: Callable[[str, str], KnowledgeIndex]) -> KnowledgeIndex:
    return index_of_file(ZOO, "zoo")


def test_a_list_of_bands_is_read() -> None:
    bands = bands_of(PRICES)
    assert [(b.low, b.high) for b in bands] == [(3, 12), (float("-inf"), 2), (65, float("inf"))]
    # one band alone is a condition, not a list; a price's or a clock's range is no band
    assert bands_of("free delivery for customers over 65") == []
    assert bands_of("open 10 to 5 p.m., shows 11 to 4 p.m.") == []
    assert bands_of("gifts under 20 dollars, gifts over 50 dollars") == []


@pytest.mark.parametrize(("message", "number"), [
    ("My niece is seven, what does she pay?", 7),
    ("Is it free for a two year old?", 2),
    ("I'm 70, is there a lower price?", 70),
    ("How much is a ticket?", None),
    ("We are 2 adults and 3 kids, how much?", None),  # two numbers: no one band
    ("Is it 5 dollars for kids?", None),  # a price is not an age
])
def test_the_visitors_number(message: str, number: int | None) -> None:
    assert asked_number(message) == number


@pytest.mark.parametrize(("message", "item"), [
    ("My niece is seven, what does she pay?", "kids 3 to 12 pay 12 dollars"),
    ("Is it free for a two year old?", "kids under 3 get in free"),
    ("I'm 70, is there a lower price?", "visitors 65 and over pay 15 dollars"),
    ("My son is 40, what does he pay?", None),  # no band holds 40 (adults name none)
])
def test_the_band_a_number_is_in(message: str, item: str | None) -> None:
    assert band_for(PRICES, message) == item


def test_the_band_is_said_and_a_yes_no_is_answered_by_it(zoo: KnowledgeIndex) -> None:
    said = plan_turn(zoo, "My niece is seven, how much would her ticket be?").reply
    assert said == "Kids 3 to 12 pay 12 dollars."
    said = plan_turn(zoo, "Do I need to pay for my two year old?").reply
    assert said == "No, kids under 3 get in free."


def test_a_name_another_clause_holds_answers_the_yes_no() -> None:
    fact = ("Cards: we accept Visa, Mastercard and Discover; no, we do not accept "
            "American Express.")
    assert spoken_answer(fact, "Do you take Discover?") == (
        "Yes, we accept Visa, Mastercard and Discover.")
    assert spoken_answer(fact, "Do you accept American Express?").startswith("No, we do not")
    hours = "Opening hours: Monday to Saturday 9 a.m. to 8 p.m.; no, closed on Sunday."
    assert spoken_answer(hours, "Are you open on Tuesday?").startswith("Yes, ")


def test_an_it_that_stands_for_the_verb_after_it() -> None:
    assert not refers_back("How much is it to park nearby?")
    assert not refers_back("How long does it take to get the prints?")
    assert not refers_back("Does it cost anything to join?")
    assert refers_back("How much is it?")
    assert refers_back("Is it open late?")


def test_how_much_is_it_to_answered_from_the_fact_of_that_act(zoo: KnowledgeIndex) -> None:
    plan = plan_turn(zoo, "How much is it to park around here?")
    assert plan.reply == "The Elm Street garage two blocks north charges 4 dollars an hour."
    # the act asked about is not the fact's (entry is free for members, becoming one is
    # not priced): the fact's value is no answer; the LLM reads the fact with the question
    plan = plan_turn(zoo, "How much does it cost to become a member?")
    assert plan.reply is None and plan.note is not None and "Members:" in plan.note


def test_durations_in_working_days_and_places_in_front_of(zoo: KnowledgeIndex) -> None:
    assert states_value("ready within 2 working days", "duration")
    assert states_value("bike racks stand in front of the main gate", "place")
    assert plan_turn(zoo, "Where do I put my bike?").reply == (
        "Bike racks stand in front of the main gate.")


def test_a_reason_given_for_asking_names_nothing_asked(zoo: KnowledgeIndex) -> None:
    from agent.answers.index import unheld_words

    # "stroller" and "ferris" are no word of the zoo's file; the first is only the reason
    assert unheld_words(zoo, "Are there bike racks so that my stroller fits too?") == []
    assert "ferris" in unheld_words(zoo, "Do you have a ferris wheel?")


@pytest.mark.parametrize(("word", "stemmed"), [
    ("sandwiches", "sandwich"), ("boxes", "box"), ("dishes", "dish"), ("classes", "class"),
    ("rooms", "room"), ("batteries", "battery"), ("parking", "park")])
def test_plurals_in_es_meet_their_singular(word: str, stemmed: str) -> None:
    from agent.answers.index import stem

    assert stem(word) == stemmed


def test_is_there_is_answered_yes_by_a_fact_that_says_it_is() -> None:
    assert spoken_answer("Bicycles: bike racks stand in front of the main gate.",
                         "Are there bike racks?") == "Yes, bike racks stand in front of the main gate."
    # a fact that says there is none, or takes the other side, gets no yes
    assert spoken_answer("Lockers: no lockers.", "Are there lockers?").startswith("No, ")
    assert not spoken_answer("Fees: every tour is free.", "Is there a fee for tours?").startswith("Yes")


def test_a_yes_no_after_a_situation_is_said_from_its_fact(zoo: KnowledgeIndex) -> None:
    # the situation before the question ("If I ...,") is not what is asked about
    plan = plan_turn(zoo, "If I leave my bike for the day, are there bike racks to lock it to?")
    assert plan.reply is not None and plan.reply.startswith("Yes, ")
