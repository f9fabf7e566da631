"""A yes/no question's own answer opens with its yes or no wherever it sits in a message
(agent/answers/shape.py `yes_no_tail`, agent/answers/routing.py `with_yes_no_tail`,
agent/answers/reading.py): a yes/no part after a wh-part ("What time do you open on
Saturday, and is the parking free?") or joined to it by a pronoun ("Where can I park, and
is it free?"), in the message's order; and a yes or no settled by the clause of the verb
asked ("Do you sell them?" and "sold at the till"), not by a "no" about another act in
the same fact ("no, they do not expire"). On a bookshop's file written for these tests,
through the real index, sentence encoder and the system's WordNet."""

from __future__ import annotations

import pytest

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.thesaurus import SYSTEM_WORDNET, Thesaurus
from agent.sentence_embedding import SentenceEncoder

pytestmark = pytest.mark.skipif(
    not (SYSTEM_WORDNET / "index.noun").is_file(),
    reason=f"no WordNet in {SYSTEM_WORDNET}: apt-get install wordnet-base")

BOOKS = """Shop name: Quayside Books.
Opening hours: Monday to Saturday 8 a.m. to 7 p.m.; Sunday closed.
Parking: free parking for 3 hours in the lot beside the shop.
Book tokens: sold at the till, from 5 to 100 dollars; no, they do not expire.
Returns: unread books can be returned within 30 days with the receipt.
Reading room: upstairs, with twelve armchairs.
"""


@pytest.fixture(scope="module")
def books(encoder: SentenceEncoder) -> KnowledgeIndex:
    """The file's index as the product builds it: words, meaning and WordNet."""
    return KnowledgeIndex(BOOKS.strip().splitlines(), encoder=encoder,
                          thesaurus=Thesaurus.system())


def test_a_yes_no_part_after_a_wh_part_opens_with_its_yes_or_no(books: KnowledgeIndex) -> None:
    # a part of its own after the wh-part: its answer, yes first, after the hours
    reply = plan_turn(books, "What time do you open on Saturday, and is the parking free?").reply
    assert reply == ("Monday to Saturday, the opening hours are 8 a.m. to 7 p.m. "
                     "Yes, there is free parking for 3 hours in the lot beside the shop."), reply


def test_a_yes_no_question_leaning_on_a_wh_question_gets_a_short_yes_or_no(
        books: KnowledgeIndex) -> None:
    # "is it free?" leans on the place asked about: a short yes after the place
    reply = plan_turn(books, "Where can I leave my car, and is it free?").reply or ""
    assert reply.startswith("There is free parking") and reply.endswith(" Yes, it is free."), reply
    # what "do I need anything?" asks is not in the returns fact's words ("cannot be
    # returned" is no answer to it): no yes or no of its own
    reply = plan_turn(books, "How long do I have to return a book, and do I need anything?").reply
    assert reply is None or not any(w in reply for w in ("No, you", "Yes, you")), reply


def test_the_clause_of_the_verb_asked_settles_the_yes_or_no(books: KnowledgeIndex) -> None:
    assert plan_turn(books, "Do you sell book tokens?").reply == (
        "Yes, book tokens are sold at the till, from 5 to 100 dollars.")
    # the other clause still answers what it is about
    assert (plan_turn(books, "Do book tokens expire?").reply or "").startswith("No,")
