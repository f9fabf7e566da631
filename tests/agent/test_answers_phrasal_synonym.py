"""A visitor's verb-and-particle phrase that the file says in one word ("bring back" for
"returns"): WordNet's synonym of the phrase, near it in meaning, counts as the file's word
(agent/answers/index.py `_phrases_as_file_words`), so the phrase's common words alone
("back" of "at the back of the shop") do not lead to another fact. A toy shop's file
written for it, through the real index, sentence encoder and WordNet."""

from __future__ import annotations

import pytest

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.thesaurus import SYSTEM_WORDNET, Thesaurus
from agent.sentence_embedding import SentenceEncoder

pytestmark = pytest.mark.skipif(
    not (SYSTEM_WORDNET / "index.noun").is_file(),
    reason=f"no WordNet in {SYSTEM_WORDNET}: apt-get install wordnet-base")

TOY_SHOP = """Shop name: Spinning Top Toys.
Board games: on the shelves at the back of the shop, from 15 to 60 dollars.
Returns: no, opened puzzles cannot be returned; other toys within 30 days with the receipt.
Gift wrapping: free gift wrapping at the till.
"""


@pytest.fixture(scope="module")
def toy_shop(encoder: SentenceEncoder, system_thesaurus: Thesaurus) -> KnowledgeIndex:
    return KnowledgeIndex(TOY_SHOP.strip().splitlines(), encoder=encoder, thesaurus=system_thesaurus)


def test_wordnet_names_the_phrase_a_verb_and_particle_make(system_thesaurus: Thesaurus) -> None:
    assert system_thesaurus.phrasal_verb("brought", "back") == "bring back"
    assert system_thesaurus.phrasal_verb("bringing", "back") == "bring back"
    assert "return" in system_thesaurus.related("bring back")
    assert system_thesaurus.phrasal_verb("brought", "sideways") is None


def test_a_phrase_the_file_says_in_one_word_finds_that_fact(toy_shop: KnowledgeIndex) -> None:
    # before, "back" led to the board games "at the back of the shop"
    for question in ("Can I bring back a toy I don't need?",
                     "Can I bring it back if my son doesn't like it?"):
        assert "return" in toy_shop.query_terms(question)
        assert toy_shop.retrieve(question).facts[0].startswith("Returns:")
    said = plan_turn(toy_shop, "Can I bring back a puzzle I opened?").reply
    assert said is not None and said.startswith("No") and "puzzles" in said


def test_a_phrase_kept_where_no_near_synonym_or_a_noun_before_it(toy_shop: KnowledgeIndex) -> None:
    # "pop out" has WordNet senses ("start") far from what a visitor means by it
    assert toy_shop.query_terms("If I pop out for lunch, can I come back?")[:2] == ["pop", "out"]
    # "a lift up to": a noun, not a verb and its particle
    assert "lift" in toy_shop.query_terms("Is there a lift up to the games?")
