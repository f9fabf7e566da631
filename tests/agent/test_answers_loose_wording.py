"""A visitor's loose wording that still names a fact, read in general English
(agent/answers/index.py, routing.py): a word standing for an unnamed thing ("thingy"), a
topic named by a word that means it where the fact is about nothing else, an act said
with a particle ("get in"), and a question as near a fact as a paraphrase though one of
its rarer words is not the file's. Each on a file of its own (a library's, written for
these tests) through the real index and sentence encoder; each beside a question the
file cannot answer, which is still declined."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.answers.index import KnowledgeIndex, phrasal_verbs, unheld_words
from agent.answers.pronouns import refers_back
from agent.answers.routing import plan_turn
from agent.sentence_embedding import SentenceEncoder

LIBRARY = """<!-- Facts for the help kiosk of a library, for tests. -->
Library name: Elmstead Public Library.
Address: 12 Orchard Row, Elmstead, opposite the town hall.
Opening hours: Monday to Saturday 9 a.m. to 8 p.m.; closed on Sundays.
Author talks: tickets cost 4 dollars for adults; children under 12 get in free.
Photocopier: a free photocopier stands next to the front desk.
Pets: no pets, except service animals.
Library cards: library cards are free for residents; bring proof of address.
Late books: no, we do not charge fines for late books.
Study rooms: study rooms can be booked at the front desk for up to 3 hours.
Printing: printing costs 10 cents a page.
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, encoder: SentenceEncoder) -> KnowledgeIndex:
    path: Path = tmp_path_factory.mktemp("library") / "knowledge.md"
    path.write_text(LIBRARY, encoding="utf-8")
    return KnowledgeIndex.from_file(path, encoder=encoder)


def test_a_word_for_an_unnamed_thing_names_nothing_the_file_lacks(library: KnowledgeIndex) -> None:
    message = "Does it cost anything to use the photocopier thingy?"
    assert unheld_words(library, message) == []
    plan = plan_turn(library, message)
    assert plan.reply is not None and "free photocopier" in plan.reply
    assert plan.facts == ("Photocopier: a free photocopier stands next to the front desk.",)


def test_a_topic_named_by_a_word_meaning_it_and_nothing_else_is_answered(
        library: KnowledgeIndex) -> None:
    # "dog" means the label "Pets"; the sentences are far apart (cosine under 0.4), but the
    # fact scores over twice any other: it was declined as unrelated
    plan = plan_turn(library, "Is my dog allowed inside?")
    assert plan.reply is not None
    assert plan.reply.startswith("No") and "service animals" in plan.reply


@pytest.mark.parametrize(("sentence", "empty"), [
    ("How much is it for a grown-up to get in?", True),
    ("How much is it to park?", True),
    ("How much is it?", False),
    ("Is it for children?", False),
])
def test_an_it_that_stands_for_the_act_after_it(sentence: str, empty: bool) -> None:
    assert refers_back(sentence) is not empty


@pytest.mark.parametrize(("text", "acts"), [
    ("How much is it for a grown-up to get in?", {"get in"}),
    ("children under 12 get in free", {"get in"}),
    ("If we went out, can we come back later?", {"go out", "come back"}),
    ("What time do you open?", set()),
])
def test_acts_said_with_a_particle(text: str, acts: set[str]) -> None:
    assert phrasal_verbs(text) == acts


def test_an_amount_asked_with_the_facts_own_act_is_answered_from_it(library: KnowledgeIndex) -> None:
    # no word of "How much is it for a grown-up to get in?" is the fact's, but "get in" is;
    # its "it" stands for getting in (not a thing named before), so the fact says the price
    plan = plan_turn(library, "How much is it for a grown-up to get in?")
    assert plan.reply is not None and "4 dollars for adults" in plan.reply
    assert plan.facts and plan.facts[0].startswith("Author talks:")
    # an amount reached by meaning alone is still declined (meaning reaches a neighbour's price)
    assert plan_turn(library, "How much does a laptop cost?").reply == library.lines.dont_know


def test_one_unheld_word_in_a_question_as_near_as_a_paraphrase(library: KnowledgeIndex) -> None:
    message = "Do I have to pay a penalty if my books are overdue?"
    assert unheld_words(library, message) == ["overdue"]
    plan = plan_turn(library, message)
    assert plan.reply is not None
    assert plan.reply.startswith("No") and "fines for late books" in plan.reply


@pytest.mark.parametrize("message", [
    "Do you do laminating?",
    "Do you do gift wrapping?",
    "Can I rent a laptop?",
    "Do you have a toddler story time?",
])
def test_a_thing_the_file_never_names_is_still_declined(library: KnowledgeIndex, message: str) -> None:
    assert plan_turn(library, message).reply == library.lines.dont_know
