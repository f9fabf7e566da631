"""The place's own name and where it is, a time a date or a length of time answers, a short
form made of a phrase's initials and informal spellings: each read in general English
(agent/answers/shape.py, index.py, routing.py), on a file of its own (a bike hire's, written
for these tests) through the real index and sentence encoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.answers.index import KnowledgeIndex, terms, unheld_words
from agent.answers.routing import plan_turn
from agent.answers.shape import own_name_asked, where_it_is_asked
from agent.sentence_embedding import SentenceEncoder

BIKES = """<!-- Facts for the help kiosk of a bike hire, for tests. -->
Shop name: Riverbend Cycle Hire.
Address: 7 Mill Lane, Ashford, beside the canal bridge.
Opening hours: every day 8 a.m. to 7 p.m.
Helmets: free helmets with every bike; ask at the counter.
Summer trail: the lakeside trail is open until September 30.
Booking: arrive at least 20 minutes before your booked time.
Payment: we accept cash, debit cards and personal transport vouchers.
Drive-through: no, there is no drive-through return lane.
Staff: ask any mechanic in a green shirt.
"""


@pytest.fixture(scope="module")
def bikes(tmp_path_factory: pytest.TempPathFactory, encoder: SentenceEncoder) -> KnowledgeIndex:
    path: Path = tmp_path_factory.mktemp("bikes") / "knowledge.md"
    path.write_text(BIKES, encoding="utf-8")
    return KnowledgeIndex.from_file(path, encoder=encoder)


@pytest.mark.parametrize(("message", "called"), [
    ("What is this shop called?", "shop"),
    ("Sorry, what's the name of this place again?", "place"),
    ("What is this called?", ""),
    ("What's the name of your manager?", None),  # a person's name
    ("What's the name of the trail by the lake?", None),
])
def test_asking_what_a_place_is_called(message: str, called: str | None) -> None:
    assert own_name_asked(message) == called


@pytest.mark.parametrize(("message", "thing"), [
    ("Where are you located?", ""),
    ("Where are you guys based exactly?", ""),
    ("Where is this shop?", "shop"),
    ("Where is this helmet from?", None),
    ("Where are you open late?", None),
    # what is near the place, or how to find it, is where it is
    ("What's nearby?", ""),
    ("I'm coming by bus, how do I find you?", ""),
    ("What is near the canal bridge?", None),
    ("Is there a cafe close by?", None),
])
def test_asking_where_the_place_is(message: str, thing: str | None) -> None:
    assert where_it_is_asked(message) == thing


def test_the_places_name_and_whereabouts_are_said_from_their_facts(bikes: KnowledgeIndex) -> None:
    named = plan_turn(bikes, "What is this place called?")
    assert named.reply == "This is Riverbend Cycle Hire."
    assert named.facts == ("Shop name: Riverbend Cycle Hire.",)
    where = plan_turn(bikes, "Where are you located exactly?")
    assert where.reply is not None and "7 Mill Lane" in where.reply
    assert not where.reply.startswith("Address")
    near = plan_turn(bikes, "I'm new in town, what's close by?")
    assert near.reply == where.reply
    # a thing or a person inside the place is not the place
    assert plan_turn(bikes, "Where is this helmet?").reply != where.reply
    assert plan_turn(bikes, "What's the name of your mechanic?").reply != named.reply


def test_until_when_is_told_by_a_date_and_how_early_by_a_length_of_time(
        bikes: KnowledgeIndex) -> None:
    trail = plan_turn(bikes, "Until when can I ride the lakeside trail?")
    assert trail.reply is not None and "September 30" in trail.reply
    early = plan_turn(bikes, "How early should I turn up for my booked time?")
    assert early.reply is not None and "20 minutes" in early.reply
    # a clock time is still asked for by "what time", and a date does not give one
    assert "September" not in (plan_turn(bikes, "What time does the trail close?").reply or "")


def test_a_short_form_of_a_phrases_initials_means_the_phrase(bikes: KnowledgeIndex) -> None:
    assert "voucher" in bikes.query_terms("Can I pay with a PTV?")
    assert unheld_words(bikes, "Can I pay with a PTV?") == []
    plan = plan_turn(bikes, "Can I pay with a PTV?")
    assert plan.reply is not None and "transport vouchers" in plan.reply
    # a common word is never read as initials: one term a word
    assert len(bikes.query_terms("Can I pay by card?")) == len(terms("Can I pay by card?"))


def test_an_informal_spelling_is_read_as_the_word(bikes: KnowledgeIndex) -> None:
    assert terms("a drive thru") == terms("a drive through")
    plan = plan_turn(bikes, "Is there a drive thru where I can drop the bike?")
    assert plan.reply is not None and plan.reply.startswith("No")
