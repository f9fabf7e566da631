"""A visitor's own word for what they do with a thing the file holds ("stash my coat") is
not a thing the file lacks (agent/answers/index.py `unheld_words`): the question is answered
from the thing's fact, while a thing the file never names is still declined. On a file of
its own (a concert hall's, written for these tests), through the real index and encoder."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agent.answers.index import KnowledgeIndex, unheld_words
from agent.answers.lines import DEFAULT_LINES
from agent.answers.routing import plan_turn

HALL = """<!-- Facts for the help kiosk of a concert hall, for tests. -->
Hall name: Lindenfield Concert Hall.
Coat check: free coat check by the main door; no umbrellas inside the auditorium.
Tickets: sold at the box office from 10 a.m.
"""


@pytest.fixture(scope="module")
def hall(index_of_file: Callable[[str, str], KnowledgeIndex]) -> KnowledgeIndex:
    return index_of_file(HALL, "hall")


def test_a_word_for_what_is_done_with_a_held_thing_is_not_unheld(hall: KnowledgeIndex) -> None:
    assert unheld_words(hall, "Is there somewhere I can stash my coat?") == []
    # the thing itself unheld: both words count
    assert "skateboard" in unheld_words(hall, "Can I stash my skateboard somewhere?")


def test_the_things_fact_answers_and_an_unheld_thing_is_declined(hall: KnowledgeIndex) -> None:
    coat = plan_turn(hall, "Is there somewhere I can stash my coat?")
    assert coat.reply is not None and "coat check" in coat.reply
    skateboard = plan_turn(hall, "Can I stash my skateboard somewhere?")
    assert skateboard.reply == DEFAULT_LINES.dont_know
