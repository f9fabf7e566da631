"""Unknowns declined, not answered from a near fact (agent/answers/routing.py): a name asked
for that no fact found states ("What's the name of the mechanic working today?" of a file
that says a mechanic is on duty, and no name), and a yes/no question no fact settles whose
best fact holds under half of what it asks about. On a bike shop's file written for these
tests, through the real index and sentence encoder."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn

BIKES = """Shop name: Hilltop Cycle Works.
Opening hours: Monday to Saturday 9 a.m. to 6 p.m.; Sunday closed.
Mechanic on duty: a mechanic is in the workshop whenever the shop is open.
Shop manager: our manager is Priya Shah.
Film nights: we show a cycling film every Friday at 7 p.m. in the workshop.
Test track: children under 5 get a free go; everyone else pays 3 dollars a go.
Parking: free parking for 2 hours in the yard behind the workshop.
"""


@pytest.fixture(scope="module")
def bikes(index_of_file: Callable[[str, str], KnowledgeIndex]) -> KnowledgeIndex:
    return index_of_file(BIKES, "bikes_unknowns")


@pytest.mark.parametrize("message", [
    "What's the name of the mechanic working today?",
    "What's the film called that you're showing on Friday?",
])
def test_a_name_no_fact_states_is_declined(bikes: KnowledgeIndex, message: str) -> None:
    assert plan_turn(bikes, message).reply == bikes.lines.dont_know


def test_a_name_a_fact_states_is_not_declined(bikes: KnowledgeIndex) -> None:
    plan = plan_turn(bikes, "What is the manager's name?")
    assert plan.reply != bikes.lines.dont_know
    assert plan.facts[0].startswith("Shop manager:")


def test_a_yes_no_its_fact_neither_settles_nor_holds_is_declined(bikes: KnowledgeIndex) -> None:
    """No fact says a yes or no to it, and the parking fact holds neither "charge" nor
    "electric": declined, not left to the LLM (which said there is a charging station)."""
    message = "Is there somewhere to charge my electric car in the yard?"
    assert plan_turn(bikes, message).reply == bikes.lines.dont_know
    assert plan_turn(bikes, "Is parking free in the yard?").reply != bikes.lines.dont_know
