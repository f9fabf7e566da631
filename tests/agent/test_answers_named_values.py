"""Which value a question asks for, in general English: "how far is ..." asks where a place
is; a place on the internet ("on our website", "online") is a place a fact states; a number
named by what it is for ("your fax number") is declined where the file holds no such thing,
not answered with the file's other number (agent/answers/shape.py `_ASKS_VALUE`,
`_STATES_VALUE`; agent/answers/rules.py `named_value_unheld_rule`). On a climbing gym's
file written for these tests, through the real index and sentence encoder."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.shape import asks_for_value, states_value

GYM = """<!-- Facts for the help kiosk of a climbing gym, for tests. -->
Gym name: Granite Wall Climbing Gym.
Address: 7 Mill Lane, Ashford, opposite the old train station.
Phone: 555-0121.
Competition scores: scores are posted on our website the day after each competition.
Chalk: chalk is sold at the front desk for 3 dollars a bag.
Shoe hire: climbing shoes can be hired at the front desk for 4 dollars.
"""


@pytest.fixture(scope="module")
def gym(index_of_file: Callable[[str, str], KnowledgeIndex]) -> KnowledgeIndex:
    return index_of_file(GYM, "gym")


def test_how_far_asks_where() -> None:
    assert asks_for_value("How far is the gym from the station?") == "place"
    assert asks_for_value("How far ahead do I need to book?") is None  # not a place
    assert asks_for_value("How far away do you deliver?") is None


def test_a_place_on_the_internet_is_a_place() -> None:
    assert states_value("scores are posted on our website the day after", "place")
    assert states_value("results appear on the members portal", "place")
    assert states_value("book online or by phone", "place")
    assert not states_value("scores are posted the day after", "place")


def test_how_far_is_answered_with_where_it_is(gym: KnowledgeIndex) -> None:
    plan = plan_turn(gym, "I'm at the train station, how far is the gym from there?")
    assert plan.reply == "The address is 7 Mill Lane, Ashford, opposite the old train station."


def test_where_is_answered_with_a_place_online(gym: KnowledgeIndex) -> None:
    """Not the front desk of another fact: the scores' own place is the website."""
    plan = plan_turn(gym, "Where can I see the competition scores?")
    assert plan.reply == "Scores are posted on our website the day after each competition."


@pytest.mark.parametrize("message", [
    "What's your fax number?",
    "What's the fax number? My old gym needs to send my membership over.",
])
def test_a_number_for_a_thing_the_file_lacks_is_declined(gym: KnowledgeIndex,
                                                          message: str) -> None:
    assert plan_turn(gym, message).reply == gym.lines.dont_know


def test_a_number_for_a_thing_the_file_holds_is_said(gym: KnowledgeIndex) -> None:
    assert plan_turn(gym, "What's your phone number?").reply == "The phone is 555-0121."


CAR_PARK = "Parking: free parking for 3 hours in the car park behind the gym."
PAID_PARK = ("Parking: free parking for 3 hours in the car park behind the gym; after that "
             "it costs 2 dollars an hour.")


@pytest.mark.parametrize("message", [
    "How much do I pay if I stay in the car park longer than the free time?",
    "What does parking cost after the free three hours?",
])
def test_a_price_past_what_is_free_is_not_the_free_part(
        index_of_file: Callable[[str, str], KnowledgeIndex], message: str) -> None:
    """A fact that only says what is free does not say the price past it: declined, not
    answered with "free parking for 3 hours"; a fact that states that price still answers
    (which of its clauses is said is the value rule's, as before)."""
    free_only = index_of_file(GYM + CAR_PARK + "\n", "gym_free_parking")
    assert plan_turn(free_only, message).reply == free_only.lines.dont_know
    paid = index_of_file(GYM + PAID_PARK + "\n", "gym_paid_parking")
    plan = plan_turn(paid, message)
    assert plan.facts == (PAID_PARK,)
    assert plan.reply != paid.lines.dont_know


YARD = "Parking: free parking spaces in the yard behind the gym."


def test_an_it_after_the_visitors_own_thing_stands_for_it(
        index_of_file: Callable[[str, str], KnowledgeIndex]) -> None:
    """"Where can I leave my van, and is it free?": the "it" is the van's place, named in the
    same sentence, not a thing of a question before: the value rule answers, where the
    message's best fact is the one the place is asked of; the "is it free?" after it gets
    its own short yes (docs/ANSWERS.md, section 19)."""
    yard = index_of_file(GYM + YARD + "\n", "gym_yard")
    plan = plan_turn(yard, "Where can I leave my van, and is it free?")
    assert plan.reply == "Free parking spaces are in the yard behind the gym. Yes, it is free."
    assert plan.facts == (YARD,)
